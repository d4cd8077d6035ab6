"""Loopback image server: deterministic generated pictures for posts, tests and the demo.

GET /img/<name>.<png|jpg|jpeg|webp|gif>
    ?w=&h=   size in pixels (default 64x48, 1..4096)
    ?big=1   a noise picture over 1 MB (WeChat uploadimg refuses >=1 MB, PLATFORMS.md 3.2), for
             testing conversion and size limits
GET /fetch?url=<any image URL>
    the image proxy (PUBLISHER_IMAGE_PROXY): a deterministic stand-in picture for any URL, in the
    format its extension names (png when none), so the demo fetches no image from the internet
Same name, format and size give the same bytes. Names starting with "missing" answer 404 (a broken
image link), as does an unknown extension. Fault rules (common.py) apply to /img/ routes;
"expire_token" means nothing here and is ignored.
"""
from __future__ import annotations

import hashlib
import io
import math
import random
import time
from functools import lru_cache

from flask import Flask, Response, g, jsonify, request
from PIL import Image, ImageDraw

from publisher.sandbox.common import (
    FaultRule,
    SandboxState,
    add_control_routes,
    describe_request,
    drop_connection,
    quiet_app,
)

DEFAULT_WIDTH = 64
DEFAULT_HEIGHT = 48
MAX_SIDE = 4096
BIG_MIN_BYTES = 1024 * 1024 + 1  # just over WeChat's uploadimg "<1 MB" (PLATFORMS.md 3.2)
# Encoded bytes per pixel of RGB noise (measured with Pillow 13), so one encode usually suffices.
NOISE_BYTES_PER_PIXEL = {"PNG": 3.0, "JPEG": 0.85, "WEBP": 0.8, "GIF": 1.3}
MISSING_PREFIX = "missing"
IMAGE_FORMATS = {  # extension -> (Pillow format, Content-Type)
    "png": ("PNG", "image/png"),
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
    "gif": ("GIF", "image/gif"),
}
SAVE_OPTIONS = {"PNG": {}, "JPEG": {"quality": 90}, "WEBP": {"quality": 90, "method": 4}, "GIF": {}}


def make_app() -> Flask:
    state = SandboxState()
    app = quiet_app(__name__)
    app.extensions["sandbox"] = state
    add_control_routes(app, state)
    _install_fault_hooks(app, state)

    @app.get("/img/<filename>")
    def image(filename: str):
        name, _, extension = filename.rpartition(".")
        if extension.lower() not in IMAGE_FORMATS or not name or name.startswith(MISSING_PREFIX):
            return jsonify({"error": f"no image {filename!r}"}), 404
        try:
            width = _side(request.args.get("w"), DEFAULT_WIDTH)
            height = _side(request.args.get("h"), DEFAULT_HEIGHT)
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        big = request.args.get("big", "") in ("1", "true", "yes")
        data = render_image(name, extension.lower(), width, height, big=big)
        return Response(data, content_type=IMAGE_FORMATS[extension.lower()][1])

    @app.get("/fetch")
    def fetch():
        url = request.args.get("url", "")
        if not url.startswith(("http://", "https://")):
            return jsonify({"error": "expected ?url=http(s)://..."}), 400
        path = url.split("?", 1)[0].rsplit("/", 1)[-1]
        extension = path.rpartition(".")[2].lower() if "." in path else "png"
        if extension not in IMAGE_FORMATS:
            extension = "png"
        name = hashlib.sha256(url.encode()).hexdigest()[:16]
        data = render_image(name, extension, 320, 180)
        return Response(data, content_type=IMAGE_FORMATS[extension][1])

    return app


def _side(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SIDE:
        raise ValueError(f"w and h must be whole pixels 1..{MAX_SIDE}, not {raw!r}")
    return int(raw)


@lru_cache(maxsize=32)
def render_image(name: str, extension: str, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                 big: bool = False) -> bytes:
    """The bytes /img/<name>.<extension> serves; pure, so tests can compare against it."""
    pillow_format = IMAGE_FORMATS[extension][0]
    if big:
        return _big_image(name, pillow_format)
    return _encode(_picture(name, width, height), pillow_format)


def _picture(name: str, width: int, height: int) -> Image.Image:
    """A flat background, a centred block and stripes, coloured from the name's hash."""
    seed = hashlib.sha256(name.encode("utf-8")).digest()
    background, block, stripe = tuple(seed[0:3]), tuple(seed[3:6]), tuple(255 - c for c in seed[0:3])
    picture = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((width // 4, height // 4, max(width // 4, 3 * width // 4 - 1),
                    max(height // 4, 3 * height // 4 - 1)), fill=block)
    for offset in range(-height, width, max(4, width // 8)):
        draw.line((offset, height, offset + height, 0), fill=stripe, width=1)
    return picture


def _big_image(name: str, pillow_format: str) -> bytes:
    """Seeded noise (incompressible) grown until the encoded file is over BIG_MIN_BYTES."""
    side = math.ceil(math.sqrt(1.1 * BIG_MIN_BYTES / NOISE_BYTES_PER_PIXEL[pillow_format]))
    while True:
        rng = random.Random(f"{name}:{side}")
        noise = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        data = _encode(noise, pillow_format)
        if len(data) >= BIG_MIN_BYTES:
            return data
        side = int(side * 1.1)


def _encode(picture: Image.Image, pillow_format: str) -> bytes:
    if pillow_format == "GIF":
        picture = picture.convert("P")
    buffer = io.BytesIO()
    picture.save(buffer, pillow_format, **SAVE_OPTIONS[pillow_format])
    return buffer.getvalue()


def _install_fault_hooks(app: Flask, state: SandboxState) -> None:
    @app.before_request
    def _before_image():
        if request.path.startswith("/_sandbox/"):
            return None
        state.record(describe_request())
        rule = state.next_fault(request.path)
        if rule is None or rule.kind == "expire_token":
            return None
        if rule.after:
            g.after_fault = rule
            return None
        if rule.kind == "timeout":
            time.sleep(rule.delay)
            drop_connection()
        if rule.kind == "drop":
            drop_connection()
        return _fault_answer(rule)

    @app.after_request
    def _after_image(response: Response):
        rule = g.pop("after_fault", None)
        if rule is None:
            return response
        if rule.kind == "timeout":
            time.sleep(rule.delay)
            return response
        if rule.kind == "drop":
            drop_connection()
        return _fault_answer(rule)


def _fault_answer(rule: FaultRule) -> Response:
    answer = jsonify({"error": f"sandbox fault {rule.kind}"})
    answer.status_code = int(rule.kind)
    if rule.kind == "429":
        answer.headers["Retry-After"] = str(max(0, math.ceil(rule.retry_after)))
    return answer
