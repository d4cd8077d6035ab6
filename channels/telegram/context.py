"""What rendering one post needs to know besides the node at hand (pure: no I/O)."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from channels.telegram.limits import LINK_SCHEMES
from channels.telegram.runs import Tag


class ImageCounter:
    """Numbers the images of one post in document order (one counter per render: pure)."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> int:
        self.count += 1
        return self.count


@dataclass(frozen=True)
class RenderContext:
    base_url: str  # relative links resolve against the post URL
    language: str  # the post's language tag (Post.language)
    quote: tuple[Tag, ...] = ()  # (BLOCKQUOTE,) inside a quote; Telegram cannot nest them
    # Shared by every context of one render (quotes make new ones), so "Image N" counts the post.
    images: ImageCounter = field(default_factory=ImageCounter, compare=False, repr=False)


def allowed_url(url: str, base_url: str) -> str | None:
    """The absolute URL if it may stand in <a href> (LINK_SCHEMES), else None."""
    url = url.strip()
    if not url:
        return None
    try:
        absolute = urljoin(base_url, url)
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    return absolute if scheme in LINK_SCHEMES else None
