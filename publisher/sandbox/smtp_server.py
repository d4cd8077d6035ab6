"""Loopback SMTP stand-in: a real aiosmtpd server on 127.0.0.1.

EHLO advertises SIZE, 8BITMIME, SMTPUTF8 and AUTH PLAIN LOGIN (no TLS needed on loopback). With a
username configured, AUTH is required and checked; without one any credentials pass. Many messages
per connection are accepted; each is kept as raw bytes + envelope + parsed message.
Like Gmail it refuses a message without a valid Message-ID (550 5.7.1, end of DATA).

Scriptable faults (`set_faults`, or POST /_sandbox/faults on `make_http_app`):
- temporary_next=N, temporary_code=451|421: the next N messages are refused at the end of DATA
  (421 also closes the connection, as servers do);
- temporary_ratio=p: besides those, each message is refused so with probability p (seeded);
- temporary_recipients=[...]: those recipients get temporary_code at RCPT (451, or 421 + close);
- permanent_recipients=[...]: those recipients get 550 5.1.1 at RCPT (smtplib returns them in the
  refused dict, or raises SMTPRecipientsRefused when every recipient is refused);
- disconnect_after=N, disconnect_stage="mail"|"data", disconnect_times=1 (0 = every connection):
  a connection that has accepted N messages since the plan was set is dropped without a reply, either at the next MAIL
  ("mail": that message was not taken) or after storing the next message ("data": it was taken
  but the client never hears so — the "may have been accepted" case).
Setting faults replaces the whole plan and restarts its counters.

Its HTTP window (make_http_app, message_summary) lives in publisher.sandbox.smtp_http.
"""
from __future__ import annotations

import email
import hmac
import random
import logging
import re
import threading
import warnings
from dataclasses import dataclass, fields, replace
from email import policy
from email.message import EmailMessage
from typing import Any, Iterable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from publisher.sandbox.smtp_http import make_http_app, message_summary  # noqa: F401 - importable from here too

DEFAULT_HOST = "127.0.0.1"
DEFAULT_SERVER_NAME = "smtp.sandbox.test"
DATA_SIZE_LIMIT = 32 * 1024 * 1024  # advertised in EHLO SIZE; provider caps vary (UNVERIFIED)

MESSAGE_ID_SHAPE = re.compile(r"^\s*<[^<>@\s]+@[^<>@\s]+>\s*$")  # RFC 5322 3.6.4 msg-id
MISSING_MESSAGE_ID_REPLY = "550 5.7.1 Messages missing a valid Message-ID header are not accepted"  # as Gmail answers
UNKNOWN_RECIPIENT_REPLY = "550 5.1.1 The email account that you tried to reach does not exist"
TEMPORARY_MESSAGE_REPLIES = {
    421: "421 4.7.0 Try again later, closing connection",
    451: "451 4.3.0 Temporary server error, try again later",
}
TEMPORARY_RECIPIENT_REPLIES = {
    421: "421 4.7.0 Try again later, closing connection",
    451: "451 4.7.1 Recipient is receiving mail too fast, try again later",
}
NO_ONE_CLICK_REPLY = ("550 5.7.1 Bulk mail needs List-Unsubscribe with an https URI and "
                      "List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058)")
NO_TEXT_PART_REPLY = "550 5.7.1 Messages need a text/plain part"
DISCONNECT_STAGES = ("mail", "data")


