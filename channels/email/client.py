"""The batch's SMTP connection: smtplib with a note of the DATA stage, opened (TLS, login) on first
use, reopened at most RECONNECTS_PER_BATCH times, paced by the relay's limit; the envelope sender."""
from __future__ import annotations

import re
import smtplib
import socket
import ssl
from typing import Callable

from channels.base import PermanentError, TransientError
from channels.email.errors import (
    REFUSED,
    RESEND,
    SENT,
    _connect_error,
    _sendmail_outcome,
)
from channels.email.limits import (
    RECONNECTS_PER_BATCH,
    SMTP_CONNECT_TIMEOUT,
    SMTP_READ_TIMEOUT,
)
from channels.email.message import _address_of
from publisher.config import Settings
from publisher.rate_limit import local_pacer as _local_pacer


# An address smtplib's quoteaddr would return unchanged inside <>: parsing it per message (its
# email.utils.parseaddr) costs more than building the rest of the envelope.
_PLAIN_ADDRESS = re.compile(r'[^\s<>()\[\],;:"\\@]+@[^\s<>()\[\],;:"\\@]+')


def _angle_quoted(address: str) -> str:
    return f"<{address}>" if _PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


class _NotesDataStage:
    """smtplib's DATA, with the final "." sent on its own after `before_dot` ran (the journal's mark),
    and a note of whether it left: a connection lost before the "." cannot have delivered the
    message (RFC 5321 4.1.1.4: the server keeps nothing of an unfinished DATA), one lost after may
    have."""

    sent_dot = False
    before_dot: Callable[[], None] = staticmethod(lambda: None)

    def mail(self, sender: str, options=()) -> tuple[int, bytes]:
        """smtplib's MAIL FROM, quoting a plain address without parsing it again."""
        optionlist = ""
        if options and self.does_esmtp:  # type: ignore[attr-defined]
            if any(option.lower() == "smtputf8" for option in options):
                if not self.has_extn("smtputf8"):  # type: ignore[attr-defined]
                    raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
                self.command_encoding = "utf-8"
            optionlist = " " + " ".join(options)
        self.putcmd("mail", f"FROM:{_angle_quoted(sender)}{optionlist}")  # type: ignore[attr-defined]
        return self.getreply()  # type: ignore[attr-defined]

    def rcpt(self, recip: str, options=()) -> tuple[int, bytes]:
        """smtplib's RCPT TO, quoting a plain address without parsing it again."""
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""  # type: ignore[attr-defined]
        self.putcmd("rcpt", f"TO:{_angle_quoted(recip)}{optionlist}")  # type: ignore[attr-defined]
        return self.getreply()  # type: ignore[attr-defined]

    def data(self, msg: bytes) -> tuple[int, bytes]:
        self.putcmd("data")  # type: ignore[attr-defined]
        code, reply = self.getreply()  # type: ignore[attr-defined]
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # Dot-stuffing as smtplib.SMTP.data does (RFC 5321 4.5.2), skipped when no line starts
        # with "." (a search is far cheaper than the regular expression over the whole message).
        body = smtplib._quote_periods(msg) if msg.startswith(b".") or b"\n." in msg else msg
        if body[-2:] != smtplib.bCRLF:
            body += smtplib.bCRLF
        self.send(body)  # type: ignore[attr-defined]
        self.before_dot()
        self.sent_dot = True
        self.send(b"." + smtplib.bCRLF)  # type: ignore[attr-defined]
        return self.getreply()  # type: ignore[attr-defined]


class _SMTP(_NotesDataStage, smtplib.SMTP):
    pass


class _SMTPSSL(_NotesDataStage, smtplib.SMTP_SSL):
    pass


class _Connection:
    """The batch's SMTP connection: opened on first use, reopened at most RECONNECTS_PER_BATCH times.
    Its errors are DeliveryErrors raised only before a message left (connecting, reconnecting)."""

    def __init__(self, settings: Settings, sender: str, pace: Callable[[str, float], None] | None = None):
        self.settings = settings
        self.sender = sender
        self.smtp: _SMTP | _SMTPSSL | None = None
        self.opened = 0
        # PUBLISHER_SMTP_MAX_PER_SECOND: the relay's limit, shared by every worker through pace.
        self.pace = pace or _local_pacer
        self.interval = 1.0 / settings.smtp_max_per_second if settings.smtp_max_per_second > 0 else 0.0

    def deliver(self, to_addr: str, message: bytes,
                before_dot: Callable[[], None] = lambda: None) -> tuple[str, str]:
        """Send one message: (outcome, the server's reply or what went wrong). `to_addr` is in its
        wire form (publisher.addresses); a non-ASCII local part goes with SMTPUTF8 (RFC 6531)."""
        if self.interval:
            self.pace(f"smtp:{self.settings.smtp_host}", self.interval)
        while True:
            smtp = self._open()
            options: list[str] = []
            if not to_addr.isascii():
                if not smtp.has_extn("smtputf8"):
                    return REFUSED, (f"not sent: {to_addr} needs SMTPUTF8 and the relay does not offer it "
                                     "(RFC 6531)")
                options = ["SMTPUTF8"]
            smtp.sent_dot, smtp.before_dot = False, before_dot
            try:
                smtp.sendmail(self.sender, [to_addr], message, mail_options=options)
                return SENT, ""
            except (smtplib.SMTPException, OSError) as exc:
                outcome, reply = _sendmail_outcome(exc, smtp.sent_dot)
            if smtp.sock is None:  # smtplib closed it: a drop, a timeout, or a 421
                self.smtp = None
            if outcome != RESEND:
                return outcome, reply

    def _open(self) -> _SMTP | _SMTPSSL:
        if self.smtp is not None:
            return self.smtp
        if self.opened > RECONNECTS_PER_BATCH:
            raise TransientError("the SMTP server dropped the connection again after a reconnect")
        self.opened += 1
        try:
            self.smtp = _open_smtp(self.settings)
        except (smtplib.SMTPException, OSError) as exc:
            raise _connect_error(exc, self.settings) from None
        return self.smtp

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _open_smtp(settings: Settings) -> _SMTP | _SMTPSSL:
    security = settings.smtp_security
    if security == "ssl":
        smtp: _SMTP | _SMTPSSL = _SMTPSSL(settings.smtp_host, settings.smtp_port, timeout=SMTP_CONNECT_TIMEOUT,
                                          context=ssl.create_default_context())
    else:
        smtp = _SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_CONNECT_TIMEOUT)
    try:
        smtp.sock.settimeout(SMTP_READ_TIMEOUT)
        # The final "." goes in a segment of its own (the journal's mark comes first): without
        # NODELAY, Nagle's algorithm would hold it until the body's last segment is acknowledged.
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo()
        if security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _envelope_sender(settings: Settings) -> str:
    if not settings.smtp_host:
        raise PermanentError("email is not configured: set PUBLISHER_SMTP_HOST")
    sender = _address_of(settings.email_from)
    if not sender:
        raise PermanentError(f"PUBLISHER_EMAIL_FROM {settings.email_from!r} has no email address")
    if not (settings.smtp_user.isascii() and settings.smtp_password.isascii()):
        # smtplib's AUTH PLAIN and LOGIN encode the credentials as ASCII and would crash mid-login.
        raise PermanentError("PUBLISHER_SMTP_USER / PUBLISHER_SMTP_PASSWORD contain non-ASCII characters, "
                             "which smtplib cannot send; use an ASCII password")
    return sender
