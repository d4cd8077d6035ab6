"""What Telegram would refuse: a strict check of its HTML parse mode
(https://core.telegram.org/bots/api#html-style), visible lengths, and the checks of one call."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Mapping
from urllib.parse import urlsplit

from channels.telegram.limits import ALLOWED_TAGS, LINK_SCHEMES, NAMED_ENTITIES
from channels.telegram.payload import BotCall
from channels.telegram.runs import utf16_length


_ENTITY = re.compile(r"&(?:(?P<name>[A-Za-z][A-Za-z0-9]*)|#(?P<dec>[0-9]+)|#[xX](?P<hex>[0-9A-Fa-f]+));")


class _TelegramHTMLValidator(HTMLParser):
    """Strict check of Telegram HTML: allowed tags and attributes, nesting rules, escaping."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.problem: str | None = None

    def fail(self, problem: str) -> None:
        self.problem = self.problem or problem

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        problem = _start_tag_problem(tag, attributes, [name for name, _ in self.stack])
        if problem:
            self.fail(problem)
        self.stack.append((tag, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.fail(f"self-closing tag <{tag}/> is not supported")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            self.fail(f"unexpected end tag </{tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if any(ch in data for ch in "<>&"):
            self.fail("unescaped <, > or & in text")

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            self.fail(f"unsupported entity &{name};")

    def handle_comment(self, data: str) -> None:
        self.fail("HTML comments are not supported")

    def handle_decl(self, decl: str) -> None:
        self.fail("declarations are not supported")

    def handle_pi(self, data: str) -> None:
        self.fail("processing instructions are not supported")

    def unknown_decl(self, data: str) -> None:
        self.fail("CDATA is not supported")


def _start_tag_problem(tag: str, attrs: dict[str, str | None], open_tags: list[str]) -> str | None:
    if tag not in ALLOWED_TAGS:
        return f"unsupported tag <{tag}>"
    parent = open_tags[-1] if open_tags else None
    if parent == "code":
        return f"<{tag}> inside <code>"
    if parent == "pre" and tag != "code":
        return f"<{tag}> inside <pre>"
    if tag == "blockquote" and "blockquote" in open_tags:
        return "nested <blockquote>"
    if tag in ("a", "code", "pre") and "a" in open_tags:
        return f"<{tag}> inside <a>"
    if tag == "pre" and "code" in open_tags:
        return "<pre> inside <code>"
    expected: dict[str, set[str]] = {"a": {"href"}, "span": {"class"}, "tg-emoji": {"emoji-id"},
                                     "tg-time": {"unix", "format"}, "blockquote": {"expandable"},
                                     "code": {"class"} if parent == "pre" else set()}
    unknown = set(attrs) - expected.get(tag, set())
    if unknown:
        return f"unsupported attribute {sorted(unknown)[0]!r} on <{tag}>"
    if tag == "a":
        href = attrs.get("href") or ""
        if urlsplit(href).scheme.lower() not in LINK_SCHEMES:
            return f"link {href!r} is not http(s), tg or mailto"
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        return "<span> without class=\"tg-spoiler\""
    if tag == "code" and "class" in attrs and not re.fullmatch(r"language-[\w#+.-]+", attrs["class"] or ""):
        return "code class must be language-NAME"
    return None


def telegram_html_problem(text: str) -> str | None:
    """Why Telegram would refuse this HTML, or None when it is valid."""
    for match in re.finditer("&", text):
        entity = _ENTITY.match(text, match.start())
        if not entity:
            return "a bare & (write &amp;)"
        if entity.group("name") and entity.group("name") not in NAMED_ENTITIES:
            return f"unsupported entity &{entity.group('name')};"
        number = entity.group("dec") or entity.group("hex")
        if number and int(number, 16 if entity.group("hex") else 10) > 0x10FFFF:
            return f"entity {entity.group(0)} is not a character"
    validator = _TelegramHTMLValidator()
    validator.feed(text)
    validator.close()
    if validator.problem:
        return validator.problem
    if validator.stack:
        return f"<{validator.stack[-1][0]}> is never closed"
    return None


def is_balanced_telegram_html(text: str) -> bool:
    """True when every tag is allowed, properly nested and closed, and all text is escaped."""
    return telegram_html_problem(text) is None


_TAG_MARKUP = re.compile(r"<[^>]*>")


def visible_text(text: str) -> str:
    """What Telegram shows of HTML: tags removed, entities decoded."""
    return html.unescape(_TAG_MARKUP.sub("", text))


def visible_length(text: str) -> int:
    """Length Telegram checks against its limits, counted in UTF-16 code units
    (https://core.telegram.org/bots/api#sendmessage)."""
    return utf16_length(visible_text(text))


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def call_problems(number: int, call: BotCall, message_limit: int, caption_limit: int) -> list[str]:
    if call.method == "sendPhoto":
        field, limit, what = "caption", caption_limit, f"The photo caption (call {number})"
        photo = str(call.params.get("photo", ""))
        problems = [] if is_http_url(photo) else [
            f"Call {number} (sendPhoto) has photo {photo!r}, which is not an http(s) URL Telegram can fetch."]
    elif call.method == "sendMessage":
        field, limit, what = "text", message_limit, f"Message {number}"
        preview = call.params.get("link_preview_options")
        url = preview.get("url") if isinstance(preview, Mapping) else None
        problems = [] if url is None or is_http_url(str(url)) else [
            f"Message {number} shows a preview of {url!r}, which is not an http(s) URL Telegram can fetch."]
    else:
        return [f"Call {number} uses {call.method!r}; the Telegram renderer only sends sendPhoto and sendMessage."]
    text = str(call.params.get(field, ""))
    html_problem = telegram_html_problem(text)
    if html_problem:
        problems.append(f"{what} has HTML Telegram would refuse: {html_problem}.")
    length = visible_length(text)
    if length > limit:
        problems.append(f"{what} is {length:,} characters after formatting; Telegram allows {limit:,}.")
    if field == "text" and not visible_text(text).strip():
        problems.append(f"{what} is empty; Telegram refuses empty messages.")
    return problems
