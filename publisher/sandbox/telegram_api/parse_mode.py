"""Telegram's HTML parse mode as tdlib applies it: plain text and entities with UTF-16 offsets, or
the platform's "can't parse entities" error with the byte offset of the culprit; also the
whitespace trim that moves entities with the text. https://core.telegram.org/bots/api#html-style"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from publisher.sandbox.telegram_api.errors import BotApiError, bad_request

# tag -> entity type; anything else is "Unsupported start tag".
HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji", "tg-time": "date_time",
}
HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(text: str, index: int) -> tuple[str, int] | None:
    match = re.match(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);", text[index:])
    if not match:
        return None
    name = match.group(1)
    if name.startswith("#"):
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        return (chr(code), index + match.end()) if 0 < code <= 0x10FFFF else None
    return (HTML_NAMED_ENTITIES[name], index + match.end()) if name in HTML_NAMED_ENTITIES else None


def _read_attributes(text: str, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Attributes of a start tag from index i up to its '>' (tdlib's rules: quoted or bare values)."""
    attributes: dict[str, str] = {}
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise bad_request(f"can't parse entities: Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] == ">":
            return attributes, i + 1
        name_start = i
        while i < len(text) and not text[i].isspace() and text[i] not in "=>":
            i += 1
        name = text[name_start:i].lower()
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "=":
            i += 1
            while i < len(text) and text[i].isspace():
                i += 1
            quote = text[i] if i < len(text) and text[i] in "'\"" else ""
            end = text.find(quote, i + 1) if quote else i
            if quote and end < 0:
                raise bad_request("can't parse entities: Unclosed start tag at byte offset "
                                  f"{_byte_offset(text, begin)}")
            if not quote:
                while end < len(text) and not text[end].isspace() and text[end] != ">":
                    end += 1
            raw = text[i + 1:end] if quote else text[i:end]
            attributes[name] = re.sub(r"&(lt|gt|amp|quot);", lambda m: HTML_NAMED_ENTITIES[m.group(1)], raw)
            i = end + 1 if quote else end
        elif name:
            attributes[name] = ""  # e.g. <blockquote expandable>
        else:
            raise bad_request(f"can't parse entities: Empty attribute name in the tag \"{tag}\" at byte offset "
                              f"{_byte_offset(text, begin)}")


def _entity_for(tag: str, attributes: dict[str, str], offset: int, length: int) -> dict[str, Any] | None:
    entity: dict[str, Any] = {"offset": offset, "length": length, "type": HTML_TAGS[tag]}
    if tag == "a":
        href = attributes.get("href", "")
        if href.startswith("tg://user?id="):
            return {**entity, "type": "text_mention", "user": {"id": int(href.split("=", 1)[1] or 0), "is_bot": False,
                                                              "first_name": ""}}
        if not re.match(r"^(https?|tg)://\S+$", href):
            return None  # tdlib keeps the text and drops a link it cannot parse
        entity["url"] = href
    elif tag == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attributes.get("emoji-id", "")
    elif tag == "tg-time":
        entity["unix_time"] = int(attributes.get("unix", "0") or 0)
        if attributes.get("format"):
            entity["date_time_format"] = attributes["format"]
    return entity


def parse_html(text: str, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities (UTF-16 offsets) of Telegram HTML, or BotApiError 400 with the
    platform's "can't parse entities" wording and the byte offset of the culprit.
    `strict` also refuses what the Bot API's HTML style forbids but tdlib tolerates: a bare '&' or '>', unknown named
    entities and entities nested inside code/pre/links or blockquote in blockquote."""
    out: list[str] = []
    utf16 = 0
    stack: list[tuple[str, dict[str, str], int, int]] = []  # tag, attributes, utf16 start, start-tag order
    entities: list[dict[str, Any]] = []
    i = 0

    def fail(message: str, index: int) -> BotApiError:
        return bad_request(f"can't parse entities: {message} at byte offset {_byte_offset(text, index)}")

    while i < len(text):
        char = text[i]
        if char == "&":
            decoded = _decode_entity(text, i)
            if decoded:
                out.append(decoded[0])
                utf16 += _utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict:
                raise fail('Character "&" must be escaped as "&amp;"', i)
        if char == ">" and strict:
            raise fail('Character ">" must be escaped as "&gt;"', i)
        if char != "<":
            out.append(char)
            utf16 += _utf16_len(char)
            i += 1
            continue
        begin = i
        i += 1
        if i < len(text) and text[i] == "/":
            if not stack:
                raise fail("Unexpected end tag", begin)
            name_end = i + 1
            while name_end < len(text) and not text[name_end].isspace() and text[name_end] != ">":
                name_end += 1
            end_name = text[i + 1:name_end].lower()
            i = name_end
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text) or text[i] != ">":
                raise fail("Unclosed end tag", begin)
            i += 1
            tag, attributes, start, order = stack.pop()
            if end_name and end_name != tag:
                raise bad_request("can't parse entities: Unmatched end tag at byte offset "
                                  f"{_byte_offset(text, begin)}, expected \"</{tag}>\", found \"</{end_name}>\"")
            _close_entity(entities, tag, attributes, start, utf16 - start, order)
            continue
        name_end = i
        while name_end < len(text) and not text[name_end].isspace() and text[name_end] != ">":
            name_end += 1
        if name_end >= len(text):
            raise fail("Unclosed start tag", begin)
        tag = text[i:name_end].lower()
        if tag not in HTML_TAGS:
            raise fail(f'Unsupported start tag "{tag}"', begin)
        attributes, i = _read_attributes(text, name_end, tag, begin)
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise fail('Tag "span" must have class "tg-spoiler"', begin)
        if strict:
            _check_nesting(stack, tag, fail, begin)
        stack.append((tag, attributes, utf16, begin))  # begin also orders start tags
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    ordered = sorted(entities, key=lambda e: (e["offset"], -e["length"], e["_order"]))
    return "".join(out), [{k: v for k, v in e.items() if not k.startswith("_")} for e in ordered]


def _check_nesting(stack: Sequence[tuple[str, dict[str, str], int, int]], tag: str,
                   fail: Callable[[str, int], BotApiError], begin: int) -> None:
    """HTML style: formatting nests anywhere but in code/pre; links, code and pre do not contain each
    other (except <pre><code class="language-x">); blockquotes do not nest."""
    if not stack:
        return
    parent = stack[-1][0]
    if parent == "pre" and tag == "code":
        return
    ancestors = {entry[0] for entry in stack}
    if ancestors & {"code", "pre"} or (tag in {"a", "code", "pre"} and "a" in ancestors) \
            or (tag == "blockquote" and "blockquote" in ancestors):
        raise fail(f'Tag "{tag}" can\'t be nested in "{parent}"', begin)


def _close_entity(entities: list[dict[str, Any]], tag: str, attributes: dict[str, str], start: int, length: int,
                  order: int) -> None:
    if length <= 0:
        return  # tdlib drops empty entities
    entity = _entity_for(tag, attributes, start, length)
    if entity is None:
        return
    entity["_order"] = order  # outer entity first when two cover the same range
    if tag == "pre" and entities and entities[-1]["type"] == "code" and entities[-1]["offset"] == start \
            and entities[-1]["length"] == length:
        language = entities.pop().get("_language", "")
        if language:
            entity["language"] = language
    if tag == "code" and attributes.get("class", "").startswith("language-"):
        entity["_language"] = attributes["class"][len("language-"):]
    entities.append(entity)


def _strip_message(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims surrounding whitespace from text and captions; entities move with it."""
    lead = _utf16_len(text) - _utf16_len(text.lstrip())
    stripped = text.strip()
    total = _utf16_len(stripped)
    kept = []
    for entity in entities:
        begin, end = max(entity["offset"] - lead, 0), min(entity["offset"] + entity["length"] - lead, total)
        if end > begin:
            kept.append({**entity, "offset": begin, "length": end - begin})
    return stripped, kept


def formatted_text(params: dict[str, Any], text_key: str, entities_key: str,
                   strict: bool) -> tuple[str, list[dict[str, Any]]]:
    """Text (or caption) after entity parsing, with its entities."""
    raw = params.get(text_key)
    raw = "" if raw is None else str(raw)
    parse_mode = str(params.get("parse_mode") or "")
    if parse_mode.lower() == "html":
        text, entities = parse_html(raw, strict)
    elif parse_mode and parse_mode.lower() not in ("markdown", "markdownv2"):
        raise bad_request("unsupported parse_mode")
    else:  # Markdown modes are not imitated: the text is taken literally
        text, entities = raw, list(params.get(entities_key) or [])
    return _strip_message(text, entities)
