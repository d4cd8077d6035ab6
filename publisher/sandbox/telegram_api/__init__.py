"""Loopback stand-in of the Telegram Bot API (https://core.telegram.org/bots/api).

Path `/bot<token>/<method>` (method case-insensitive, optional `test/` segment), GET and POST,
parameters from the query string, form-urlencoded, JSON or multipart bodies (object fields may
be JSON strings; uploads may be referenced as `attach://<field>`). Methods: sendMessage, sendPhoto,
sendMediaGroup, editMessageText, getMe, getChat. GET /_sandbox/messages lists the messages per chat.

Faults (common.py rules) hit every bot route: "429" (`parameters.retry_after`), "500"/"503" (JSON
error), "502" (nginx HTML page, as Telegram's front end sends), "expire_token" (401), "drop",
"timeout" (sleeps `delay`, then answers 504 without processing; with "after" the request is
processed, then the normal answer comes `delay` seconds late). With "after": true the request is
processed and stored first, then the fault answers.

Modules: limits (defaults and the API's limits), errors (error answers), parse_mode (HTML parse
mode), app (make_app: the bot methods, their store and the faults).
"""
from __future__ import annotations

from publisher.sandbox.telegram_api.app import TelegramStore, collect_params, make_app
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
from publisher.sandbox.telegram_api.parse_mode import HTML_NAMED_ENTITIES, HTML_TAGS, formatted_text, parse_html

# What was importable from publisher.sandbox.telegram_api when it was one module.
__all__ = [
    "DEFAULT_BOT", "DEFAULT_CHATS", "DEFAULT_FLOOD_BURST", "DEFAULT_FLOOD_PER_SEC", "DEFAULT_TOKEN",
    "HTML_NAMED_ENTITIES", "HTML_TAGS", "JSON_FIELDS", "MAX_CAPTION_CHARS", "MAX_FILE_BYTES", "MAX_PHOTO_BYTES",
    "MAX_TEXT_CHARS", "MEDIA_GROUP_SIZE", "NOT_MODIFIED", "PHOTO_SIDES", "TOKEN_SHAPE", "URL_PHOTO_SIZE",
    "BotApiError", "TelegramStore", "bad_request", "collect_params", "error_response", "formatted_text", "make_app",
    "nginx_page", "parse_html",
]
