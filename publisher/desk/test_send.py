"""The post page's "Send a test": the post's email to one address, through the CLI's own path
(publisher.test_send.send_test), drafts included. The desk's login and CSRF guard every POST
(publisher.desk.auth); the hour's test sends are limited in the store (PUBLISHER_TEST_SENDS_PER_HOUR),
so a stolen session cannot turn the desk into a relay: over the limit, 429 and nothing sent."""
from __future__ import annotations

from typing import Any

from flask import current_app, request

from publisher.desk.blueprint import _app_parts, desk
from publisher.desk.press import answer
from publisher.desk.shelf import shelf_entry_or_404
from publisher.errors import InputError
from publisher.secrets import redact
from publisher.test_send import TestSendsExhausted, send_test
from publisher.test_send_status import listed_test_sends

ADDRESS_FIELD = "address"
TESTS_SHOWN = 3  # on the post page, newest first


@desk.post("/posts/<slug>/test-send")
def test_send(slug: str) -> Any:
    settings, store, _, _ = _app_parts()
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        return answer(422, f"not loadable: {entry.error or ''}")
    address = request.form.get(ADDRESS_FIELD, "")
    try:
        result = send_test(entry.path, settings, address, requested_by="desk", where_to="Send a test",
                           store=store)
    except TestSendsExhausted as exc:
        return answer(429, f"Nothing was sent: {exc.what}.")
    except InputError as exc:
        return answer(422, redact(f"Nothing was sent. {exc.where}: {exc.what}", settings))
    current_app.logger.info("desk: test send %s of %s", result.test_id, entry.slug)
    email = result.outcomes[0]
    if result.ok:
        message = f"Test email sent to {result.to_email} (subject “{result.subject}”); not counted as the post's delivery."
    else:
        message = f"The test email to {result.to_email} was not sent ({email.state}): {email.detail}"
    if result.problems:
        message += " A real press would stop on: " + "; ".join(result.problems)
    return answer(200 if result.ok else 502, message, test_id=result.test_id, state=email.state)


@desk.app_context_processor
def test_send_globals() -> dict:
    def recent_test_sends(slug: str) -> list[dict]:
        return listed_test_sends(_app_parts()[1], slug, TESTS_SHOWN)

    return {"recent_test_sends": recent_test_sends}
