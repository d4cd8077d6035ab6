"""Images: /cgi-bin/media/uploadimg (body images) and /cgi-bin/material/add_material (permanent
image and thumb materials), sniffed by content and held to the platform's formats and sizes:
https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html"""
from __future__ import annotations

import hashlib
import io
from typing import Any

from flask import Flask, request
from PIL import Image, UnidentifiedImageError

from publisher.sandbox.wechat_api.answers import _json_answer, _ok
from publisher.sandbox.wechat_api.limits import (
    BODY_IMAGE_FORMATS,
    BODY_IMAGE_MAX_BYTES,
    MATERIAL_IMAGE_FORMATS,
    MATERIAL_IMAGE_MAX_BYTES,
    THUMB_FORMATS,
    THUMB_MAX_BYTES,
)
from publisher.sandbox.wechat_api.state import WeChatError, WeChatState


def _add_media_routes(app: Flask, state: WeChatState) -> None:
    @app.post("/cgi-bin/media/uploadimg")
    def uploadimg():
        data, filename = _uploaded_media()
        info = _sniff_image(data, BODY_IMAGE_FORMATS, BODY_IMAGE_MAX_BYTES)
        url = f"http://mmbiz.qpic.cn/sandbox/{info['sha256']}/0"
        with state.lock:
            state.media_bytes[info["sha256"]] = data
            state.uploads[url] = {"url": url, "filename": filename, **info}
        return _ok(url=url)

    @app.post("/cgi-bin/material/add_material")
    def add_material():
        kind = request.args.get("type", "")
        if kind not in ("image", "thumb"):
            raise WeChatError(40004, f"type {kind!r}; the sandbox keeps image and thumb")
        data, filename = _uploaded_media()
        if kind == "thumb":
            info = _sniff_image(data, THUMB_FORMATS, THUMB_MAX_BYTES + 1)
        else:
            info = _sniff_image(data, MATERIAL_IMAGE_FORMATS, MATERIAL_IMAGE_MAX_BYTES + 1)
        serial = state.next_serial()
        media_id = f"sandbox-{kind}-{serial:06d}-{info['sha256'][:20]}"
        url = f"http://mmbiz.qpic.cn/sandbox/{info['sha256']}/0?wx_fmt={info['format'].lower()}"
        with state.lock:
            state.media_bytes[info["sha256"]] = data
            state.materials[media_id] = {"media_id": media_id, "type": kind, "url": url,
                                         "filename": filename, **info}
        return _json_answer({"media_id": media_id, "url": url})


def _uploaded_media() -> tuple[bytes, str]:
    upload = request.files.get("media")
    if upload is None:
        raise WeChatError(41005)
    data = upload.read()
    if not data:
        raise WeChatError(41005)
    return data, upload.filename or ""


def _sniff_image(data: bytes, formats: frozenset[str], size_limit: int) -> dict[str, Any]:
    """Format by content (not by file name), then size: `size_limit` bytes and over are refused."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format or "", image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise WeChatError(40005, "not an image") from None
    if image_format not in formats:
        raise WeChatError(40005, f"{image_format.lower()} not accepted here")
    if len(data) >= size_limit:
        raise WeChatError(40009, f"{len(data)} bytes")
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "format": image_format,
            "width": width, "height": height}
