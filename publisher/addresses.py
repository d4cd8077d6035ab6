"""One address grammar for the subscriber list and for sending, so an address accepted at import is
one the mailing can send to.

- Stored form: NFC, lower case, the domain as Unicode labels (IDN).
- On the wire: the domain in ASCII (punycode, RFC 5890), so every relay takes it.
- The local part: an RFC 5322 dot-atom or quoted string (https://www.rfc-editor.org/rfc/rfc5322#section-3.4.1).
  A non-ASCII local part (RFC 6531, https://www.rfc-editor.org/rfc/rfc6531) needs a relay that offers
  SMTPUTF8: it is accepted at import only when PUBLISHER_SMTP_UTF8 says the relay does, and sent with
  the SMTPUTF8 parameter; a relay that turns out not to offer it refuses that recipient, nobody else.
"""
from __future__ import annotations

import re
import unicodedata

import idna

# RFC 5321 4.5.3.1.1 / 4.5.3.1.3: local part <= 64 octets, a path <= 256 including "<>".
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254
MAX_DOMAIN = 253  # RFC 1035 2.3.4, without the trailing dot

ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
UTF8_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]"  # RFC 6532 3.2: atext / UTF8-non-ascii
DOT_ATOM = re.compile(rf"{ATEXT}+(?:\.{ATEXT}+)*\Z")  # RFC 5322 3.2.3
UTF8_DOT_ATOM = re.compile(rf"{UTF8_ATEXT}+(?:\.{UTF8_ATEXT}+)*\Z")
QUOTED_STRING = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"\Z')  # RFC 5322 3.2.4
LDH_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")  # RFC 1035 2.3.1 + RFC 3696 2
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# RFC 2047 forbids encoded words in an addr-spec (section 5), yet mail readers decode them there,
# into line breaks and other headers (Python's email package raises on reading such a To:).
ENCODED_WORD = re.compile(r"=\?[^?]*\?[^?]*\?[^?]*\?=")


class InvalidAddress(ValueError):
    """Why an address is not usable, in words a person understands."""


def normalize_email(raw: str, *, smtputf8: bool = False) -> str:
    """The stored form of an RFC 5322 addr-spec, or InvalidAddress saying what is wrong.
    `smtputf8`: the relay offers SMTPUTF8, so a non-ASCII local part can be sent."""
    address = unicodedata.normalize("NFC", (raw or "").strip())
    if not address:
        raise InvalidAddress("empty address")
    if CONTROL.search(address):
        raise InvalidAddress("control characters in the address")
    if "@" not in address:
        raise InvalidAddress("no @ in the address")
    if address.startswith("<") or address.endswith(">"):
        raise InvalidAddress("expected a bare address like reader@example.com, without <>")
    if ENCODED_WORD.search(address):
        raise InvalidAddress("an encoded word (=?charset?…?=) is not an address")
    local, domain = address.rsplit("@", 1)
    local = _check_local_part(local, smtputf8)
    ascii_domain, unicode_domain = _check_domain(domain)
    if len(local.encode()) + 1 + len(ascii_domain) > MAX_ADDRESS:
        raise InvalidAddress(f"longer than {MAX_ADDRESS} characters")
    if not local.startswith('"'):
        local = local.lower()
    return f"{local}@{unicode_domain}"


def _check_local_part(local: str, smtputf8: bool) -> str:
    if not local:
        raise InvalidAddress("nothing before the @")
    if len(local.encode()) > MAX_LOCAL_PART:
        raise InvalidAddress(f"the part before the @ is longer than {MAX_LOCAL_PART} bytes")
    if local.startswith('"'):
        if not QUOTED_STRING.match(local):
            raise InvalidAddress("badly quoted text before the @")
        return local
    if not local.isascii():
        if not smtputf8:
            raise InvalidAddress("non-ASCII characters before the @ need a relay that offers SMTPUTF8; set "
                                 "PUBLISHER_SMTP_UTF8=true if yours does")
        if UTF8_DOT_ATOM.match(local):
            return local
    if not DOT_ATOM.match(local) and not (smtputf8 and UTF8_DOT_ATOM.match(local)):
        if ".." in local or local.startswith(".") or local.endswith("."):
            raise InvalidAddress("a dot at the start or end of the name, or two dots in a row")
        bad = sorted({ch for ch in local if not re.match(UTF8_ATEXT if smtputf8 else ATEXT, ch) and ch != "."})
        raise InvalidAddress(f"characters not allowed before the @: {' '.join(repr(ch) for ch in bad)}")
    return local


def _check_domain(domain: str) -> tuple[str, str]:
    if not domain:
        raise InvalidAddress("nothing after the @")
    if domain.startswith("["):
        raise InvalidAddress("IP address literals are not accepted; use a domain name")
    if any(ch.isspace() for ch in domain):
        raise InvalidAddress("spaces in the domain")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        unicode_domain = idna.decode(ascii_domain)
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidAddress(f"not a valid domain name ({exc})") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2:
        raise InvalidAddress("the domain needs a dot, like example.com")
    if len(ascii_domain) > MAX_DOMAIN or not all(LDH_LABEL.match(label) for label in labels):
        raise InvalidAddress("not a valid domain name")
    if labels[-1].isdigit():
        raise InvalidAddress("the domain ends in a number; expected a name like .com")
    return ascii_domain, unicode_domain


def wire_address(email: str) -> str:
    """The address as SMTP and the To: header carry it: the domain in ASCII (punycode); the local
    part as stored (ASCII, a quoted string, or UTF-8 for SMTPUTF8)."""
    local, domain = email.rsplit("@", 1)
    return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


def needs_smtputf8(email: str) -> bool:
    return not email.rsplit("@", 1)[0].isascii()


# The name the subscriber list used before this module existed.
smtp_address = wire_address
