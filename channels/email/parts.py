"""Ledger parts of a mailing: one per recipient, "to:<address in lower case>", planned with the hash
of the post's message template. Pure: the orchestrator plans a whole mailing with these."""
from __future__ import annotations

import hashlib
from typing import Iterable

from channels.base import PartView, Recipient
from channels.email.limits import PART_PREFIX
from channels.email.message import EmailPayload


def recipient_part(address: str) -> str:
    """The ledger part of one recipient: stable across runs and case-insensitive."""
    return PART_PREFIX + address.strip().lower()


def content_sha256(payload: EmailPayload) -> str:
    """One hash per post: what every recipient's part is planned with."""
    return hashlib.sha256(payload.template).hexdigest()


def mailing_parts(payload: EmailPayload, recipients: Iterable[Recipient]) -> list[tuple[str, str]]:
    """(part, content sha256) for Ledger.plan: the orchestrator plans a whole mailing with it."""
    return address_parts(payload, (r.email for r in recipients))


def address_parts(payload: EmailPayload, addresses: Iterable[str]) -> list[tuple[str, str]]:
    """mailing_parts from the addresses alone: planning needs no unsubscribe URL."""
    sha = content_sha256(payload)
    return [(part, sha) for part in dict.fromkeys(recipient_part(address) for address in addresses)]


def describe_part(part: str) -> PartView:
    """"to:reader@example.com" → the address; one of thousands: no row of its own once sent."""
    return PartView(part.removeprefix(PART_PREFIX), listed_when_sent=False)
