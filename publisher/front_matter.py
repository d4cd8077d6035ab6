"""Front matter as real sites write it, read into one mapping; and readers that turn its loosely
typed values (people, lists, images, yes/no; dates: publisher.front_matter_dates) into plain ones.

Dialects, tried in this order on the very start of the file:
  YAML between `---` lines, closed by `---` or `...` (Jekyll, Hugo, Docusaurus, Hexo, Astro);
  TOML between `+++` lines (Hugo); a JSON object `{ ... }` then a new line (Hugo);
  YAML closed by `---` with no opening line (Hexo allows it);
  `Key: value` header lines up to the first blank line (Pelican, MultiMarkdown), keys in any case.
Every failure is one PostError naming the file and what is expected, never a traceback.
"""
from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import yaml

from publisher.errors import PostError
from publisher.front_matter_dates import file_name_date, parse_date, parse_moment  # noqa: F401 (read from here too)

MAX_YAML_ALIASES = 50  # *references in one front matter: a handful is normal, thousands is an attack
MAX_YAML_DEPTH = 32  # nesting of lists/mappings (every dialect)
MAX_FRONT_MATTER_BYTES = 64 * 1024

_YAML_OPENING = re.compile(r"\A---[ \t]*\n")
_YAML_CLOSING = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)
_GLUED_CLOSING = re.compile(r"^---(?=[^-\s])", re.M)  # "---### Top News": the closing line glued to text
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
_TOML_OPENING = re.compile(r"\A\+\+\+[ \t]*\n")
_TOML_CLOSING = re.compile(r"^\+\+\+[ \t]*$", re.M)
_JSON_OPENING = re.compile(r"\A[ \t]*\{\s*[\"}]")  # Hugo: quoted keys; `{{< x >}}` and `{% x %}` are body
# "key: value" lines (with indented or "- item" lines under them, and blank lines) up to a `---` line
_HEXO_BLOCK = re.compile(r"\A[A-Za-z_][\w-]{0,40}:[^\n]*\n"  # lines whose first characters tell them apart:
                         r"(?:[A-Za-z_][\w-]{0,40}:[^\n]*\n|[ \t][^\n]*\n|-[ \t][^\n]*\n|-\n|\n)*?"  # one way each
                         r"---[ \t]*(?:\n|\Z)")
_HEADER_FIRST = re.compile(r"([A-Za-z][\w-]{0,40}):[ \t]+\S")
_HEADER = re.compile(r"([A-Za-z][\w -]{0,40}?)[ \t]*:(?:[ \t]+(.*)|[ \t]*)$")


@dataclass(frozen=True)
class FrontMatter:
    meta: dict[str, Any]
    body: str
    dialect: str  # "yaml" | "toml" | "json" | "headers" | "none"
    body_line: int  # the line of the file the body starts on, counted from 1


def split_front_matter(text: str, name: str) -> FrontMatter:
    """The front matter and body of `text` (lines ending in \\n). Raises PostError."""
    blank = _LEADING_BLANK_LINES.match(text)
    if blank and (_YAML_OPENING.match(text[blank.end():]) or _TOML_OPENING.match(text[blank.end():])):
        # Hugo reads front matter after blank lines too (a docs site's news posts start so)
        found = split_front_matter(text[blank.end():], name)
        return dataclasses.replace(found, body_line=found.body_line + text.count("\n", 0, blank.end()))
    if _YAML_OPENING.match(text):
        return _yaml_block(text, name)
    if _TOML_OPENING.match(text):
        return _toml_block(text, name)
    if _JSON_OPENING.match(text):
        return _json_block(text, name)
    if _HEXO_BLOCK.match(text[:MAX_FRONT_MATTER_BYTES]):  # YAML closed by `---`, never opened
        found = _yaml_block("---\n" + text, name)
        return dataclasses.replace(found, body_line=found.body_line - 1)
    return _header_block(text) or FrontMatter({}, text, "none", 1)


def _result(meta: dict, text: str, body_start: int, dialect: str) -> FrontMatter:
    return FrontMatter({str(k): v for k, v in meta.items()}, text[body_start:], dialect,
                       text.count("\n", 0, body_start) + 1)


def _check_size(raw: str, name: str) -> None:
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_FRONT_MATTER_BYTES:
        raise PostError(f"{name}, front matter", f"refused: the front matter is over "
                        f"{MAX_FRONT_MATTER_BYTES // 1024} KB")


def _check_mapping(loaded: object, name: str, *, measure: bool = True) -> dict:
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise PostError(f"{name}, front matter", f"expected key: value pairs, got {kind(loaded)}")
    if measure and _depth(loaded) > MAX_YAML_DEPTH:  # YAML is measured while composing (aliases share)
        raise PostError(f"{name}, front matter", f"nested deeper than {MAX_YAML_DEPTH} levels")
    return loaded


def _depth(value: object, level: int = 1) -> int:
    if level > MAX_YAML_DEPTH or not isinstance(value, (dict, list)):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((_depth(v, level + 1) for v in items), default=level)


# --- YAML --------------------------------------------------------------------------------------

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


