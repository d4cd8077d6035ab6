"""Header fields written by our own encoder, never by parsing the text they carry.

Why not `email.policy.SMTP.header_factory(name, value)`: it *parses* the value first, so an
encoded word typed by a person (`=?utf-8?q?Hi=0D=0ABcc:_x@evil.example?=` as a post title) is
decoded into a real CR LF and a second header, and a non-ASCII domain is written as an encoded word
inside the address. Here every value is the literal text the person typed: plain ASCII is folded at
its spaces; anything else (non-ASCII, or text a decoder would take for an encoded word) becomes
RFC 2047 encoded words that decode back to exactly that text. Every step is linear in the length.

- encoded words are at most 75 characters and every line holding one at most 76
  (https://www.rfc-editor.org/rfc/rfc2047#section-2); lines end in CRLF, continuation lines start
  with one space (https://www.rfc-editor.org/rfc/rfc5322#section-2.2.3).
- the Q form uses only the characters RFC 2047 5(3) allows inside a phrase, so the same words are
  safe in Subject and in a display name; B is used when it is shorter (CJK text).
- addresses are validated with the subscriber list's grammar and written in their wire form:
  the domain in punycode (publisher.addresses.wire_address).
"""
from __future__ import annotations

import base64
import re

from channels.email.limits import MAX_ASCII_NAME_CHARS, MAX_LINE_OCTETS
from publisher.addresses import InvalidAddress, normalize_email, wire_address

FOLD_COLUMN = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters
ENCODED_LINE = 76  # RFC 2047 2: a line holding an encoded word is at most 76 characters
MAX_ENCODED_WORD = 75  # RFC 2047 2
_PREFIX = "=?utf-8?"
_WORD_OVERHEAD = len(_PREFIX) + len("b?") + len("?=")  # 12
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = [1 if b in _Q_SAFE or b == 0x20 else 3 for b in range(256)]  # space is "_"
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LIST_ID = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+")


class HeaderError(ValueError):
    """A value that cannot be written as the header asked for (too long); the caller names the field."""


# --- encoded words --------------------------------------------------------------------------------
def needs_encoding(text: str) -> bool:
    """Plain text goes as it is unless it is not ASCII or a decoder could read part of it as an
    encoded word (`=?`), which would show the reader something else than what was typed."""
    return not text.isascii() or "=?" in text


