"""Images fetched from the post's URLs, made acceptable to WeChat: uploadimg takes JPG/PNG under
1 MB, covers (add_material type=image) are converted alike
(https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html)."""
from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from channels.base import PermanentError
from channels.wechat.client import _sha256

JPEG_QUALITIES = (90, 82, 74, 66, 58)  # tried in order before an image is made smaller
SHRINK_FACTOR = 0.8  # each side, per step, when no quality fits the byte limit
MAX_SHRINK_STEPS = 12
UPLOAD_FORMATS = frozenset({"JPEG", "PNG"})  # uploadimg takes jpg/png; covers converted alike


def upload_ready_image(data: bytes, byte_limit: int, name: str) -> tuple[bytes, str]:
    """(bytes, "JPEG"|"PNG") under `byte_limit`: JPEG and PNG that fit are kept as they are; other
    formats (WebP, GIF, BMP...) become PNG when they have transparency, else JPEG; then quality
    and size step down until the file fits."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format in UPLOAD_FORMATS and len(data) < byte_limit:
                return data, image.format
            image.seek(0)  # an animation keeps its first frame
            picture = ImageOps.exif_transpose(image)
            alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            picture = picture.convert("RGBA" if alpha else "RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise PermanentError(f"{name} is not an image that can be converted ({exc})") from None
    return _encode_within(picture, "PNG" if alpha else "JPEG", byte_limit, name)


def _encode_within(picture: Image.Image, image_format: str, byte_limit: int, name: str) -> tuple[bytes, str]:
    for _ in range(MAX_SHRINK_STEPS):
        options = [{"optimize": True}] if image_format == "PNG" else [
            {"quality": quality, "optimize": True} for quality in JPEG_QUALITIES]
        for option in options:
            buffer = io.BytesIO()
            picture.save(buffer, image_format, **option)
            if buffer.tell() < byte_limit:
                return buffer.getvalue(), image_format
        width, height = picture.size
        picture = picture.resize((max(1, int(width * SHRINK_FACTOR)), max(1, int(height * SHRINK_FACTOR))),
                                 Image.LANCZOS)
    raise PermanentError(f"{name} could not be made smaller than {byte_limit:,} bytes")


def _multipart(data: bytes, image_format: str) -> dict:
    extension, mime = ("png", "image/png") if image_format == "PNG" else ("jpg", "image/jpeg")
    return {"media": (f"{_sha256(data)[:16]}.{extension}", data, mime)}
