"""The post model: one Markdown file with front matter (YAML, TOML, JSON or Pelican headers: see
publisher.front_matter), validated, cleaned of its site's syntax (publisher.site_syntax), parsed once."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urljoin

from markdown_it.tree import SyntaxTreeNode

from publisher.config import Settings
from publisher.errors import PostError
from publisher.front_matter import (file_name_date, image_ref, kind, parse_date, parse_moment, person,
                                    scalar_text, split_front_matter, text_list, truthy)
from publisher.language import detect, is_cjk
from publisher.markdown import block_text, html_images, inline_text, parse_body, walk
from publisher.post_channels import channels_field
from publisher.site_syntax import clean

LANGUAGE_KEYS = ("lang", "language", "locale")
DATE_KEYS = ("date", "publishDate", "pubDate", "published")
UPDATED_KEYS = ("lastmod", "updated", "modified", "last_modified_at")
DESCRIPTION_KEYS = ("description", "excerpt", "subtitle", "summary")
COVER_KEYS = ("coverImage", "cover_image", "cover", "image", "featured_image", "featuredImage", "feature_image",
              "thumbnail", "og_image", "titleImage", "banner", "header", "images")
KNOWN_KEYS = frozenset({
    "title", "slug", "category", "categories", "tags", "keywords", "summary", "url", "permalink",
    "author", "authors", "channels", "draft", "status", "publish_at", *LANGUAGE_KEYS, *DATE_KEYS, *UPDATED_KEYS,
    *DESCRIPTION_KEYS, *COVER_KEYS,
})
_KNOWN_FOLDED = frozenset(k.casefold() for k in KNOWN_KEYS)


@dataclass(frozen=True)
class Post:
    source: str  # the file name, for messages
    title: str
    slug: str
    url: str  # canonical URL of the full post
    body: str  # Markdown body: the site's own syntax cleaned out, the leading title heading removed
    tree: SyntaxTreeNode = field(repr=False, compare=False)  # the one parse of `body`
    date: dt.datetime | None = None  # timezone-aware
    category: str | None = None
    tags: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()  # points, plain text
    cover_image: str | None = None  # an http(s) URL (relative paths resolved against `url`)
    author: str | None = None
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown front matter, kept
    # A language tag ("zh", "en-GB", "ja"): front matter lang/language/locale, else detected from
    # the text once (publisher.language); every channel's words and splitting follow it.
    language: str = "en"
    description: str | None = None  # description/excerpt/subtitle/text summary, plain text on one line
    draft: bool = False  # draft: true, published: false, Status: draft (the press refuses drafts)
    publish_at: dt.datetime | None = None  # when `publisher schedule` presses it (aware); alone it schedules nothing
    updated: dt.datetime | None = None  # lastmod/updated/modified, when readable
    categories: tuple[str, ...] = ()  # category and categories, in order (`category` is the first)
    first_image: str | None = None  # the body's first image (http(s)), for a post without a cover
    # Source-site syntax found in the body (Liquid/Hugo tags, MDX components), one line each,
    # "line 12: ...": it is left out of `body`; the channels' checks list these.
    source_notes: tuple[str, ...] = ()

    @property
    def cjk(self) -> bool:
        return is_cjk(self.language)

    def channel_options(self, name: str) -> Mapping[str, Any]:
        return self.channels.get(name, {})

    def channel_enabled(self, name: str) -> bool:
        return self.channel_options(name).get("enabled", True) is not False

    @property
    def sections(self) -> list[tuple[str, list[SyntaxTreeNode]]]:
        """(heading text, blocks) for each top-level section; the intro has heading ''."""
        out: list[tuple[str, list[SyntaxTreeNode]]] = [("", [])]
        for block in self.tree.children:
            if block.type == "heading" and block.tag in ("h1", "h2"):
                out.append((inline_text(block.children[0]), []))
            else:
                out[-1][1].append(block)
        return [s for s in out if s[0] or s[1]]


def load_post(path: str | Path, settings: Settings) -> Post:
    """Read, validate and parse a post file. Raises PostError naming file, field and expectation."""
    path = Path(path)
    name = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PostError(name, "file not found") from None
    except OSError as exc:
        raise PostError(name, f"cannot read: {exc.strerror}") from None
    if path.is_dir():
        raise PostError(name, "is a folder; expected a Markdown file")
    if size > settings.max_post_bytes:
        raise PostError(name, f"is {size:,} bytes; the limit is {settings.max_post_bytes:,} "
                        "(PUBLISHER_MAX_POST_BYTES)")
    try:  # at most one byte past the limit: a device or a growing file reports a size it does not keep
        with path.open("rb") as handle:
            raw = handle.read(settings.max_post_bytes + 1)
    except OSError as exc:
        raise PostError(name, f"cannot read: {exc.strerror}") from None
    if len(raw) > settings.max_post_bytes:
        raise PostError(name, f"is larger than {settings.max_post_bytes:,} bytes (PUBLISHER_MAX_POST_BYTES)")
    if _looks_binary(raw):
        raise PostError(name, "is a binary file; expected UTF-8 Markdown text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PostError(f"{name}, line {line}", "is not UTF-8 text; save the file as UTF-8") from None
    # A page bundle (Hugo, Docusaurus: my-post/index.md) is named by its folder.
    bundle = path.stem.lower() in ("index", "_index", "readme")
    stem = path.resolve().parent.name if bundle else path.stem
    return parse_post(text, name=name, settings=settings, default_slug=stem or "post", bundle=bundle)


def _looks_binary(raw: bytes) -> bool:
    head = raw[:8192]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return b"\x00" in head or (len(head) > 0 and controls / len(head) > 0.1)


def parse_post(text: str, *, name: str, settings: Settings, default_slug: str = "post", bundle: bool = False) -> Post:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    matter = split_front_matter(text, name)
    meta = _Meta(matter.meta)
    cleaned = clean(matter.body, first_line=matter.body_line, meta=matter.meta)
    body = cleaned.text.strip("\n")

    title = _text_field(meta, "title", name)
    lines = body.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and re.match(r"^#\s+\S", lines[first]):
        heading = re.sub(r"\s+#+\s*$", "", lines[first][1:].strip())
        parsed = parse_body(lines[first]).children
        plain = inline_text(parsed[0].children[0]) if parsed and parsed[0].children else heading
        if title is None or _same_text(heading, title) or _same_text(plain, title):
            body = "\n".join(lines[first + 1:]).strip("\n")  # the title is shown by every channel itself
            title = title or plain
    if not title or not title.strip():
        raise PostError(name, "no title: add `title:` to the front matter or start the body with `# Title`")
    if not body.strip():
        raise PostError(name, "the body is empty; write the post below the front matter")

    slug, path = _slug_field(meta, name, default_slug)
    url = _url_field(meta, name, settings, slug, path)
    if bundle and url == f"{settings.site_url.rstrip('/')}/{slug}":
        url += "/"  # a page bundle's files sit beside it: ![chart](chart.png) is inside the post's folder
    tree = parse_body(body)
    while len(tree.children) > 1 and tree.children[-1].type in ("heading", "hr"):
        tree.children = tree.children[:-1]  # a heading with nothing under it (or a closing rule) ends no message well
    category = _category(meta)
    summary_value = meta.get("summary")
    return Post(
        source=name,
        title=" ".join(title.split()),
        slug=slug,
        url=url,
        body=body,
        tree=tree,
        date=_date_field(meta, name, settings) or file_name_date(default_slug, settings.tz),
        category=category[0] if category else None,
        tags=text_list(meta.get("tags")) or text_list(meta.get("keywords")),
        summary=_summary_field(summary_value, name),
        cover_image=_cover(meta, url),
        author=person(meta.get("author")) or person(meta.get("authors")),
        channels=channels_field(meta.get("channels"), name),
        extra=MappingProxyType({k: v for k, v in meta.items() if k.casefold() not in _KNOWN_FOLDED}),
        language=_language_field(meta, name) or detect(title + "\n" + body),
        description=_description(meta),
        draft=_draft(meta),
        publish_at=_publish_at(meta, name, settings),
        updated=_updated(meta, settings),
        categories=category,
        first_image=_first_image(tree, url),
        source_notes=cleaned.notes,
    )


class _Meta(dict):
    """The front matter; a key written in another case (`Title:`) is found too."""

    def get(self, key, default=None):
        if key in self:
            return self[key]
        folded = key.casefold()
        return next((v for k, v in self.items() if k.casefold() == folded), default)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _text_field(meta: dict, key: str, name: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PostError(f"{name}, field '{key}'", f"expected text, got {kind(value)}")
    value = str(value).strip()
    return value or None


def _language_field(meta: dict, name: str) -> str | None:
    for key in LANGUAGE_KEYS:
        value = _text_field(meta, key, name)
        if value:
            if not re.fullmatch(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*", value):
                raise PostError(f"{name}, field '{key}'", f"expected a language tag like en, zh-CN or ja, got {value!r}")
            return value.replace("_", "-")
    return None


MAX_SLUG_CHARS = 120  # a file and folder name on every file system, and the store's slug column


def _slug_field(meta: dict, name: str, default_slug: str) -> tuple[str, str | None]:
    """(slug, site path): `/blog/2026/issue-7/` is slug issue-7 at that path."""
    raw = _text_field(meta, "slug", name)
    if raw is None:
        return slugify(default_slug)[:MAX_SLUG_CHARS].rstrip("-") or "post", None
    segments = [s for s in raw.split("/") if s.strip()]
    slug = _slug_text(re.sub(r"\.(?:html?|md)$", "", segments[-1])) if segments else ""
    if not slug:
        raise PostError(f"{name}, field 'slug'", f"expected letters, digits and dashes, got {raw!r}")
    if len(slug) > MAX_SLUG_CHARS:
        raise PostError(f"{name}, field 'slug'", f"is {len(slug)} characters; at most {MAX_SLUG_CHARS} (it names "
                        "the post's URL, its outbox folder and its publication)")
    if "/" not in raw and raw.strip() != slug and re.fullmatch(r"[A-Za-z0-9._~-]+", raw.strip()):
        return slug, "/" + raw.strip()  # `slug: moon-v2.3` is the site's address as written
    return slug, ("/" + raw.lstrip("/")).replace(" ", "-") if "/" in raw else None


def _url_field(meta: dict, name: str, settings: Settings, slug: str, path: str | None) -> str:
    site = settings.site_url.rstrip("/")
    for key in ("url", "permalink"):
        value = _text_field(meta, key, name)
        if not value or (key == "permalink" and re.search(r"(?:^|/):[a-z_]+", value)):
            continue  # a Jekyll permalink pattern (/:year/:title/) names no one post
        if value.startswith("//"):
            value = "https:" + value
        elif value.startswith("/") or key == "permalink" and re.fullmatch(r"[\w.~%-]+(?:/[\w.~%-]*)*", value):
            value = site + "/" + value.lstrip("/")  # Hexo's `permalink: my-post` is a path too
        if not re.match(r"https?://[^\s/]+", value):
            raise PostError(f"{name}, field '{key}'", f"expected an http(s) URL or a path like /blog/post/, "
                            f"got {value!r}")
        return value
    return site + path if path else f"{site}/{slug}"


def _date_field(meta: dict, name: str, settings: Settings) -> dt.datetime | None:
    for key in DATE_KEYS:
        value = meta.get(key)
        if value is None or value == "" or (key == "published" and truthy(value) is not None):
            continue  # Jekyll's `published: false` says draft, not when
        try:
            date = parse_date(value)
        except (ValueError, OverflowError):
            shown = repr(value) if isinstance(value, str) else kind(value)
            raise PostError(f"{name}, field '{key}'", "expected a date like 2026-01-24, 2026-01-24 08:00 or "
                            f"2026-01-24T08:00:00+08:00, got {shown}") from None
        return date if date.tzinfo else date.replace(tzinfo=settings.tz)
    return None


def _updated(meta: dict, settings: Settings) -> dt.datetime | None:
    for key in UPDATED_KEYS:
        try:
            date = parse_date(meta.get(key))
        except (ValueError, OverflowError):
            continue  # not essential: a bad one is passed over
        return date if date.tzinfo else date.replace(tzinfo=settings.tz)
    return None


def _category(meta: dict) -> tuple[str, ...]:
    single = meta.get("category")
    first = (scalar_text(single),) if scalar_text(single) else text_list(single)
    return tuple(dict.fromkeys(first + text_list(meta.get("categories"))))


def _description(meta: dict) -> str | None:
    for key in DESCRIPTION_KEYS:
        text = scalar_text(meta.get(key))
        if not text:
            continue
        tree = parse_body(text)
        if key == "summary" and tree.children and all(b.type in ("bullet_list", "ordered_list") for b in tree.children):
            continue  # a bullet list of points is the summary alone
        plain = " ".join(" ".join(block_text(b) for b in tree.children).split())
        if plain:
            return plain
    return None


def _publish_at(meta: dict, name: str, settings: Settings) -> dt.datetime | None:
    value = meta.get("publish_at")
    if value is None or value == "":
        return None
    try:
        return parse_moment(value, settings.tz)
    except (ValueError, OverflowError):
        shown = repr(value) if isinstance(value, str) else kind(value)
        raise PostError(f"{name}, field 'publish_at'", "expected a date and time like 2026-01-24T08:00:00+08:00 "
                        f"(without a zone: PUBLISHER_TIMEZONE, {settings.timezone}), got {shown}") from None


def _draft(meta: dict) -> bool:
    status = scalar_text(meta.get("status"))
    return (truthy(meta.get("draft")) is True or truthy(meta.get("published")) is False
            or (status or "").lower() == "draft")


def _resolve(ref: str | None, base: str) -> str | None:
    """An image reference as an absolute http(s) URL, resolved against the post's URL; else None."""
    if not ref:
        return None
    ref = re.sub(r"^\{(?:static|attach|filename)\}", "", ref.strip())  # Pelican's link prefixes
    if not ref or (not re.match(r"[a-z][a-z0-9+.-]*:|/", ref, re.I) and not re.search(r"[./]", ref)):
        return None  # "none", "false": not a path
    try:
        url = urljoin(base, ref.replace(" ", "%20"))
    except ValueError:  # "http://[broken"
        return None
    return url if re.match(r"https?://[^\s/]+", url, re.I) else None


