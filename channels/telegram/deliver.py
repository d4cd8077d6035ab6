"""Delivery: the send sequence of one payload (plan, claim, call, settle, receipt).

Exactly once: every BotCall is one ledger part "call-<index>-<method>" planned up front with the
sha256 of its canonical JSON; each part is claimed (intent committed) before its request and
settled right after it. Parts are sent strictly in order: a channel post read out of order is
worse than one that stops, so send() never passes a part it could not settle.

Reconciliation: Telegram keeps no record a bot can read back. The Bot API has no method to
list a channel's history, so an "uncertain" part (read timeout, 5xx, dropped connection) or a
"sending" part left by a killed worker cannot be verified. We looked for the one safe check and
found none that is safe enough to run automatically:
- getUpdates does not return the bot's own posts, fails while a webhook is set, and consumes
  updates another integration of the same bot may be waiting for;
- guessing the message id (the last sent id + 1) and probing it with editMessageText,
  copyMessage/forwardMessage or setMessageReaction is a write: it could alter a post another
  admin published in between, post a copy, or ping followers; and a hit would still not prove
  the message is ours.
So the part stays "uncertain" and a person decides: `publisher retry POST --channel telegram
--resolve sent|resend`. The claim → call → settle protocol is channels/parts.py; this module says
how one BotCall is made (with its plain-text fallback) and what the answer means.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from channels.base import PermanentError, Receipt, SendContext, TransientError, UncertainError
from channels.parts import PartRun, Sent, in_flight_seconds
from channels.telegram.channel import describe_part, missing_telegram_settings
from channels.telegram.client import BotApiClient, BotReply
from channels.telegram.errors import PLAIN_TEXT, SENT, TRANSIENT, UNCERTAIN, failure_text, scrub
from channels.telegram.limits import CONNECT_TIMEOUT, PER_CHAT_INTERVAL, READ_TIMEOUT
from channels.telegram.parts import ledger_parts, plain_text_call
from channels.telegram.payload import BotCall, TelegramPayload
from publisher.config import Settings

# Public chats have post links of this form; private ones have none a follower can open.
POST_LINK = "https://t.me/{username}/{message_id}"


log = logging.getLogger("channels.telegram")  # the name it had before the module became a package


def post_link(settings: Settings, message: Mapping[str, Any]) -> str | None:
    """t.me link of a message in a public chat (one with a @username), else None."""
    chat = message.get("chat") if isinstance(message.get("chat"), Mapping) else {}
    configured = settings.telegram_chat_id.strip()
    username = chat.get("username") or (configured[1:] if configured.startswith("@") else "")
    message_id = message.get("message_id")
    return POST_LINK.format(username=username, message_id=message_id) if username and message_id else None


class ChatPacer:
    """One request per `interval` to a chat
    (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this): across all
    workers through ctx.pace when given, else ctx.sleep between two requests of one send()."""

    def __init__(self, ctx: SendContext, interval: float):
        self.ctx, self.interval, self.started = ctx, interval, False

    def wait(self) -> None:
        if self.ctx.pace is not None:
            self.ctx.pace(f"telegram:{self.ctx.settings.telegram_chat_id}", self.interval)
        elif self.started and self.interval > 0:
            self.ctx.sleep(self.interval)
        self.started = True


def send_payload(payload: TelegramPayload, ctx: SendContext, interval: float = PER_CHAT_INTERVAL,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)) -> Receipt:
    missing = missing_telegram_settings(ctx.settings)
    if missing:
        raise PermanentError(f"telegram: not configured: set {' and '.join(missing)}")
    parts = ledger_parts(payload)
    ctx.ledger.plan(parts)
    protocol = PartRun(ctx, "telegram", in_flight_seconds(ctx.settings, timeout),
                       lambda part: describe_part(part, len(parts)).label)
    entries = protocol.refuse_changed(parts)
    client, pacer = BotApiClient(ctx.settings, timeout), ChatPacer(ctx, interval)
    try:
        for index, (call, (part, _sha)) in enumerate(zip(payload.calls, parts), 1):
            # Strictly in order: a channel post read out of order is worse than one that stops.
            entry = protocol.reconcile(entries[part], find=None)  # no history to read: a person decides
            if entry.state == "sent":
                continue
            if entry.state == "uncertain":
                raise _with_notes(protocol.needs_person(entry), protocol.notes, client.token)
            try:
                protocol.send(part, lambda: post_call(ctx, client, pacer, index, call, protocol.notes))
            except (TransientError, UncertainError, PermanentError) as exc:
                raise _with_notes(exc, protocol.notes, client.token) from None
            ctx.progress(index, len(parts))
    finally:
        client.close()
    return protocol.receipt([part for part, _ in parts])


def post_call(ctx: SendContext, client: BotApiClient, pacer: "ChatPacer", index: int, call: BotCall,
              notes: list[str]) -> Sent:
    """Make one Bot API call (once more as plain text if Telegram refuses its HTML) and say what
    the answer means: Sent, or the delivery error to record."""
    pacer.wait()
    reply = client.call(call.method, call.params)
    context = ""
    if reply.outcome == PLAIN_TEXT:
        refused = reply.failure.description if reply.failure else "can't parse entities"
        pacer.wait()
        reply = client.call(call.method, plain_text_call(call).params)
        if reply.outcome == SENT:
            note = f"message {index} sent as plain text: {refused}"
            log.warning("telegram: %s", note)
            notes.append(note)
        context = f"its HTML was refused ({refused}), then as plain text: "
    return outcome_of(ctx.settings, client, index, call, reply, context)


def outcome_of(settings: Settings, client: BotApiClient, index: int, call: BotCall, reply: BotReply,
               context: str = "") -> Sent:
    if reply.outcome == SENT:
        message = reply.result if isinstance(reply.result, Mapping) else {}
        remote_id = str(message["message_id"]) if message.get("message_id") is not None else None
        return Sent(remote_id, post_link(settings, message))
    failure = reply.failure
    assert failure is not None
    what = f"telegram: message {index} ({call.method})"
    text = scrub(context + failure_text(failure), client.token)
    if reply.outcome == TRANSIENT:
        raise TransientError(f"{what} not sent, try again later: {text}", retry_after=reply.retry_after)
    if reply.outcome == UNCERTAIN:
        raise UncertainError(f"{what} may or may not have been posted: {text}")
    # PERMANENT, or PLAIN_TEXT again (the plain retry cannot have entities to parse: give up)
    raise PermanentError(f"{what} refused: {text}")


def _with_notes(exc: Exception, notes: list[str], token: str) -> Exception:
    """The error to raise, with this attempt's plain-text fallbacks so they are not lost."""
    message = str(exc) + (" [earlier in this attempt: " + "; ".join(notes) + "]" if notes else "")
    copy = type(exc)(scrub(message, token), **({"retry_after": exc.retry_after}
                                                 if isinstance(exc, TransientError) else {}))
    return copy
