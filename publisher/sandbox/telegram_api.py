"""Loopback stand-in of the Telegram Bot API (PLATFORMS.md 2.1-2.7).

Path `/bot<token>/<method>` (method case-insensitive, optional `test/` segment), GET and POST,
parameters from the query string, form-urlencoded, JSON or multipart bodies (object fields may
be JSON strings; uploads may be referenced as `attach://<field>`). Methods: sendMessage, sendPhoto,
sendMediaGroup, editMessageText, getMe, getChat. GET /_sandbox/messages lists the messages per chat.

Faults (common.py rules) hit every bot route: "429" (`parameters.retry_after`), "500"/"503" (JSON
error), "502" (nginx HTML page, as Telegram's front end sends), "expire_token" (401), "drop",
"timeout" (sleeps `delay`, then answers 504 without processing; with "after" the request is
processed, then the normal answer comes `delay` seconds late). With "after": true the request is
processed and stored first, then the fault answers.
"""
from __future__ import annotations

import io
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from flask import Flask, Response, jsonify, request
from PIL import Image, UnidentifiedImageError

from publisher.sandbox.common import (
    FaultRule,
    SandboxState,
    add_control_routes,
    describe_request,
    drop_connection,
    quiet_app,
)

DEFAULT_TOKEN = "123456:SANDBOX-telegram-token"
DEFAULT_CHATS: tuple[dict[str, Any], ...] = (
    {"id": -1001234567890, "title": "Sandbox Channel", "username": "sandbox_channel", "type": "channel"},
)
DEFAULT_BOT = {"first_name": "Sandbox Bot", "username": "sandbox_bot"}
# Real limits are unpublished (2.6: ~1 msg/s per chat, 20/min per group or channel). The default
# bucket is generous so tests run fast; tests set small values to provoke 429.
DEFAULT_FLOOD_BURST = 100
DEFAULT_FLOOD_PER_SEC = 100.0
MAX_TEXT_CHARS = 4096  # 2.3: after entity parsing; counted in code points (2.3, UNVERIFIED unit)
MAX_CAPTION_CHARS = 1024  # 2.5
MEDIA_GROUP_SIZE = (2, 10)  # 2.5
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # 2.5: photos up to 10 MB
MAX_FILE_BYTES = 50 * 1024 * 1024  # 2.5: other files up to 50 MB
URL_PHOTO_SIZE = (1280, 720)  # the stand-in cannot fetch URLs; it pretends they are this big
PHOTO_SIDES = (90, 320, 800, 1280)  # thumbnail ladder of a PhotoSize array
TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
JSON_FIELDS = ("link_preview_options", "reply_markup", "reply_parameters", "media", "entities", "caption_entities")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")

