"""Content-Transfer-Encoding of the two body parts, with the per-recipient placeholders kept as
template slots (message.py fills them by byte substitution, once per recipient).

Quoted-printable: each placeholder sits alone between two soft line breaks (`=\\r\\n`); the value
put there is QP-encoded with its own soft breaks, so every line stays ≤ 76 characters whatever the
recipient's URL (https://www.rfc-editor.org/rfc/rfc2045#section-6.7).

Base64 (https://www.rfc-editor.org/rfc/rfc2045#section-6.8) cannot be spliced at any byte: it
encodes 3-byte groups, and "=" padding may only end the data. So the fixed part of the body up to
the last whole group before the first placeholder is encoded once, and everything after it (the
0-2 bytes left over, the footer with the placeholders, to the end of the part) becomes one slot,
`%%PUB:B64<H|T>_<that text, base64>%%`, encoded for each recipient with their values. The decoded
part is then exactly the document with the recipient's values in it, and the per-recipient work is
the footer alone (about a kilobyte: microseconds).

Which one: the shorter. Quoted-printable nearly triples CJK text (three `=XX` per character) and
turns every `=` of an inlined style into `=3D`; base64 costs a flat third. 8bit would be shorter
still, but whether the relay offers 8BITMIME is known only when sending, and the template is built
once at render.
"""
from __future__ import annotations

import base64
import binascii
import re

from channels.email.limits import CRLF

BODY_TOKEN = re.compile(r"(%%PUB:(?:UNSUBSCRIBE_URL|TO_EMAIL)%%)")
B64_LINE = 76
B64_PREFIX = "B64"


# --- quoted-printable -----------------------------------------------------------------------------
def qp(text: str) -> bytes:
    """Quoted-printable of text with CRLF hard breaks and ≤ 76-character lines (RFC 2045 6.7)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True)


def qp_value(value: str) -> bytes:
    # b2a_qp only uses CRLF soft breaks when the input has a CRLF, so give it one and take it off.
    return qp(value + "\n")[:-2]


def qp_body(document: str, slots: dict[str, str]) -> bytes:
    """QP-encode a part body; each placeholder becomes a template slot between two soft breaks."""
    pieces = BODY_TOKEN.split(document)
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(b"%%PUB:" + slots[piece].encode() + b"%%=\r\n")
            continue
        encoded = qp(piece)
        if encoded and not encoded.endswith(CRLF) and index + 1 < len(pieces):
            encoded += b"=\r\n"
        out.append(encoded)
    return b"".join(out)


# --- base64 ---------------------------------------------------------------------------------------
def b64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return CRLF.join(encoded[i:i + B64_LINE] for i in range(0, len(encoded), B64_LINE))


def b64_body(document: str, html: bool) -> bytes:
    """Base64 of a part body: the fixed whole groups before the first placeholder, then one tail
    slot (see the module docstring); `html` says which values (escaped or raw) the tail takes."""
    pieces = BODY_TOKEN.split(document, maxsplit=1)
    head = pieces[0].encode("utf-8")
    if len(pieces) == 1:
        return b64_lines(head) + CRLF
    whole = len(head) - len(head) % 3
    tail = head[whole:] + "".join(pieces[1:]).encode("utf-8")
    slot = f"%%PUB:{B64_PREFIX}{'H' if html else 'T'}_{base64.b64encode(tail).decode('ascii')}%%".encode("ascii")
    return CRLF.join(chunk for chunk in (b64_lines(head[:whole]), slot) if chunk) + CRLF


def parse_b64_slot(slot: str) -> tuple[bool, tuple[bytes | str, ...]] | None:
    """(html, tail pieces: bytes, placeholder, bytes, …) of a tail slot name; None for any other."""
    if not slot.startswith(B64_PREFIX):
        return None
    kind, encoded = slot[len(B64_PREFIX):].split("_", 1)
    pieces = BODY_TOKEN.split(base64.b64decode(encoded).decode("utf-8", errors="surrogateescape"))
    return kind == "H", tuple(p if i % 2 else p.encode("utf-8", errors="surrogateescape")
                              for i, p in enumerate(pieces))


def b64_tail(pieces: tuple[bytes | str, ...], values: dict[str, str]) -> bytes:
    """One recipient's tail: the pieces with `values` (by placeholder) in, base64 in ≤ 76-character lines."""
    return b64_lines(b"".join(p if i % 2 == 0 else values[p].encode("utf-8") for i, p in enumerate(pieces)))


def encode_part(document: str, qp_slots: dict[str, str], html: bool) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body) of a part: base64 when shorter than quoted-printable."""
    quoted = qp_body(document, qp_slots)
    based = b64_body(document, html)
    if len(based) < len(quoted):
        return b"base64", based
    return b"quoted-printable", quoted
