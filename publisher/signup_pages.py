"""The public sign-up pages (double opt-in: publisher.signup), registered by publisher.web.create_app.

Routes (no login, no session):
  GET  /subscribe                  the form: an address, an optional name, and a honeypot field
                                   people never see (a bot that fills it gets the usual answer and
                                   nothing happens)
  POST /subscribe                  sign up: the same page whatever the address (new, pending,
                                   active, unsubscribed), so the form tells nobody who is on the
                                   list; the mail goes out from one sender thread, so the answer
                                   takes as long whether a mail is sent or not
  GET  /subscribe/confirm/<token>  opened in a browser (a top-level navigation: Sec-Fetch-Mode
                                   navigate, Sec-Fetch-Dest document), confirms at once; any other
                                   GET (mail scanners and link previewers open every link in a
                                   message, with plain HTTP clients) only shows a Confirm button
  POST /subscribe/confirm/<token>  confirm: the address becomes active, once

Cross-site posts: a page on another site could make its visitors' browsers sign up addresses of its
choosing (spreading a mail-bombing over many clients, past the per-client limit). The form is a
plain form without a session, so the check is the request's Origin (else its Referer) when the
browser sends one: PUBLISHER_SITE_URL's, one of PUBLISHER_SIGNUP_ORIGINS, or this app's own origin
when it is reached on loopback (a Host header elsewhere may be a rebound name of another site).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, render_template, request

from publisher.addresses import InvalidAddress
from publisher.config import Settings
from publisher.desk.limits import client_key, is_loopback
from publisher.signup import CONFIRM_PATH, Signups, TooManySignups, signup_address, signup_name
from publisher.signup_mail import SignupMailError, newsletter_name, send_confirmation
from publisher.store import Store

signup = Blueprint("signup", __name__)
log = logging.getLogger("publisher.signup")

# Confirmation mails waiting for the relay (a slow or stuck one, a flood from many networks): past
# this many the form answers 503 and writes nothing, so the sender's queue, and memory, stay bounded.
MAX_QUEUED_MAILS = 200
HONEYPOT_FIELD = "website"  # a name bots like to fill; people never see the field
DEFAULT_PORTS = {"http": 80, "https": 443}
# The form page sends its own origin with its POST: under Referrer-Policy no-referrer a browser
# sends "Origin: null" (https://fetch.spec.whatwg.org/#serializing-a-request-origin), which the
# origin check would refuse; same-origin gives nothing to other sites.
PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")
FORM_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "Content-Security-Policy": PAGE_POLICY}
# A confirmation link is a secret until used: never sent to other sites, never indexed or cached.
LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
                "Content-Security-Policy": PAGE_POLICY}


def attach_signup(app: Flask) -> None:
    """Register the pages; their one sender thread lives as long as the app."""
    app.extensions["publisher"]["signup_slots"] = threading.BoundedSemaphore(MAX_QUEUED_MAILS)
    app.extensions["publisher"]["signup_mailer"] = ThreadPoolExecutor(max_workers=1,
                                                                      thread_name_prefix="signup-mail")
    app.register_blueprint(signup)


def mails_sent(app: Flask) -> None:
    """Wait until every confirmation mail handed to the sender thread so far has been tried."""
    app.extensions["publisher"]["signup_mailer"].submit(lambda: None).result(timeout=120)


def _parts() -> tuple[Settings, Store]:
    parts = current_app.extensions["publisher"]
    return parts["settings"], parts["store"]


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme, host = (parts.scheme or "").lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return ""
    port = parts.port if parts.port and parts.port != DEFAULT_PORTS.get(scheme) else None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _from_allowed_origin(settings: Settings) -> bool:
    allowed = {_origin(settings.site_url)}
    allowed |= {_origin(extra) for extra in settings.signup_origins.split(",") if extra.strip()}
    # The Host header names this app's own origin only on loopback: elsewhere a page whose name was
    # re-pointed at this server's address (DNS rebinding) would send a Host and an Origin of its own.
    if is_loopback(urlsplit(request.host_url).hostname):
        allowed.add(_origin(request.host_url))
    allowed.discard("")
    try:
        origin = request.headers.get("Origin")
        if origin is not None:
            return _origin(origin) in allowed  # "null" (a sandboxed or privacy-restricted page) is not
        referer = request.headers.get("Referer")
        return _origin(referer) in allowed if referer else True
    except ValueError:  # a port that is not a number
        return False


def _form(error: str = "", status: int = 200, email: str = "", name: str = "") -> tuple[str, int]:
    settings = _parts()[0]
    return render_template("subscribe.html", error=error, email=email, name=name, honeypot=HONEYPOT_FIELD,
                           newsletter=newsletter_name(settings), site_url=settings.site_url), status


def _message(heading: str, message: str, status: int = 200, test_id: str = "message",
             offer_form: bool = True) -> tuple[str, int]:
    settings = _parts()[0]
    return render_template("subscribe_message.html", heading=heading, message=message, test_id=test_id,
                           offer_form=offer_form, newsletter=newsletter_name(settings),
                           site_url=settings.site_url), status


def _neutral() -> tuple[str, int]:
    hours = _parts()[0].signup_confirm_hours
    return _message("Check your inbox", "If this address can be subscribed, a message with a link to confirm "
                    f"is on its way; the link works for {hours:g} hours. Nothing arrived? Look in the spam "
                    "folder, or try again in ten minutes.", test_id="check-inbox", offer_form=False)


@signup.get("/subscribe")
def subscribe_form():
    return _form()


@signup.post("/subscribe")
def subscribe():
    settings, store = _parts()
    if not _from_allowed_origin(settings):
        return _message("This form was sent from another site",
                        "Sign up on the newsletter's own page.", 403, test_id="other-site")
    if request.form.get(HONEYPOT_FIELD):
        return _neutral()
    email, name = request.form.get("email", ""), request.form.get("name", "")
    kept = {"email": email[:320], "name": name[:200]}
    try:
        signup_address(email, settings.smtp_utf8)
    except InvalidAddress as exc:
        return _form(f"Email address: {exc}.", 400, **kept)
    try:
        signup_name(name)
    except InvalidAddress as exc:
        return _form(f"Name: {exc}.", 400, **kept)
    if not settings.smtp_host:
        return _message("Sign-up is closed for now", "This newsletter cannot send mail yet. Please try again "
                        "later.", 503, test_id="closed")
    slots = current_app.extensions["publisher"]["signup_slots"]
    if not slots.acquire(blocking=False):  # before anything is written: the reader may simply try again
        page, status = _message("Sign-up is busy", "Too many sign-ups are waiting for their mail. Please try "
                                "again in a few minutes.", 503, test_id="busy")
        return Response(page, status, headers={"Retry-After": "60"})
    try:
        result = Signups(store, settings).request(email, name, client=client_key(request.remote_addr))
        if result.link is not None:
            current_app.extensions["publisher"]["signup_mailer"].submit(_mail, settings, result.address,
                                                                        result.link, slots)
            slots = None  # the sender thread gives it back
    except TooManySignups as exc:
        page, status = _message("Too many sign-ups", "Too many sign-ups came from your network. Please try "
                                "again later.", 429, test_id="too-many")
        return Response(page, status, headers={"Retry-After": str(exc.retry_after)})
    finally:
        if slots is not None:
            slots.release()
    log.info("sign-up: %s", result.outcome)
    return _neutral()


def _mail(settings: Settings, address: str, link: str, slots: threading.Semaphore | None = None) -> None:
    try:
        send_confirmation(settings, address, link)
    except SignupMailError as exc:
        log.warning("confirmation mail not sent: %s", exc)
    except Exception:  # noqa: BLE001 - the sender thread must survive anything one mail does
        log.exception("confirmation mail not sent")
    finally:
        if slots is not None:
            slots.release()


def _opened_in_a_browser() -> bool:
    """A person's browser opening the link: browsers send Fetch Metadata on every navigation
    (https://www.w3.org/TR/fetch-metadata/); scanners and prefetchers using HTTP libraries do not,
    and a browser's own prefetch says so in Sec-Purpose."""
    headers = request.headers
    return (headers.get("Sec-Fetch-Mode") == "navigate" and headers.get("Sec-Fetch-Dest") == "document"
            and "prefetch" not in headers.get("Sec-Purpose", "") + headers.get("Purpose", ""))


@signup.get(f"{CONFIRM_PATH}<token>")
def confirm_page(token: str):
    if _opened_in_a_browser():
        return confirm(token)
    found = Signups(_parts()[1], _parts()[0]).check(token)
    if found.outcome != "confirmable":
        return _link_answer(found.outcome)
    return render_template("subscribe_confirm.html", action_url=request.path,
                           newsletter=newsletter_name(_parts()[0]), site_url=_parts()[0].site_url)


@signup.post(f"{CONFIRM_PATH}<token>")
def confirm(token: str):
    found = Signups(_parts()[1], _parts()[0]).confirm(token)
    if found.outcome == "confirmed":
        log.info("sign-up confirmed")
        return _message("You are subscribed", f"Welcome! The next issue of {newsletter_name(_parts()[0])} "
                        "will be in your inbox.", test_id="confirmed", offer_form=False)
    return _link_answer(found.outcome)


def _link_answer(outcome: str) -> tuple[str, int]:
    hours = _parts()[0].signup_confirm_hours
    if outcome == "expired":
        return _message("This link has expired", f"Confirmation links work for {hours:g} hours. Sign up "
                        "again to get a new one.", 410, test_id="expired")
    if outcome == "used":
        return _message("This link was already used", "It cannot be used again. If you are not receiving the "
                        "newsletter, sign up again.", 409, test_id="used")
    return _message("This link is not valid", "It may have been cut off or changed. Copy the whole link from "
                    "the email, or sign up again.", 400, test_id="invalid")


@signup.after_request
def page_headers(response: Response) -> Response:
    headers = LINK_HEADERS if request.path.startswith(CONFIRM_PATH) else FORM_HEADERS
    response.headers.update(headers)
    return response


__all__ = ["HONEYPOT_FIELD", "attach_signup", "mails_sent", "signup"]