def _cover(meta: dict, base: str) -> str | None:
    for key in COVER_KEYS:
        url = _resolve(image_ref(meta.get(key)), base)
        if url:
            return url
    return None


def _first_image(tree: SyntaxTreeNode, base: str) -> str | None:
    for node in walk(tree):
        if node.type == "image":
            sources = [str(node.attrs.get("src") or "")]
        elif node.type in ("html_block", "html_inline"):
            sources = html_images(node.content)
        else:
            continue
        for src in sources:
            url = _resolve(src, base)
            if url:
                return url
    return None


def _summary_field(value: object, name: str) -> tuple[str, ...]:
    """A summary is plain text (one point) or a Markdown bullet list (one point per item)."""
    if value is None:
        return ()
    if isinstance(value, list):
        items = value
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        items = None
        text = str(value).strip()
    else:
        raise PostError(f"{name}, field 'summary'", f"expected text or a bullet list, got {kind(value)}")
    if items is not None:
        if not all(isinstance(i, (str, int, float)) and not isinstance(i, bool) for i in items):
            raise PostError(f"{name}, field 'summary'", "expected a list of text points")
        points = [str(i) for i in items]
    else:
        tree = parse_body(text)
        lists = [b for b in tree.children if b.type in ("bullet_list", "ordered_list")]
        if lists and len(lists) == len(tree.children):
            points = [inline_text(item.children[0].children[0]) for lst in lists for item in lst.children
                      if item.children and item.children[0].children]
        else:
            points = [" ".join(inline_text(b.children[0]).split()) for b in tree.children
                      if b.children and b.children[0].type == "inline"]
            points = [" ".join(points)] if points else []
    return tuple(" ".join(p.split()) for p in points if p.strip())


def _slug_text(text: str, lower: bool = False) -> str:
    """Letters of any script, digits and dashes ("" when nothing is left)."""
    text = unicodedata.normalize("NFKC", text).strip()
    text = re.sub(r"[^\w\s-]", "", text.lower() if lower else text)
    return re.sub(r"[\s_-]+", "-", text).strip("-")


def slugify(text: str) -> str:
    """A URL slug from a file name: keeps letters of any script, digits and dashes."""
    return _slug_text(text, lower=True) or "post"