def _yaml_block(text: str, name: str) -> FrontMatter:
    start = _YAML_OPENING.match(text).end()
    closing = _YAML_CLOSING.search(text, start)
    glued = _GLUED_CLOSING.search(text, start)
    if closing is None and glued is None:
        raise PostError(f"{name}, line 1", "the front matter opened with --- is never closed; end it with a "
                        "line holding only ---")
    if closing is not None and (glued is None or closing.start() < glued.start()):
        raw, body_start = text[start:closing.start()], closing.end() + 1
    else:  # read leniently: what follows the dashes is the body's first line
        raw, body_start = text[start:glued.start()], glued.end()
    _check_size(raw, name)
    try:
        loaded = yaml.load(raw, Loader=_FrontMatterLoader) if raw.strip() else {}
    except _BoundedYAML as exc:
        raise PostError(f"{name}, front matter", f"refused: {exc.args[0]}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, front matter line {mark.line + 2}" if mark else f"{name}, front matter"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PostError(where, f"broken YAML ({problem})") from None
    except RecursionError:
        raise PostError(f"{name}, front matter", f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    return _result(_check_mapping(loaded, name, measure=False), text, min(body_start, len(text)), "yaml")


# --- TOML and JSON (Hugo) ----------------------------------------------------------------------

def _toml_block(text: str, name: str) -> FrontMatter:
    start = _TOML_OPENING.match(text).end()
    closing = _TOML_CLOSING.search(text, start)
    if closing is None:
        raise PostError(f"{name}, line 1", "the front matter opened with +++ is never closed; end it with a "
                        "line holding only +++")
    raw = text[start:closing.start()]
    _check_size(raw, name)
    try:
        loaded = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = re.search(r"\(at line (\d+), column \d+\)", message)
        where = f"{name}, front matter line {int(line[1]) + 1}" if line else f"{name}, front matter"
        problem = re.sub(r"\s*\(at [^)]*\)$", "", message)
        raise PostError(where, f"broken TOML ({problem}); expected key = \"value\" lines between +++ "
                        "lines") from None
    except RecursionError:
        raise PostError(f"{name}, front matter", f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    return _result(_check_mapping(loaded, name), text, min(closing.end() + 1, len(text)), "toml")


def _json_block(text: str, name: str) -> FrontMatter:
    start = text.index("{")
    try:
        loaded, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise PostError(f"{name}, front matter line {exc.lineno}", f"broken JSON ({exc.msg}); expected one "
                        "object like {\"title\": \"...\"} followed by a new line") from None
    except RecursionError:
        raise PostError(f"{name}, front matter", f"nested deeper than {MAX_YAML_DEPTH} levels") from None
    _check_size(text[:end], name)
    rest = re.match(r"[ \t]*\n?", text[end:])
    return _result(_check_mapping(loaded, name), text, end + rest.end(), "json")


# --- Pelican / MultiMarkdown headers -----------------------------------------------------------

def _header_block(text: str) -> FrontMatter | None:
    """`Title: ...` lines up to the first blank line; indented lines continue the value above.
    Read only when every line of that block is a header and one of them is the title."""
    if not _HEADER_FIRST.match(text):
        return None
    meta: dict[str, str] = {}
    key = None
    offset = 0
    for line in text.split("\n"):
        offset += len(line) + 1
        if not line.strip():
            break
        if line[:1] in (" ", "\t") and key is not None:
            meta[key] = f"{meta[key]}\n{line.strip()}".strip()
            continue
        header = _HEADER.match(line)
        if header is None:
            return None
        key = " ".join(header[1].split()).lower()
        meta[key] = (header[2] or "").strip()
    if "title" not in meta:
        return None
    return _result(meta, text, min(offset, len(text)), "headers")


# --- value readers -----------------------------------------------------------------------------

def kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def scalar_text(value: object) -> str | None:
    """Text, or a number written as text; None for anything else (and for blank text)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


def text_list(value: object) -> tuple[str, ...]:
    """Words from a list, or from text separated by commas (or by semicolons, as Pelican allows);
    other shapes (a mapping, a number's list of lists) give nothing."""
    if isinstance(value, str):
        value = re.split(r"[;；]" if re.search(r"[;；]", value) else r"[,，、]", value)
    elif isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        return ()
    words = [" ".join(t.split()) for t in (scalar_text(v) for v in value) if t]
    return tuple(dict.fromkeys(w for w in words if w))


def person(value: object) -> str | None:
    """An author: text, a mapping with a `name`, or a list of those (or of Docusaurus author keys)."""
    if isinstance(value, dict):
        name = value.get("name")
        return scalar_text(name) if isinstance(name, str) else None
    if isinstance(value, list):
        names = [n for n in (person(v) for v in value[:50]) if n]
        return ", ".join(dict.fromkeys(names)) or None
    text = value if isinstance(value, str) else None
    if text is None:
        return None
    names = [n.strip() for n in re.split(r"[;；]", text)] if re.search(r"[;；]", text) else [text.strip()]
    return ", ".join(" ".join(n.split()) for n in names if n) or None


IMAGE_KEYS = ("image", "feature", "src", "url", "path", "overlay_image", "teaser")


def image_ref(value: object, depth: int = 0) -> str | None:
    """An image as written: text, a mapping holding it (image/feature/src/url/path, Minimal Mistakes'
    overlay_image/teaser) or a list whose first image counts."""
    if depth > 3:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        for key in IMAGE_KEYS:
            found = image_ref(value.get(key), depth + 1)
            if found:
                return found
    if isinstance(value, list):
        for item in value[:10]:
            found = image_ref(item, depth + 1)
            if found:
                return found
    return None


def truthy(value: object) -> bool | None:
    """true/false, also written as text (yes/no, on/off); None when it says neither."""
    if isinstance(value, bool):
        return value
    text = scalar_text(value)
    if text is None:
        return None
    return {"true": True, "yes": True, "on": True, "1": True,
            "false": False, "no": False, "off": False, "0": False}.get(text.lower())
