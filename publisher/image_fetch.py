"""The one image fetcher: every channel and every caller that needs a post image's bytes (WeChat
uploads, X media, image sizes) comes through here, because the URLs are the post's, and a post is
hostile input.

- Addresses: a host that resolves to a loopback, private, link-local (cloud metadata lives at
  169.254.169.254), multicast, reserved or otherwise non-global address is refused, before the
  request and again for the address actually connected to (a name that changes its answer between
  the two is caught too), on every redirect (at most MAX_REDIRECTS). PUBLISHER_ALLOW_PRIVATE_FETCH=1
  lifts this rule for setups whose images really are local (the sandbox, tests on loopback).
- Bounds: one deadline for the whole image (PUBLISHER_IMAGE_FETCH_SECONDS, default 30), a size cap
  (PUBLISHER_IMAGE_MAX_BYTES, 20 MB), and a pixel cap read from the image header before anything
  is decoded (PUBLISHER_IMAGE_MAX_PIXELS, 40 Mpx): a 27 KB PNG can claim 225 Mpx.
- Every refusal is a PermanentError naming the image; a server that is merely slow or busy
  (timeouts, 429, 5xx) is a TransientError.

Through PUBLISHER_IMAGE_PROXY when set ({proxy}?url=<image url>): an image cache in production, the
image stand-in in the sandbox. The proxy is the operator's own; the image's host is still checked.
"""
from __future__ import annotations

import io
import ipaddress
import socket
import time
import warnings
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import requests
from PIL import Image, UnidentifiedImageError

from channels.errors import PermanentError, TransientError
from publisher.config import Settings

CONNECT_TIMEOUT = 5.0
MAX_REDIRECTS = 5
READ_CHUNK = 64 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchedImage:
    url: str
    data: bytes
    format: str  # Pillow's name: PNG, JPEG, WEBP, GIF, BMP...
    size: tuple[int, int] = (0, 0)  # width, height in pixels


class _Refused(Exception):
    """Why an image is not fetched (a PermanentError once the URL is added)."""


def fetch_image(url: str, settings: Settings, session: requests.Session | None = None) -> FetchedImage:
    """Download one image within the bounds above."""
    deadline = time.monotonic() + settings.image_fetch_seconds
    try:
        data, final_url = _download(url, settings, session or requests.Session(), deadline)
        kind, size = _inspect(data, settings.image_max_pixels)
    except _Refused as refused:
        raise PermanentError(f"image {_short(url)}: {refused}") from None
    return FetchedImage(final_url, data, kind, size)


def _download(url: str, settings: Settings, http: requests.Session, deadline: float) -> tuple[bytes, str]:
    for _ in range(MAX_REDIRECTS + 1):
        _check_url(url, settings)
        target = f"{settings.image_proxy}?url={quote(url, safe='')}" if settings.image_proxy else url
        try:
            with http.get(target, timeout=(CONNECT_TIMEOUT, _left(deadline)), stream=True,
                          allow_redirects=False) as response:
                if not settings.image_proxy and not settings.allow_private_fetch:
                    _check_peer(response)
                if response.status_code in REDIRECT_CODES and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                _check_status(url, response.status_code)
                return _read_body(response, settings.image_max_bytes, deadline), url
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise _Refused("not a valid URL") from None
        except (requests.RequestException, OSError) as exc:
            if time.monotonic() >= deadline:
                raise TransientError(f"image {_short(url)}: not downloaded within "
                                     f"{settings.image_fetch_seconds:g} s") from None
            raise TransientError(f"image {_short(url)}: could not download ({type(exc).__name__})") from None
    raise _Refused(f"more than {MAX_REDIRECTS} redirects")


def _check_url(url: str, settings: Settings) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Refused("not an http(s) URL")
    if settings.allow_private_fetch:
        return
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None or host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        if literal is None or _internal(literal):
            raise _Refused(f"{host} is an internal address; images are fetched from public hosts only "
                           "(PUBLISHER_ALLOW_PRIVATE_FETCH=1 allows local ones)")
        return
    if settings.image_proxy:
        return  # the proxy resolves the name; we cannot see its answer
    try:
        answers = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                     type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TransientError(f"image {_short(url)}: the name {host} does not resolve now") from None
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if _internal(address):
            raise _Refused(f"{host} resolves to the internal address {address}; images are fetched from public "
                           "hosts only (PUBLISHER_ALLOW_PRIVATE_FETCH=1 allows local ones)")


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    if mapped is not None:
        address = mapped
    return not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified


def _check_peer(response: requests.Response) -> None:
    """The address actually connected to must be public too (a name may answer differently twice)."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
    except (OSError, ValueError):
        return
    if _internal(peer):
        raise _Refused(f"the host answered from the internal address {peer}")


def _check_status(url: str, status: int) -> None:
    if status == 429 or status >= 500:
        raise TransientError(f"image {_short(url)}: HTTP {status} from the image host")
    if status in REDIRECT_CODES:
        raise _Refused(f"HTTP {status} without a Location")
    if status != 200:
        raise _Refused(f"HTTP {status}; check the URL in the post")


def _read_body(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _Refused(f"larger than {max_bytes // (1024 * 1024)} MB")
    body = bytearray()
    raw = response.raw
    raw.decode_content = True
    while True:
        if time.monotonic() >= deadline:
            raise TransientError("image host too slow: the download did not finish in time")
        _set_read_timeout(raw, _left(deadline))
        chunk = raw.read1(READ_CHUNK) if hasattr(raw, "read1") else raw.read(READ_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            raise _Refused(f"larger than {max_bytes // (1024 * 1024)} MB")


def _set_read_timeout(raw, seconds: float) -> None:
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(0.05, seconds))
        except OSError:
            pass


def _inspect(data: bytes, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """The format and size from the header only; refuses more than `max_pixels` before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as picture:
                width, height = picture.size
                kind = picture.format or "UNKNOWN"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _Refused(f"claims more than {max_pixels / 1e6:.0f} million pixels; refused before decoding") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise _Refused("not an image the publisher can read") from None
    if width * height > max_pixels:
        raise _Refused(f"{width}×{height} pixels is more than {max_pixels / 1e6:.0f} million; refused before "
                       "decoding (PUBLISHER_IMAGE_MAX_PIXELS)")
    return kind, (width, height)


def _left(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


def _short(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[:limit - 1] + "…"