# 2.4: tag -> entity type; anything else is "Unsupported start tag".
HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "span": "spoiler",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji", "tg-time": "date_time",
}
HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class BotApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def bad_request(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


# ---------------------------------------------------------------- HTML parse mode (2.4)

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
    platform's "can't parse entities" wording and the byte offset of the culprit (2.2, 2.4).
    `strict` also refuses what 2.4 forbids but tdlib tolerates: a bare '&' or '>', unknown named
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
    """2.4: formatting nests anywhere but in code/pre; links, code and pre do not contain each
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


# ---------------------------------------------------------------- state

@dataclass
class TelegramStore:
    """Messages, files and flood buckets; guarded by SandboxState.lock."""

    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    buckets: dict[int, list[float]] = field(default_factory=dict)  # chat -> [tokens, last refill]
    media_groups: int = 0

    def clear(self) -> None:
        self.messages.clear()
        self.files.clear()
        self.buckets.clear()
        self.media_groups = 0


def _json_param(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name.replace('_', ' ')} JSON object") from None
    return value


def collect_params() -> dict[str, Any]:
    """Query string, then form, JSON or multipart body (2.1); JSON-string object fields decoded."""
    params: dict[str, Any] = request.args.to_dict()
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        params.update(body)
    else:
        params.update(request.form.to_dict())
    for name in JSON_FIELDS:
        if name in params:
            params[name] = _json_param(params, name)
    return params


def make_app(
    *,
    token: str = DEFAULT_TOKEN,
    chats: Sequence[dict[str, Any]] = DEFAULT_CHATS,
    bot: dict[str, str] = DEFAULT_BOT,
    flood_burst: int = DEFAULT_FLOOD_BURST,
    flood_per_sec: float = DEFAULT_FLOOD_PER_SEC,
    strict_html: bool = True,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """The Telegram stand-in. `clock` drives message dates and the flood buckets."""
    app = quiet_app("sandbox_telegram")
    app.json.sort_keys = False
    state = SandboxState()
    store = TelegramStore()
    app.extensions["sandbox"] = state
    app.extensions["sandbox_telegram"] = store
    known_chats = [dict(chat) for chat in chats]
    bot_user = {"id": int(token.split(":", 1)[0]), "is_bot": True, **bot}

    def reset() -> None:
        with state.lock:
            store.clear()

    add_control_routes(app, state, on_reset=reset)

    def find_chat(params: dict[str, Any]) -> dict[str, Any]:
        raw = str(params.get("chat_id") if params.get("chat_id") is not None else "").strip()
        if not raw:
            raise bad_request("chat_id is empty")
        for chat in known_chats:
            if raw.lstrip("-").isdigit() and int(raw) == chat["id"]:
                return chat
            if raw.startswith("@") and chat.get("username", "").lower() == raw[1:].lower():
                return chat
        raise bad_request("chat not found")

    def take_flood_tokens(chat_id: int, count: int) -> None:
        """Per-chat token bucket (2.6); 429 with retry_after when it runs dry."""
        now = clock()
        tokens, last = store.buckets.get(chat_id, [float(flood_burst), now])
        tokens = min(float(flood_burst), tokens + (now - last) * flood_per_sec)
        if tokens < count:
            retry_after = max(1, math.ceil((count - tokens) / flood_per_sec))
            store.buckets[chat_id] = [tokens, now]
            raise BotApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        store.buckets[chat_id] = [tokens - count, now]

    def new_message(chat: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        history = store.messages.setdefault(chat["id"], [])
        message: dict[str, Any] = {"message_id": len(history) + 1}
        if chat["type"] == "channel":
            message["sender_chat"] = dict(chat)
        else:
            message["from"] = dict(bot_user)
        message.update(chat=dict(chat), date=int(clock()), **content)
        history.append(message)
        return message

    def caption_content(params: dict[str, Any]) -> dict[str, Any]:
        caption, entities = formatted_text(params, "caption", "caption_entities", strict_html)
        if len(caption) > MAX_CAPTION_CHARS:
            raise bad_request("message caption is too long")
        return {**({"caption": caption} if caption else {}), **({"caption_entities": entities} if entities else {})}

    def resolve_file(kind: str, reference: Any) -> dict[str, Any]:
        """A stored file for an upload, attach://name, known file_id or URL."""
        upload = request.files.get(kind) if reference is None else None
        if isinstance(reference, str) and reference.startswith("attach://"):
            upload = request.files.get(reference[len("attach://"):])
            if upload is None:
                raise bad_request("can't parse InputMedia: media not found")
        if upload is not None:
            return remember_file(kind, upload.read())
        if not reference:
            raise bad_request(f"there is no {kind} in the request")
        reference = str(reference)
        if reference in store.files:
            return store.files[reference]
        if re.match(r"^https?://[^\s/]+\.\S*$", reference):
            return remember_file(kind, None)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def remember_file(kind: str, data: bytes | None) -> dict[str, Any]:
        width, height = URL_PHOTO_SIZE
        if data is not None and len(data) > (MAX_PHOTO_BYTES if kind == "photo" else MAX_FILE_BYTES):
            raise BotApiError(413, "Request Entity Too Large")
        if data is not None and kind == "photo":
            try:
                with Image.open(io.BytesIO(data)) as image:
                    width, height = image.size
                    image.verify()
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                raise bad_request("IMAGE_PROCESS_FAILED") from None
        number = len(store.files) + 1
        file = {"kind": kind, "width": width, "height": height, "size": len(data) if data is not None else None,
                "file_id": f"AgACAgQAAxkBAAI{number:06d}SandboxFile", "file_unique_id": f"AQAD{number:06d}"}
        store.files[file["file_id"]] = file
        return file

    def media_object(file: dict[str, Any]) -> Any:
        base = {"file_id": file["file_id"], "file_unique_id": file["file_unique_id"]}
        if file["size"] is not None:
            base["file_size"] = file["size"]
        if file["kind"] != "photo":
            return base
        longest = max(file["width"], file["height"])
        sides = [side for side in PHOTO_SIDES if side < longest] + [min(longest, PHOTO_SIDES[-1])]
        return [{**base, "file_unique_id": f"{file['file_unique_id']}{side}",
                 "width": round(file["width"] * side / longest), "height": round(file["height"] * side / longest)}
                for side in sides]

    def send_message(params: dict[str, Any]) -> Any:
        chat = find_chat(params)
        text, entities = formatted_text(params, "text", "entities", strict_html)
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise bad_request("message is too long")
        take_flood_tokens(chat["id"], 1)
        content: dict[str, Any] = {"text": text, **({"entities": entities} if entities else {})}
        if isinstance(params.get("link_preview_options"), dict):
            content["link_preview_options"] = params["link_preview_options"]
        return new_message(chat, content)

    def send_photo(params: dict[str, Any]) -> Any:
        chat = find_chat(params)
        content = caption_content(params)
        photo = media_object(resolve_file("photo", params.get("photo")))
        take_flood_tokens(chat["id"], 1)
        return new_message(chat, {"photo": photo, **content})

    def send_media_group(params: dict[str, Any]) -> Any:
        chat = find_chat(params)
        items = params.get("media")
        if not isinstance(items, list) or not items:
            raise bad_request('parameter "media" is required')
        low, high = MEDIA_GROUP_SIZE
        if len(items) > high:
            raise bad_request("too much messages to send as an album")
        if len(items) < low:  # wording invented: 2.5 only says 2-10 items
            raise bad_request(f"media group must contain {low}-{high} items")
        kinds = {item.get("type") if isinstance(item, dict) else None for item in items}
        if None in kinds or not (kinds <= {"photo", "video"} or len(kinds) == 1 and kinds <= {"document", "audio"}):
            raise bad_request("can't parse InputMedia: media type mismatch or unsupported")
        contents = []
        for item in items:
            content = caption_content(item)  # each InputMedia carries its own parse_mode
            file = resolve_file(item["type"], item.get("media") or "")
            contents.append({item["type"]: media_object(file), **content})
        take_flood_tokens(chat["id"], len(items))
        store.media_groups += 1
        group_id = str(13_800_000_000_000_000 + store.media_groups)
        return [new_message(chat, {"media_group_id": group_id, **content}) for content in contents]

    def edit_message_text(params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not imitated by the sandbox")
        chat = find_chat(params)
        message_id = str(params.get("message_id") or "")
        history = store.messages.get(chat["id"], [])
        if not message_id.isdigit() or not 1 <= int(message_id) <= len(history):
            raise bad_request("message to edit not found")
        message = history[int(message_id) - 1]
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = formatted_text(params, "text", "entities", strict_html)
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise bad_request("message is too long")
        if text == message["text"] and entities == message.get("entities", []):
            raise BotApiError(400, NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        message["edit_date"] = int(clock())
        return message

    def get_chat(params: dict[str, Any]) -> Any:
        chat = find_chat(params)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": {
            "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False, "premium_subscription": False}}

    def get_me(params: dict[str, Any]) -> Any:
        return {**bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    methods: dict[str, Callable[[dict[str, Any]], Any]] = {
        "sendmessage": send_message, "sendphoto": send_photo, "sendmediagroup": send_media_group,
        "editmessagetext": edit_message_text, "getchat": get_chat, "getme": get_me,
    }

    def answer(bot_token: str, method_path: str) -> Response:
        try:
            if not TOKEN_SHAPE.match(bot_token):
                raise BotApiError(404, "Not Found")
            if bot_token != token:
                raise BotApiError(401, "Unauthorized")
            method = methods.get(method_path.lower().removeprefix("test/"))
            if method is None:
                raise BotApiError(404, "Not Found")
            return jsonify({"ok": True, "result": method(collect_params())})
        except BotApiError as error:
            return error_response(error)

    def fault_response(rule: FaultRule, processed: Response | None) -> Response:
        if rule.kind == "drop":
            return drop_connection()
        if rule.kind == "timeout":
            time.sleep(rule.delay)
            return processed if processed is not None else nginx_page(504, "Gateway Time-out")
        if rule.kind == "429":
            retry_after = max(1, math.ceil(rule.retry_after))
            return error_response(BotApiError(429, f"Too Many Requests: retry after {retry_after}",
                                              {"retry_after": retry_after}))
        if rule.kind == "expire_token":
            return error_response(BotApiError(401, "Unauthorized"))
        if rule.kind == "502":
            return nginx_page(502, "Bad Gateway")
        return error_response(BotApiError(int(rule.kind), {"500": "Internal Server Error",
                                                             "503": "Service Unavailable"}[rule.kind]))

    @app.route("/bot<bot_token>/<path:method_path>", methods=["GET", "POST"])
    def bot_method(bot_token: str, method_path: str) -> Response:
        state.record(describe_request())
        fault = state.next_fault(request.path)
        if fault and not fault.after:
            return fault_response(fault, None)
        with state.lock:
            response = answer(bot_token, method_path)
        return fault_response(fault, response) if fault else response

    @app.get("/_sandbox/messages")
    def sandbox_messages() -> Response:
        with state.lock:
            return jsonify({"messages": {str(chat): list(history) for chat, history in store.messages.items()}})

    return app


def error_response(error: BotApiError) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
    if error.parameters:
        body["parameters"] = error.parameters
    response = jsonify(body)
    response.status_code = error.status
    if error.parameters and "retry_after" in error.parameters:
        response.headers["Retry-After"] = str(error.parameters["retry_after"])
    return response


def nginx_page(status: int, reason: str) -> Response:
    html = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
            f"</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n")
    return Response(html, status=status, content_type="text/html")