@dataclass(frozen=True)
class SMTPFaults:
    temporary_next: int = 0
    temporary_ratio: float = 0.0
    temporary_code: int = 451
    temporary_recipients: frozenset[str] = frozenset()
    permanent_recipients: frozenset[str] = frozenset()
    disconnect_after: int | None = None
    disconnect_stage: str = "mail"
    disconnect_times: int = 1

    @classmethod
    def from_options(cls, **options: Any) -> "SMTPFaults":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown SMTP fault option(s) {unknown}; known: {sorted(known)}")
        for name in ("temporary_recipients", "permanent_recipients"):
            if name in options:
                options[name] = _address_set(options[name], name)
        plan = replace(cls(), **options)
        if plan.temporary_code not in TEMPORARY_MESSAGE_REPLIES:
            raise ValueError(f"temporary_code must be 421 or 451, not {plan.temporary_code!r}")
        if plan.disconnect_stage not in DISCONNECT_STAGES:
            raise ValueError(f"disconnect_stage must be one of {DISCONNECT_STAGES}, not {plan.disconnect_stage!r}")
        if not 0 <= plan.temporary_ratio <= 1:
            raise ValueError("temporary_ratio must be between 0 and 1")
        if plan.temporary_next < 0 or plan.disconnect_times < 0 or (plan.disconnect_after or 0) < 0:
            raise ValueError("counts must be >= 0")
        return plan


def _address_set(addresses: Iterable[str] | str, name: str) -> frozenset[str]:
    if isinstance(addresses, str):
        raise ValueError(f"{name} must be a list of addresses, not one string")
    return frozenset(address.strip().lower() for address in addresses)


class _LoopbackController(Controller):
    """aiosmtpd's Controller, able to listen on port 0 (it pings its own port once started)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def factory(self) -> SMTP:
        # aiosmtpd warns that AUTH without TLS is unsafe; on loopback that is the point.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()


class SandboxSMTP:
    """A real SMTP server on loopback that records what it accepts; see the module docstring."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, *, username: str | None = None,
                 password: str | None = None, server_name: str = DEFAULT_SERVER_NAME,
                 require_one_click_unsubscribe: bool = False, require_text_part: bool = False):
        self.host = host
        self.requested_port = port
        self.port = port
        self.username = username
        self.password = password or ""
        self.server_name = server_name
        self.require_one_click_unsubscribe = require_one_click_unsubscribe
        self.require_text_part = require_text_part
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._faults = SMTPFaults()
        self._temporary_fired = 0
        self._rng = random.Random(7)
        self._drops = 0
        self._plan_epoch = 0  # bumped by set_faults/reset: connections count messages per plan
        self._connections = 0
        self._controller: _LoopbackController | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "SandboxSMTP":
        # aiosmtpd also logs that warning (and a deprecation) on every connection.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        controller = _LoopbackController(
            _SandboxHandler(self), hostname=self.host, port=self.requested_port,
            server_hostname=self.server_name, data_size_limit=DATA_SIZE_LIMIT, enable_SMTPUTF8=True,
            authenticator=self._authenticate, auth_required=self.username is not None,
            auth_require_tls=False,
        )
        controller.start()
        self._controller = controller
        self.port = controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SandboxSMTP":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what arrived, and the plan ----------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Accepted messages: raw, mail_from, rcpt_tos, message (EmailMessage), connection, auth_user."""
        with self._lock:
            return list(self._messages)

    @property
    def faults(self) -> SMTPFaults:
        with self._lock:
            return self._faults

    def set_faults(self, **options: Any) -> SMTPFaults:
        plan = SMTPFaults.from_options(**options)
        with self._lock:
            self._faults = plan
            self._temporary_fired = 0
            self._drops = 0
            self._plan_epoch += 1
        return plan

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._faults = SMTPFaults()
            self._temporary_fired = 0
            self._drops = 0
            self._plan_epoch += 1

    # --- decisions the handler asks for ------------------------------------------------------

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if self.username is None:
            return AuthResult(success=True, auth_data=auth_data)
        valid = (hmac.compare_digest(auth_data.login, self.username.encode("utf-8"))
                 and hmac.compare_digest(auth_data.password, self.password.encode("utf-8")))
        return AuthResult(success=valid, handled=False, auth_data=auth_data if valid else None)

    def _connection_id(self, session: Session) -> int:
        if not hasattr(session, "sandbox_connection"):
            with self._lock:
                self._connections += 1
                session.sandbox_connection = self._connections
        return session.sandbox_connection

    def _accepted_under_plan(self, session: Session) -> int:
        """Messages this connection had accepted since the fault plan was set (lock held)."""
        if getattr(session, "sandbox_epoch", None) != self._plan_epoch:
            session.sandbox_epoch = self._plan_epoch
            session.sandbox_accepted = 0
        return session.sandbox_accepted

    def _claims_drop(self, session: Session, stage: str) -> bool:
        with self._lock:
            plan = self._faults
            if plan.disconnect_after is None or plan.disconnect_stage != stage:
                return False
            if plan.disconnect_times and self._drops >= plan.disconnect_times:
                return False
            if self._accepted_under_plan(session) < plan.disconnect_after:
                return False
            self._drops += 1
            return True

    def _recipient_refusal(self, address: str) -> str | None:
        plan = self.faults
        if address.lower() in plan.permanent_recipients:
            return UNKNOWN_RECIPIENT_REPLY
        if address.lower() in plan.temporary_recipients:
            return TEMPORARY_RECIPIENT_REPLIES[plan.temporary_code]
        return None

    def _claims_temporary_refusal(self) -> str | None:
        with self._lock:
            if self._temporary_fired >= self._faults.temporary_next:
                if not self._faults.temporary_ratio or self._rng.random() >= self._faults.temporary_ratio:
                    return None
            self._temporary_fired += 1
            return TEMPORARY_MESSAGE_REPLIES[self._faults.temporary_code]

    def _content_refusal(self, message: EmailMessage) -> str | None:
        if not MESSAGE_ID_SHAPE.match(str(message.get("Message-ID", ""))):
            return MISSING_MESSAGE_ID_REPLY
        if self.require_one_click_unsubscribe and not _has_one_click_unsubscribe(message):
            return NO_ONE_CLICK_REPLY
        if self.require_text_part and not any(p.get_content_type() == "text/plain" for p in message.walk()):
            return NO_TEXT_PART_REPLY
        return None

    def _store(self, session: Session, envelope: Envelope, message: EmailMessage) -> None:
        auth = session.auth_data if isinstance(session.auth_data, LoginPassword) else None
        with self._lock:
            session.sandbox_accepted = self._accepted_under_plan(session) + 1
            self._messages.append({
                "raw": bytes(envelope.original_content or b""),
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "message": message,
                "connection": session.sandbox_connection,
                "auth_user": auth.login.decode("utf-8", "replace") if auth else None,
            })