def encoded_words(text: str, first_room: int, room: int = MAX_ENCODED_WORD) -> list[str]:
    """`text` as UTF-8 encoded words, the first at most `first_room` characters, the others at most
    `room`. Words end on character boundaries, so each decodes on its own (RFC 2047 5)."""
    raw = text.encode("utf-8")
    q_length = sum(_Q_BYTE[b] for b in raw)
    b_length = 4 * -(-len(raw) // 3)
    return _q_words(text, first_room, room) if q_length <= b_length else _b_words(text, first_room, room)


def _b_words(text: str, first_room: int, room: int) -> list[str]:
    words: list[str] = []
    chunk = bytearray()
    limit = first_room
    for char in text:
        encoded = char.encode("utf-8")
        if chunk and _WORD_OVERHEAD + 4 * -(-(len(chunk) + len(encoded)) // 3) > limit:
            words.append(_PREFIX + "b?" + base64.b64encode(chunk).decode("ascii") + "?=")
            chunk = bytearray()
            limit = room
        chunk += encoded
    words.append(_PREFIX + "b?" + base64.b64encode(chunk).decode("ascii") + "?=")
    return words


def _q_words(text: str, first_room: int, room: int) -> list[str]:
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    limit = first_room
    for char in text:
        piece = "".join("_" if b == 0x20 else chr(b) if b in _Q_SAFE else f"={b:02X}" for b in char.encode("utf-8"))
        if chunk and _WORD_OVERHEAD + size + len(piece) > limit:
            words.append(_PREFIX + "q?" + "".join(chunk) + "?=")
            chunk, size, limit = [], 0, room
        chunk.append(piece)
        size += len(piece)
    words.append(_PREFIX + "q?" + "".join(chunk) + "?=")
    return words


# --- unstructured text (Subject) ------------------------------------------------------------------
def unstructured(name: str, text: str, limit: int = MAX_LINE_OCTETS) -> bytes:
    """`Name: text` CRLF, folded. Raises HeaderError when the field, unfolded, would be longer than
    `limit` octets (so it stays legal even for a relay that unfolds it). Checked on the raw length
    first: a megabyte of text is refused before any encoding work."""
    head = len(name) + 2
    if head + len(text) > limit or head + len(text.encode("utf-8")) > limit:
        raise HeaderError(f"{len(text.encode('utf-8')):,} bytes of text cannot fit a {limit}-octet header line")
    if needs_encoding(text):
        lines = encoded_words(text, ENCODED_LINE - head)
    else:
        lines = _fold_words(text.split(" "), FOLD_COLUMN - head)
    unfolded = head + sum(len(line) for line in lines) + len(lines) - 1
    if unfolded > limit:
        raise HeaderError(f"{unfolded:,} octets once encoded; a header line holds at most {limit}")
    return (f"{name}: " + "\r\n ".join(lines) + "\r\n").encode("ascii")


def _fold_words(words: list[str], first_room: int) -> list[str]:
    """Greedy folding at the spaces of plain ASCII text (a fold is CRLF before an existing space)."""
    lines: list[str] = []
    current = ""
    room = first_room
    for word in words:
        if current and len(current) + 1 + len(word) > room:
            lines.append(current)
            current, room = word, FOLD_COLUMN - 1
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return lines


# --- display names and addresses ------------------------------------------------------------------
def clean_display_name(name: str) -> str:
    """Control characters become spaces and runs of space one: a name is one line of text."""
    return " ".join(_CONTROL.sub(" ", name).split())


def phrase_lines(name: str, first_room: int) -> list[str]:
    """A display name as atoms, a quoted string (short ASCII), or encoded words (anything else)."""
    if name.isascii() and len(name) <= MAX_ASCII_NAME_CHARS and "=?" not in name:
        if _ATOM_PHRASE.fullmatch(name):
            return [name]
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return encoded_words(name, min(first_room, MAX_ENCODED_WORD))


def mailbox(name: str, display_name: str, address: str) -> str:
    """`display name <address>` for a header called `name`, folded; the address as given (its wire
    form, checked by the caller). Without a name, the bare address."""
    display_name = clean_display_name(display_name)
    if not display_name:
        return address
    head = len(name) + 2
    lines = phrase_lines(display_name, ENCODED_LINE - head)
    angle = f"<{address}>"
    last_room = (ENCODED_LINE - head) if len(lines) == 1 else ENCODED_LINE - 1
    if len(lines[-1]) + 1 + len(angle) <= last_room:
        lines[-1] += " " + angle
    else:
        lines.append(angle)
    return "\r\n ".join(lines)


def parse_mailbox(value: str) -> tuple[str, str] | None:
    """(display name, wire address) of a setting such as `编辑部 <news@bücher.example>`,
    `"Doe, Jane" <jane@example.com>` or `news@example.com`; None without a usable address.

    Our own reading, for operator settings only: the name is taken as literal text (never decoded),
    the address must pass the subscriber list's grammar, and its domain is written in punycode. The
    local part keeps the case it was written in (only the domain is case-insensitive by rule)."""
    value = " ".join((value or "").split())
    if value.endswith(">") and "<" in value:
        cut = value.rfind("<")
        name, address = value[:cut].strip(), value[cut + 1:-1].strip()
        if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
    else:
        name, address = "", value
    if "@" not in address or "<" in name or ">" in name:
        return None
    try:
        normalize_email(address)  # the grammar; ASCII local part (the sender needs no SMTPUTF8)
        local, domain = address.rsplit("@", 1)
        return clean_display_name(name), wire_address(f"{local}@{domain}")
    except (InvalidAddress, UnicodeError, ValueError):
        return None


def mailbox_field(name: str, value: str) -> bytes | None:
    """`From:`/`Reply-To:` from a setting, or None when the setting holds no usable address."""
    parsed = parse_mailbox(value)
    if parsed is None:
        return None
    return f"{name}: {mailbox(name, *parsed)}\r\n".encode("ascii")


def list_id_field(value: str) -> bytes | None:
    """`List-Id: name <list.example.com>` (https://www.rfc-editor.org/rfc/rfc2919#section-3), or
    None when the setting holds no valid list identifier."""
    value = " ".join((value or "").split())
    if value.endswith(">") and "<" in value:
        cut = value.rfind("<")
        name, identifier = clean_display_name(value[:cut]), value[cut + 1:-1].strip()
    else:
        name, identifier = "", value
    if not _LIST_ID.fullmatch(identifier) or len(identifier) > 255:
        return None
    if not name:
        return f"List-Id: <{identifier}>\r\n".encode("ascii")
    return f"List-Id: {mailbox('List-Id', name, identifier)}\r\n".encode("ascii")
