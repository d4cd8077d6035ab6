"""The stand-in's defaults and the Bot API's limits it enforces, with the pages they come from:
  sendMessage      https://core.telegram.org/bots/api#sendmessage
  sendPhoto        https://core.telegram.org/bots/api#sendphoto
  sendMediaGroup   https://core.telegram.org/bots/api#sendmediagroup
  sending files    https://core.telegram.org/bots/api#sending-files
  the FAQ          https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
"""
from __future__ import annotations

import re
from typing import Any

DEFAULT_TOKEN = "123456:SANDBOX-telegram-token"
DEFAULT_CHATS: tuple[dict[str, Any], ...] = (
    {"id": -1001234567890, "title": "Sandbox Channel", "username": "sandbox_channel", "type": "channel"},
    # An editor's private chat with the bot (a user's id is its chat id): where test sends go.
    {"id": 100200300, "first_name": "Sandbox Editor", "username": "sandbox_editor", "type": "private"},
)
DEFAULT_BOT = {"first_name": "Sandbox Bot", "username": "sandbox_bot"}
# Real limits are unpublished (the FAQ: ~1 msg/s per chat, 20/min per group or channel). The default
# bucket is generous so tests run fast; tests set small values to provoke 429.
DEFAULT_FLOOD_BURST = 100
DEFAULT_FLOOD_PER_SEC = 100.0
MAX_TEXT_CHARS = 4096  # sendMessage: after entity parsing; counted in code points (UNVERIFIED unit)
MAX_CAPTION_CHARS = 1024  # sendPhoto, sendMediaGroup
MEDIA_GROUP_SIZE = (2, 10)  # sendMediaGroup
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sending files: photos up to 10 MB
MAX_FILE_BYTES = 50 * 1024 * 1024  # sending files: other files up to 50 MB
URL_PHOTO_SIZE = (1280, 720)  # the stand-in cannot fetch URLs; it pretends they are this big
PHOTO_SIDES = (90, 320, 800, 1280)  # thumbnail ladder of a PhotoSize array
TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
JSON_FIELDS = ("link_preview_options", "reply_markup", "reply_parameters", "media", "entities", "caption_entities")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")
