"""The pixel width every <img> of the email carries, and where the sizes come from.

Why: Outlook for Windows (Word's renderer) ignores max-width and draws an image without a `width`
attribute at its natural size, so a 1600-pixel photo breaks the 600-pixel layout; with one, it
scales the image to it (https://www.caniemail.com/features/css-max-width/). Every image gets
`width` = its real width, capped by the room it has (600 for the cover, 544 in the text column,
less in lists, quotes and table cells), and `height` in proportion when the real size is known.

Render is pure, so the sizes come, in this order, from
1. the post: `width`/`height` attributes of an HTML <img>, then a `w`/`width` (and `h`/`height`)
   query hint that image CDNs resize to (`photo.jpg?w=800`);
2. the size cache: a JSON object {"<absolute image URL>": [width, height], ...} in
   `image-sizes.json` beside the outbox folder (`$PUBLISHER_OUTBOX_DIR/../image-sizes.json`, by
   default in the state folder). Render only reads it. `learn_image_sizes(urls, settings)`, called
   by the press once per publish (deliver side: it downloads through publisher.image_fetch, with its
   address rules and bounds), adds the sizes it does not hold yet. Writing the file by hand works too.
An image found in neither is drawn at the full room it has and named by the channel's checks.

The cache holds at most MAX_ENTRIES sizes, the most recently learned kept.
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qsl, urljoin, urlsplit

from publisher.config import Settings, state_dir
from publisher.markdown import html_images, walk
from publisher.post import Post

log = logging.getLogger(__name__)

CACHE_NAME = "image-sizes.json"
MAX_ENTRIES = 5000
MAX_PIXELS_SIDE = 20_000  # a hint or cached side above this is a typo, not a size
LEARN_THREADS = 4
_WIDTH_KEYS = ("w", "width")
_HEIGHT_KEYS = ("h", "height")


def cache_path(settings: Settings) -> Path:
    outbox = Path(settings.outbox_dir) if settings.outbox_dir else state_dir() / "outbox"
    return outbox.expanduser().parent / CACHE_NAME


def read_cache(path: Path) -> dict[str, tuple[int, int]]:
    """The cached sizes; a missing or damaged file is an empty cache (render never fails on it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {url: (int(size[0]), int(size[1])) for url, size in data.items()
            if isinstance(url, str) and isinstance(size, list) and len(size) >= 2
            and all(isinstance(v, int) and 0 < v <= MAX_PIXELS_SIDE for v in size[:2])}


def _side(value: str | None) -> int | None:
    value = (value or "").strip().removesuffix("px")
    return int(value) if value.isdigit() and 0 < int(value) <= MAX_PIXELS_SIDE else None


def url_hint(url: str) -> tuple[int, int | None] | None:
    """(width, height or None) from a resize hint in the query: `?w=800`, `?width=800&height=600`."""
    query = urlsplit(url).query
    if not query:
        return None
    params = {k.lower(): v for k, v in parse_qsl(query)}
    width = next((w for k in _WIDTH_KEYS if (w := _side(params.get(k)))), None)
    if width is None:
        return None
    return width, next((h for k in _HEIGHT_KEYS if (h := _side(params.get(k)))), None)


@dataclass
class ImageSizes:
    """The sizes render may use (the cache, read once) and the images it found no size for."""

    known: dict[str, tuple[int, int]] = field(default_factory=dict)
    unsized: dict[str, None] = field(default_factory=dict)  # in order of appearance

    @classmethod
    def load(cls, settings: Settings) -> "ImageSizes":
        return cls(read_cache(cache_path(settings)))

    def attributes(self, url: str, room: int, width: str | None = None, height: str | None = None) -> str:
        """` width="W" height="H"` for an image shown in `room` pixels; `width`/`height` are the
        post's own attributes, if any. Records the image when nothing tells its size."""
        declared = _side(width)
        size: tuple[int, int | None] | None
        if declared:
            size = (declared, _side(height))
        else:
            size = url_hint(url) or self.known.get(url)
        if size is None:
            if url.startswith(("http://", "https://")):  # other sources are refused by the checks anyway
                self.unsized[url] = None
            return f' width="{room}"'
        shown = min(size[0], room)
        if size[1] is None:
            return f' width="{shown}"'
        return f' width="{shown}" height="{max(1, round(size[1] * shown / size[0]))}"'


# --- which images a post has (shared by render and the press) -------------------------------------
def _absolute(url: str, base: str) -> str:
    return url if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url) else urljoin(base, url)


def post_image_urls(post: Post) -> list[str]:
    """Every image the email shows (cover, Markdown images, HTML <img>), absolute, once each: what
    the press passes to learn_image_sizes."""
    urls = [post.cover_image] if post.cover_image else []
    for node in walk(post.tree):
        if node.type == "image":
            urls.append(_absolute(str(node.attrs.get("src", "")), post.url))
        elif node.type in ("html_block", "html_inline"):
            urls += [_absolute(src, post.url) for src in html_images(node.content)]
    return list(dict.fromkeys(u for u in urls if u))


# --- deliver side: learning sizes -----------------------------------------------------------------
@dataclass(frozen=True)
class LearnedSizes:
    sizes: dict[str, tuple[int, int]]  # every URL asked about whose size is now known
    failed: dict[str, str]  # URL → why it could not be measured (the checks keep naming it)


def learn_image_sizes(urls: Iterable[str], settings: Settings, fetch=None) -> LearnedSizes:
    """Measure the http(s) images the cache does not hold yet and add them to it; called by the
    press once per publish, before rendering. Downloads go through publisher.image_fetch (internal
    addresses refused, size and pixel caps, one deadline each), LEARN_THREADS at a time. Never
    raises for an image: the ones that fail are returned (and stay unsized for the checks)."""
    if fetch is None:
        from publisher.image_fetch import (
            fetch_image as fetch,  # deliver side only: requests, Pillow
        )

    from channels.errors import DeliveryError

    path = cache_path(settings)
    known = read_cache(path)
    wanted = [u for u in dict.fromkeys(urls) if u.startswith(("http://", "https://")) and u not in known]

    def measure(url: str) -> tuple[str, tuple[int, int] | None, str]:
        try:
            width, height = fetch(url, settings).size
        except DeliveryError as exc:
            return url, None, str(exc)
        if not (0 < width <= MAX_PIXELS_SIDE and 0 < height <= MAX_PIXELS_SIDE):
            return url, None, f"unusable size {width}×{height}"
        return url, (width, height), ""

    failed: dict[str, str] = {}
    learned: dict[str, tuple[int, int]] = {}
    if wanted:
        with ThreadPoolExecutor(max_workers=min(LEARN_THREADS, len(wanted))) as pool:
            for url, size, why in pool.map(measure, wanted):
                if size is None:
                    failed[url] = why
                    log.warning("image size not learned: %s", why)
                else:
                    learned[url] = size
        if learned:
            _write_cache(path, learned)
    sizes = {u: known.get(u) or learned[u] for u in dict.fromkeys(urls) if u in known or u in learned}
    return LearnedSizes(sizes, failed)


def _write_cache(path: Path, learned: dict[str, tuple[int, int]]) -> None:
    """Merge into the file as it is now (another press may have written since), newest last,
    replaced atomically so a reader never sees half a file."""
    merged = read_cache(path)
    for url, size in learned.items():
        merged.pop(url, None)
        merged[url] = size
    entries = list(merged.items())[-MAX_ENTRIES:]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".image-sizes-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({url: list(size) for url, size in entries}, out, indent=0)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
