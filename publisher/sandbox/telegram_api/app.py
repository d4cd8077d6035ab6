"""The stand-in app: the bot methods, its store of messages and files, and the faults."""
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
from publisher.sandbox.telegram_api.errors import BotApiError, bad_request, error_response, nginx_page
from publisher.sandbox.telegram_api.limits import (
    DEFAULT_BOT,
    DEFAULT_CHATS,
    DEFAULT_FLOOD_BURST,
    DEFAULT_FLOOD_PER_SEC,
    DEFAULT_TOKEN,
    JSON_FIELDS,
    MAX_CAPTION_CHARS,
    MAX_FILE_BYTES,
    MAX_PHOTO_BYTES,
    MAX_TEXT_CHARS,
    MEDIA_GROUP_SIZE,
    NOT_MODIFIED,
    PHOTO_SIDES,
    TOKEN_SHAPE,
    URL_PHOTO_SIZE,
)
from publisher.sandbox.telegram_api.parse_mode import formatted_text


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
    """Query string, then form, JSON or multipart body; JSON-string object fields decoded
    (https://core.telegram.org/bots/api#making-requests)."""
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
        """Per-chat token bucket (the bots FAQ on limits, see limits.py); 429 with retry_after when it runs dry."""
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
        if len(items) < low:  # wording invented: sendMediaGroup only says 2-10 items
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
