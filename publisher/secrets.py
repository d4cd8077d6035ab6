"""One redactor for every message a person or a log may read: the configured secrets, the forms they
take on the wire (SMTP AUTH PLAIN/LOGIN base64), and tokens that travel in URLs."""
from __future__ import annotations

import base64
import re
from urllib.parse import quote
from typing import Iterable

from publisher.config import SECRET_FIELDS, Settings

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words
# Tokens the platforms put in URLs and answers: WeChat's access_token, Telegram's /bot<token>/.
_URL_TOKENS = (re.compile(r"(access_token=)[^&\s'\"]+"), re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"))


def secret_values(settings: Settings, extra: Iterable[str] = ()) -> list[str]:
    values = {getattr(settings, name) for name in SECRET_FIELDS} | set(extra)
    values |= {quote(v, safe="") for v in values if v}  # as a URL or form carries it
    if settings.smtp_password:
        password = settings.smtp_password
        values.add(base64.b64encode(password.encode()).decode())
        values.add(base64.b64encode(f"\0{settings.smtp_user}\0{password}".encode()).decode())
    return sorted((v for v in values if v and len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str, settings: Settings, extra: Iterable[str] = ()) -> str:
    """`text` with every secret replaced by ***."""
    for value in secret_values(settings, extra):
        text = text.replace(value, MASK)
    for pattern in _URL_TOKENS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
