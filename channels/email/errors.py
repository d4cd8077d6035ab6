"""What an SMTP reply or failure means: the outcome of one message's attempt (by smtplib exception
and reply class), of opening the connection, and whether a refusal is a bounce; password scrubbing."""
from __future__ import annotations

import base64
import re
import smtplib
import socket
import ssl

from channels.base import PermanentError, TransientError
from publisher.config import Settings

# RFC 5321 4.2.2: 550 mailbox unavailable, 551 user not local, 553 mailbox name not allowed. Only a
# "no such address" reason makes a bounce (RFC 3463 3.2: enhanced status 5.1.x); a 550 for policy
# (5.7.x) or a full mailbox (5.2.2) is no reason to stop mailing someone.
BOUNCE_CODES = frozenset({550, 551, 553})
_UNKNOWN_MAILBOX = re.compile(
    r"^5\.1\.\d{1,3}\b|user unknown|unknown user|no such (?:user|mailbox|recipient|address)|"
    r"does ?n[o']t exist|unknown (?:recipient|mailbox|address)|invalid (?:recipient|mailbox)", re.I)

# What one message's attempt came to.
SENT = "sent"
RETRY = "retry"  # 4xx for this message: the recipient stays claimable, the batch goes on
REFUSED = "refused"  # 5xx for this recipient: failed for good, the batch goes on
UNCERTAIN = "uncertain"  # may have been accepted: never resent on a guess
RESEND = "resend"  # dropped before DATA: the server cannot have taken it
STOP_RETRY = "stop-retry"  # the server will take nothing now (421 closing): batch retried later
STOP_FAIL = "stop-fail"  # nothing can get through (the sender is refused): a setting to fix

# Where in the transaction smtplib.sendmail's exception comes from (exact types, not ancestry:
# SMTPAuthenticationError is an SMTPResponseException too, and means something else).
SENDMAIL_STAGES: dict[type[Exception], str] = {
    smtplib.SMTPHeloError: "helo",
    smtplib.SMTPSenderRefused: "mail",
    smtplib.SMTPRecipientsRefused: "rcpt",  # one address: refused means all refused, so it raises
    smtplib.SMTPDataError: "data",
    smtplib.SMTPServerDisconnected: "dropped",  # also how smtplib reports a read timeout
}
# (stage, reply class) → outcome: 4xx retryable, 5xx permanent per recipient
# (https://www.rfc-editor.org/rfc/rfc5321#section-4.2.1).
# Any 421 means the server is closing the connection: STOP_RETRY whatever the stage.
REPLY_OUTCOMES: dict[tuple[str, int], str] = {
    ("helo", 4): STOP_RETRY, ("helo", 5): STOP_FAIL,
    ("mail", 4): RETRY, ("mail", 5): STOP_FAIL,  # a refused sender refuses every recipient
    ("rcpt", 4): RETRY, ("rcpt", 5): REFUSED,
    ("data", 4): RETRY, ("data", 5): REFUSED,
}

# Opening the connection failed. Nothing was sent, so the claims are released either way; the
# value says which error the batch raises: "retry" TransientError, "fail" PermanentError, "code"
# by the server's reply (4xx retry, 5xx fail). Socket errors not listed here (reset, no route to
# host) mean the server was not reached: "retry".
CONNECT_FAILURES: dict[type[Exception], str] = {
    ConnectionRefusedError: "retry",  # nothing listening (yet)
    TimeoutError: "retry",  # connect or greeting timed out (socket.timeout is TimeoutError)
    socket.gaierror: "retry",  # name lookup failed
    smtplib.SMTPServerDisconnected: "retry",
    ssl.SSLError: "retry",
    ssl.SSLCertVerificationError: "fail",  # wrong host name or untrusted certificate
    smtplib.SMTPNotSupportedError: "fail",  # no STARTTLS or AUTH offered: never fall back to plain
    smtplib.SMTPException: "fail",  # smtplib's "No suitable authentication method found."
    smtplib.SMTPConnectError: "code",  # greeting other than 220 (421 busy, 554 no service)
    smtplib.SMTPHeloError: "code",
    smtplib.SMTPAuthenticationError: "code",  # 535 bad credentials, 454 temporary failure
    smtplib.SMTPResponseException: "code",  # e.g. STARTTLS refused
}


def _sendmail_outcome(exc: Exception, sent_dot: bool) -> tuple[str, str]:
    """What one failed sendmail means. `sent_dot`: the final "." of DATA left, so the message may be
    complete on the server; before it, the server discards the transaction."""
    stage = SENDMAIL_STAGES.get(type(exc))
    if stage is None:
        if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
            stage = "dropped"  # a socket error smtplib did not wrap: the connection is gone
        else:
            raise exc
    if stage == "dropped":
        if sent_dot:
            return UNCERTAIN, (f"connection lost after the message's final '.' ({exc}): the server may have "
                               "taken it and SMTP cannot tell; not resent")
        return RESEND, str(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
    else:
        code, text = exc.smtp_code, exc.smtp_error  # type: ignore[attr-defined]
    reply = _reply_text(code, text)
    if code == 421:
        return STOP_RETRY, f"the server is closing the connection: {reply}"
    outcome = REPLY_OUTCOMES.get((stage, code // 100))
    if outcome is None:  # an unreadable reply (smtplib says -1): after DATA it may have been taken
        return (UNCERTAIN if sent_dot else RETRY), f"unexpected reply: {reply}"
    if outcome == STOP_FAIL and stage == "mail":
        reply = f"the server refused the sender: {reply}"
    return outcome, reply


def _connect_error(exc: Exception, settings: Settings) -> TransientError | PermanentError:
    kind = CONNECT_FAILURES.get(type(exc))
    if kind is None:
        if not isinstance(exc, OSError) or isinstance(exc, smtplib.SMTPException):
            raise exc
        kind = "retry"
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if kind == "code":
        code = exc.smtp_code  # type: ignore[attr-defined]
        message = f"SMTP server {where} answered {_reply_text(code, exc.smtp_error)}"  # type: ignore[attr-defined]
        kind = "retry" if 400 <= code < 500 else "fail"
    else:
        message = f"cannot use SMTP server {where}: {type(exc).__name__}: {exc}"
    message = _scrub(message, settings)
    return TransientError(message) if kind == "retry" else PermanentError(message)


def _reply_text(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


def _scrub(text: str, settings: Settings) -> str:
    """Remove the SMTP password, also as AUTH LOGIN / AUTH PLAIN put it on the wire (base64)."""
    password = settings.smtp_password
    if not password:
        return text
    forms = {password, base64.b64encode(password.encode()).decode(),
             base64.b64encode(f"\0{settings.smtp_user}\0{password}".encode()).decode()}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _is_unknown_mailbox(reply: str) -> bool:
    code, _, text = reply.partition(" ")
    return code.isdigit() and int(code) in BOUNCE_CODES and _UNKNOWN_MAILBOX.search(text) is not None
