"""The sign-up form in a real browser (Debian's headless Chromium driven by Playwright) against a
real `publisher serve` (waitress, in its own process), the sandbox's SMTP server, and real
`publisher publish` presses: a reader signs up; exactly one confirmation mail arrives; a press
before confirming does not mail them; opening the link (and pressing Confirm) makes them active;
the next press mails them; signing up again changes nothing and mails nothing.

Chromium sends the form with its own Origin header, so the same-origin check is exercised as a
browser really sends it."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from publisher.sandbox.run import start_sandbox
from tests.conftest import ROOT, SAMPLE, run_cli

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                "(apt-get install chromium); the browser tests need it")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
expect = playwright_api.expect

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
READER = "new.reader@example.org"
SUBJECT = "Please confirm your subscription"
ACTIVE = 8  # examples/subscribers.csv: 10 rows, one unsubscribed, one bounced
WAIT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The sandbox, the example list, and `publisher serve` on a free port. PUBLISHER_SITE_URL is
    the sandbox's https://example.com (a live mailing needs an https site for its unsubscribe
    links): in production a proxy serves /subscribe and /unsubscribe on the site; here the test
    opens the mailed link's path on the server."""
    tmp = tmp_path_factory.mktemp("signup-browser")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with start_sandbox() as sandbox:
        env = {**sandbox.env(), "PUBLISHER_DB_URL": f"sqlite:///{tmp / 'state.db'}",
               "PUBLISHER_SECRET_KEY": "signup-browser-secret", "PUBLISHER_DESK_PASSWORD": "signup browser desk 42",
               "PUBLISHER_OUTBOX_DIR": str(tmp / "outbox"), "PUBLISHER_JOURNAL_DIR": str(tmp / "journal"),
               "PUBLISHER_CONTENT_DIR": str(tmp)}
        imported = run_cli("subscribers", "import", str(ROOT / "examples" / "subscribers.csv"), env=env)
        assert imported.returncode == 0, imported.stderr
        server_env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")} | env
        server = subprocess.Popen([sys.executable, "-m", "publisher", "serve", "--port", str(port)], env=server_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_until(lambda: _answers(f"{url}/healthz"), "publisher serve to answer")
            yield {"url": url, "env": env, "sandbox": sandbox}
        finally:
            server.terminate()
            server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture(scope="module")
def page():
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context()
        context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
        yield context.new_page()
        browser.close()


def mails(site) -> list[dict]:
    return site["sandbox"].smtp.messages


def confirmations_to(site, address: str) -> list[dict]:
    return [m for m in mails(site) if m["message"]["Subject"] == SUBJECT and m["rcpt_tos"] == [address]]


def issues_to(site) -> list[str]:
    return [m["rcpt_tos"][0] for m in mails(site) if m["message"]["Subject"] != SUBJECT]


def rows_for(site, address: str) -> list[dict]:
    listed = run_cli("subscribers", "list", "--all", "--search", address, "--json", env=site["env"])
    assert listed.returncode == 0, listed.stderr
    return [row for row in json.loads(listed.stdout) if row["email"] == address]


def sign_up_in_browser(page, site, address: str, name: str = "") -> None:
    page.goto(f"{site['url']}/subscribe")
    page.get_by_test_id("email").fill(address)
    if name:
        page.get_by_test_id("name").fill(name)
    page.get_by_test_id("subscribe").click()
    expect(page.get_by_test_id("check-inbox")).to_be_visible()


def publish(site, *args: str) -> None:
    pressed = run_cli("publish", str(SAMPLE), "--yes", "--channel", "email", *args, env=site["env"])
    assert pressed.returncode == 0, pressed.stdout + pressed.stderr


def test_a_reader_signs_up_confirms_and_gets_the_next_issue(page, site):
    sign_up_in_browser(page, site, READER, "New Reader")
    wait_until(lambda: confirmations_to(site, READER), "the confirmation mail")
    assert [row["status"] for row in rows_for(site, READER)] == ["pending"]

    # a press before confirming mails the active list, not the pending reader
    publish(site)
    issued = issues_to(site)
    assert len(issued) == ACTIVE == len(set(issued)) and READER not in issued
    assert len(confirmations_to(site, READER)) == 1 and len(mails(site)) == ACTIVE + 1

    path = re.search(r"https://example\.com(/subscribe/confirm/\S+)",
                     confirmations_to(site, READER)[0]["message"].get_content()).group(1)
    link = site["url"] + path
    page.goto(link)  # opening the link in a browser confirms it
    expect(page.get_by_test_id("confirmed")).to_be_visible()
    assert [row["status"] for row in rows_for(site, READER)] == ["active"]
    page.goto(link)  # a second opening says the link was used
    expect(page.get_by_test_id("used")).to_be_visible()

    publish(site, "--again")
    issued = issues_to(site)
    assert issued.count(READER) == 1 and len(issued) == 2 * ACTIVE + 1

    # the same address again: the same neutral page, no second row, no state change, no mail. The
    # mails leave the server in order from one sender thread: once a later sign-up's mail arrived,
    # a mail for the first would have arrived before it.
    sign_up_in_browser(page, site, READER, "Someone Else")
    sign_up_in_browser(page, site, "marker@example.org")
    wait_until(lambda: confirmations_to(site, "marker@example.org"), "the marker's confirmation mail")
    assert len(confirmations_to(site, READER)) == 1
    rows = rows_for(site, READER)
    assert [(row["status"], row["name"]) for row in rows] == [("active", "New Reader")]
