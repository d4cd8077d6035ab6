"""The post model: one Markdown file with YAML front matter, validated, parsed once."""
from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml
from markdown_it.tree import SyntaxTreeNode

from publisher.config import Settings
from publisher.errors import PostError
from publisher.language import detect, is_cjk
from publisher.markdown import inline_text, parse_body

KNOWN_KEYS = frozenset({
    "title", "date", "slug", "category", "tags", "summary", "coverImage", "cover_image",
    "url", "author", "channels", "lang", "language", "locale",
})
LANGUAGE_KEYS = ("lang", "language", "locale")


@dataclass(frozen=True)
class Post:
    source: str  # the file name, for messages
    title: str
    slug: str
    url: str  # canonical URL of the full post
    body: str  # Markdown body as written (the leading title heading removed)
    tree: SyntaxTreeNode = field(repr=False, compare=False)  # the one parse of `body`
    date: dt.datetime | None = None  # timezone-aware
    category: str | None = None
    tags: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()  # points, plain text
    cover_image: str | None = None
    author: str | None = None
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown front matter, kept
    # A language tag ("zh", "en-GB", "ja"): front matter lang/language/locale, else detected from
    # the text once (publisher.language); every channel's words and splitting follow it.
    language: str = "en"

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
    raw = path.read_bytes()
    if _looks_binary(raw):
        raise PostError(name, "is a binary file; expected UTF-8 Markdown text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PostError(f"{name}, line {line}", "is not UTF-8 text; save the file as UTF-8") from None
    return parse_post(text, name=name, settings=settings, default_slug=path.stem)


def _looks_binary(raw: bytes) -> bool:
    head = raw[:8192]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return b"\x00" in head or (len(head) > 0 and controls / len(head) > 0.1)


def parse_post(text: str, *, name: str, settings: Settings, default_slug: str = "post") -> Post:
    try:
        meta, body = _split_front_matter(text)
    except _BoundedYAML as exc:
        raise PostError(f"{name}, front matter", f"refused: {exc.args[0]}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, front matter line {mark.line + 2}" if mark else f"{name}, front matter"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PostError(where, f"broken YAML ({problem})") from None
    except _NotAMapping as exc:
        raise PostError(f"{name}, front matter", f"expected key: value pairs, got {exc.args[0]}") from None
    except _Unterminated:
        raise PostError(f"{name}, line 1", "the front matter opened with --- is never closed; end it with a line "
                        "holding only ---") from None
    except RecursionError:
        raise PostError(f"{name}, front matter", f"nested deeper than {MAX_YAML_DEPTH} levels") from None

    body = body.strip("\n")
    title = _text_field(meta, "title", name)
    lines = body.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    heading = None
    if first is not None and re.match(r"^#\s+\S", lines[first]):
        heading = re.sub(r"\s+#+\s*$", "", lines[first][1:].strip())
    if heading is not None and (title is None or _same_text(heading, title)):
        body = "\n".join(lines[first + 1:]).strip("\n")  # the title is shown by every channel itself
        title = title or inline_text(parse_body(heading).children[0].children[0])
    if not title:
        raise PostError(name, "no title: add `title:` to the front matter or start the body with `# Title`")
    if not body.strip():
        raise PostError(name, "the body is empty; write the post below the front matter")

    slug = _text_field(meta, "slug", name) or slugify(default_slug)
    if not re.fullmatch(r"[\w-]+", slug):
        raise PostError(f"{name}, field 'slug'", f"expected letters, digits and dashes, got {slug!r}")
    url = _text_field(meta, "url", name) or f"{settings.site_url.rstrip('/')}/{slug}"
    if not url.startswith(("http://", "https://")):
        raise PostError(f"{name}, field 'url'", f"expected an http(s) URL, got {url!r}")
    cover = _text_field(meta, "coverImage", name) or _text_field(meta, "cover_image", name)
    if cover and not cover.startswith(("http://", "https://")):
        raise PostError(f"{name}, field 'coverImage'", f"expected an http(s) image URL, got {cover!r}")

    return Post(
        source=name,
        title=" ".join(title.split()),
        slug=slug,
        url=url,
        body=body,
        tree=parse_body(body),
        date=_date_field(meta.get("date"), name, settings),
        category=_text_field(meta, "category", name),
        tags=_tags_field(meta.get("tags"), name),
        summary=_summary_field(meta.get("summary"), name),
        cover_image=cover,
        author=_text_field(meta, "author", name),
        channels=_channels_field(meta.get("channels"), name),
        extra=MappingProxyType({k: v for k, v in meta.items() if k not in KNOWN_KEYS}),
        language=_language_field(meta, name) or detect(title + "\n" + body),
    )


class _NotAMapping(Exception):
    pass


MAX_YAML_ALIASES = 50  # *references in one front matter: a handful is normal, thousands is an attack
MAX_YAML_DEPTH = 32  # nesting of lists/mappings
MAX_FRONT_MATTER_BYTES = 64 * 1024
_OPENING = re.compile(r"\A---[ \t]*\r?\n")
_CLOSING = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)
_GLUED_CLOSING = re.compile(r"^---(?=[^-\s])", re.M)  # "---### Top News": the closing line glued to text


class _BoundedYAML(yaml.YAMLError):
    """Front matter refused for its shape (aliases, depth), before it can cost memory or time."""


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text (a bad date is reported by field, not by YAML) and
    refuses alias bombs ("billion laughs") and deep nesting while composing, before anything is built."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _BoundedYAML(f"more than {MAX_YAML_ALIASES} aliases (*name); write the values out")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _BoundedYAML(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_FrontMatterLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _split_front_matter(text: str) -> tuple[dict, str]:
    opening = _OPENING.match(text)
    if not opening:
        return {}, text
    rest = text[opening.end():]
    closing = _CLOSING.search(rest)
    glued = _GLUED_CLOSING.search(rest)
    if closing is None and glued is None:
        raise _Unterminated()
    if closing is not None and (glued is None or closing.start() < glued.start()):
        raw_meta, body = rest[:closing.start()], rest[closing.end():]
    else:  # read leniently: what follows the dashes is the body's first line
        raw_meta, body = rest[:glued.start()], rest[glued.end():]
    if len(raw_meta.encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise _BoundedYAML(f"the front matter is over {MAX_FRONT_MATTER_BYTES // 1024} KB")
    loaded = yaml.load(raw_meta, Loader=_FrontMatterLoader) if raw_meta.strip() else {}
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise _NotAMapping(_kind(loaded))
    return {str(k): v for k, v in loaded.items()}, body


class _Unterminated(Exception):
    pass


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _text_field(meta: dict, key: str, name: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PostError(f"{name}, field '{key}'", f"expected text, got {_kind(value)}")
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


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def _date_field(value: object, name: str, settings: Settings) -> dt.datetime | None:
    if value is None or value == "":
        return None
    where = f"{name}, field 'date'"
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        text = re.sub(r"^(\d{4})-(\d{1,2})-(\d{1,2})", lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", text)
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise PostError(where, f"expected a date like 2026-01-24 or 2026-01-24T08:00:00+08:00, got {value!r}") from None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=settings.tz)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=settings.tz)
    raise PostError(where, f"expected a date like 2026-01-24, got {_kind(value)}")


def _tags_field(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [t for t in re.split(r"[,，]", value)]
    if not isinstance(value, list) or not all(isinstance(t, (str, int, float)) and not isinstance(t, bool) for t in value):
        raise PostError(f"{name}, field 'tags'", "expected a list of words, like [AI, news]")
    return tuple(str(t).strip() for t in value if str(t).strip())


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
        raise PostError(f"{name}, field 'summary'", f"expected text or a bullet list, got {_kind(value)}")
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


def _channels_field(value: object, name: str) -> Mapping[str, Mapping[str, Any]]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise PostError(f"{name}, field 'channels'", "expected a mapping like {x: {enabled: false}}")
    out = {}
    for channel, opts in value.items():
        where = f"{name}, field 'channels.{channel}"
        from channels.registry import CHANNELS  # the channels import this module: look them up at call time

        if channel not in CHANNELS:
            raise PostError(where + "'", f"unknown channel; expected one of {', '.join(CHANNELS)}")
        if opts is None:
            opts = {}
        if not isinstance(opts, dict):
            raise PostError(where + "'", "expected a mapping of options")
        if "enabled" in opts and not isinstance(opts["enabled"], bool):
            raise PostError(f"{where}.enabled'", "expected true or false")
        _refuse_unknown_options(channel, opts, where)
        out[channel] = MappingProxyType(dict(opts))
    return MappingProxyType(out)


def _refuse_unknown_options(channel: str, opts: dict, where: str) -> None:
    from channels.registry import CHANNELS  # the channels import this module: look them up at call time

    known = CHANNELS[channel].options
    for key in opts:
        if key not in known:
            near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise PostError(f"{where}.{key}'", f"unknown option; {hint}expected one of {', '.join(sorted(known))}")


def slugify(text: str) -> str:
    """A URL slug from a file name: keeps letters of any script, digits and dashes."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s_-]+", "-", text).strip("-") or "post"
