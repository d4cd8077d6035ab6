"""The confirmation mail of a sign-up (publisher.signup): built with the stdlib email package from
our own text, sent with smtplib over the email channel's SMTP settings (PUBLISHER_SMTP_*: host,
port, security, login), one message per connection.

Nothing the person who signed up typed goes into it but the address, validated by the subscriber
list's grammar (publisher.addresses). Not the name: a form whose name field lands in a mail to any
address is a relay for spam ("Hi <spam text>, confirm..."). From and To are written by the email
channel's own header encoder (channels.email.headers), not by the email package: it decodes an
encoded word in a display name (`=?utf-8?q?=0D=0ABcc:...?=` in PUBLISHER_EMAIL_FROM) into a real
line break and a second header; the package writes only our fixed fields and the body.
"""
from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from publisher.addresses import needs_smtputf8, wire_address
from publisher.config import Settings
from publisher.models import utcnow
from publisher.secrets import redact

SUBJECT = "Please confirm your subscription"


class SignupMailError(Exception):
    """The confirmation mail could not be sent; the text says why (secrets masked)."""


def _sender(settings: Settings) -> tuple[str, str]:
    from channels.email.headers import parse_mailbox

    parsed = parse_mailbox(settings.email_from)
    if parsed is None:
        raise SignupMailError(f"PUBLISHER_EMAIL_FROM {settings.email_from[:80]!r} has no usable address")
    return parsed


def newsletter_name(settings: Settings) -> str:
    """What the mail and the pages call the newsletter: the sender's name, else the site's host."""
    parsed = None
    try:
        parsed = _sender(settings)
    except SignupMailError:
        pass
    return (parsed[0] if parsed and parsed[0] else "") or urlsplit(settings.site_url).hostname or "the newsletter"


def confirmation_message(settings: Settings, address: str, link: str) -> bytes:
    """The mail that carries `link` to `address` (a stored, validated address), as sent."""
    from channels.email.headers import mailbox_field

    sender = _sender(settings)[1]
    from_field = mailbox_field("From", settings.email_from)
    assert from_field is not None  # _sender found the address
    name = newsletter_name(settings)
    hours = settings.signup_confirm_hours
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    message.set_content(
        f"Someone, hopefully you, asked to receive {name} at this address.\n\n"
        f"To confirm, open this link within {hours:g} hours:\n\n{link}\n\n"
        "If you did not ask for it, ignore this message: nothing will be sent to you, and the address "
        f"is forgotten after {hours:g} hours.\n\n{settings.site_url}\n")
    # The address as SMTP carries it: its domain in punycode, a UTF-8 local part only with SMTPUTF8.
    to_field = f"To: {wire_address(address)}\r\n".encode("utf-8")
    return from_field + to_field + message.as_bytes()


def send_confirmation(settings: Settings, address: str, link: str) -> None:
    """Mail the link; SignupMailError when the relay could not be reached or refused it."""
    if not settings.smtp_host:
        raise SignupMailError("email is not configured: set PUBLISHER_SMTP_HOST")
    message = confirmation_message(settings, address, link)
    # The same connection as the mailing (TLS, login, timeouts), so one setting serves both.
    from channels.email.client import _open_smtp

    options = ["SMTPUTF8"] if needs_smtputf8(address) else []
    try:
        smtp = _open_smtp(settings)
        try:
            smtp.sendmail(_sender(settings)[1], [wire_address(address)], message, mail_options=options)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    except smtplib.SMTPRecipientsRefused as exc:
        reply = next(iter(exc.recipients.values()), (0, b""))
        raise SignupMailError(f"the mail server refused the address: {reply[0]} "
                              f"{reply[1].decode('utf-8', 'replace')}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SignupMailError(redact(f"the mail server could not take the message: {exc}", settings)) from None