def _has_one_click_unsubscribe(message: EmailMessage) -> bool:
    unsubscribe = str(message.get("List-Unsubscribe", ""))
    one_click = str(message.get("List-Unsubscribe-Post", "")).strip()
    return "<https://" in unsubscribe and one_click == "List-Unsubscribe=One-Click"


def _drop(server: SMTP) -> None:
    """Reset the connection: abort() discards the reply aiosmtpd is about to write."""
    if server.transport is not None:
        server.transport.abort()


def _close_after_reply(server: SMTP) -> None:
    """421 means 'closing': aiosmtpd writes the reply first, the close runs on the next loop turn."""
    if server.transport is not None:
        server.loop.call_soon(server.transport.close)


class _SandboxHandler:
    """aiosmtpd hooks; every decision is SandboxSMTP's."""

    def __init__(self, owner: SandboxSMTP):
        self.owner = owner

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        self.owner._connection_id(session)
        if self.owner._claims_drop(session, "mail"):
            _drop(server)
            return "421 4.4.2 connection dropped"  # never reaches the client
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        refusal = self.owner._recipient_refusal(address)
        if refusal is not None:
            if refusal.startswith("421"):
                _close_after_reply(server)
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self.owner._claims_temporary_refusal()
        if refusal is not None:
            if refusal.startswith("421"):
                _close_after_reply(server)
            return refusal
        raw = bytes(envelope.original_content or b"")
        message = email.message_from_bytes(raw, policy=policy.default)
        refusal = self.owner._content_refusal(message)
        if refusal is not None:
            return refusal
        drop = self.owner._claims_drop(session, "data")
        self.owner._store(session, envelope, message)
        if drop:
            _drop(server)
        return f"250 2.0.0 OK queued as sandbox-{len(self.owner.messages)}"
