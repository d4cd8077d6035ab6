"""Fetching a post's images (for platforms that need the bytes: WeChat uploads, X media upload).

Through PUBLISHER_IMAGE_PROXY when set ({proxy}?url=<image url>): an image cache in production,
the image stand-in in the sandbox, so a demo fetches nothing from the internet.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import quote

import requests
from PIL import Image, UnidentifiedImageError

from channels.base import PermanentError, TransientError
from publisher.config import Settings

FETCH_TIMEOUT = (5, 30)  # connect, read seconds
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # larger than any platform accepts; refuse before reading more


@dataclass(frozen=True)
class FetchedImage:
    url: str
    data: bytes
    format: str  # Pillow's name: PNG, JPEG, WEBP, GIF, BMP...


def fetch_image(url: str, settings: Settings, session: requests.Session | None = None) -> FetchedImage:
    """Download one image. Transient network trouble -> TransientError; a missing or non-image
    answer -> PermanentError naming the URL."""
    if not url.startswith(("http://", "https://")):
        raise PermanentError(f"image {url}: not an http(s) URL")
    target = f"{settings.image_proxy}?url={quote(url, safe='')}" if settings.image_proxy else url
    http = session or requests
    try:
        with http.get(target, timeout=FETCH_TIMEOUT, stream=True) as response:
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientError(f"image {url}: HTTP {response.status_code} from the image host")
            if response.status_code != 200:
                raise PermanentError(f"image {url}: HTTP {response.status_code}; check the URL in the post")
            data = b""
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:
                    raise PermanentError(f"image {url}: larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
        raise PermanentError(f"image {url}: not a valid URL") from None
    except requests.RequestException as exc:
        raise TransientError(f"image {url}: could not download ({type(exc).__name__})") from None
    try:
        with Image.open(io.BytesIO(data)) as picture:
            kind = picture.format or "UNKNOWN"
    except (UnidentifiedImageError, OSError):
        raise PermanentError(f"image {url}: not an image the publisher can read") from None
    return FetchedImage(url, data, kind)
