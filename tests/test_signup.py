"""Readers who sign themselves up (publisher.signup, signup_mail, signup_pages): the form through
Flask's test client, the confirmation mail through a real SMTP server on loopback (the sandbox's
aiosmtpd), the store on SQLite (and PostgreSQL for the limits under concurrency), the CLI in a
subprocess. Time moves through the clock Signups takes, never by sleeping."""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import func, select

from publisher.config import load_settings
from publisher.models import SignupAttempt, Subscriber, utcnow
from publisher.sandbox.smtp_server import SandboxSMTP
from publisher.signup import CLIENT_LIMITS, Signups
from publisher.signup_pages import HONEYPOT_FIELD, mails_sent
from publisher.store import Store
from publisher.subscribers import Subscribers, active_recipients
from publisher.web import create_app
from tests.conftest import run_cli

SITE = "https://news.example.org"
SAME_SITE = {"Origin": SITE}
LINK = re.compile(re.escape(SITE) + r"(/subscribe/confirm/[A-Za-z0-9_.-]+)")


@pytest.fixture(scope="module")
def smtp():
    with SandboxSMTP() as running:
        yield running


def make_env(smtp, db_url: str, **extra: str) -> dict[str, str]:
    return {"PUBLISHER_DB_URL": db_url, "PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_PORT": str(smtp.port),
            "PUBLISHER_SITE_URL": SITE, "PUBLISHER_EMAIL_FROM": "Field Notes <news@example.org>",
            "PUBLISHER_SECRET_KEY": "signup-test-secret", **extra}


@pytest.fixture
def env(smtp, tmp_path):
    smtp.reset()
    return make_env(smtp, f"sqlite:///{tmp_path / 'signup.db'}")


@pytest.fixture
def settings(env):
    return load_settings(env=env)


@pytest.fixture
def store(settings):
    opened = Store(settings.db_url)
    yield opened
    opened.dispose()


@pytest.fixture
def app(settings, store):
    made = create_app(settings, store)
    yield made
    mails_sent(made)  # no mail of this test may arrive during the next one


@pytest.fixture
def client(app):
    return app.test_client()


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def sign_up(client, email: str, name: str = "", headers: dict | None = None, client_ip: str = "198.51.100.7",
            **fields: str):
    return client.post("/subscribe", data={"email": email, "name": name, **fields},
                       headers=SAME_SITE if headers is None else headers,
                       environ_base={"REMOTE_ADDR": client_ip})


def mails(app, smtp) -> list[dict]:
    mails_sent(app)
    return smtp.messages


def link_in(message: dict) -> str:
    return LINK.search(message["message"].get_content()).group(1)


def row(store, email: str) -> Subscriber | None:
    with store.read_session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def rows_of(store, email: str) -> int:
    with store.read_session() as session:
        return session.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.email == email))


def attempts(store) -> int:
    with store.read_session() as session:
        return session.scalar(select(func.count()).select_from(SignupAttempt))


# -- the round trip ------------------------------------------------------------------------------------

def test_a_sign_up_mails_one_link_and_opening_it_confirms_once(app, client, smtp, store):
    page = sign_up(client, "Reader@Example.org", "Ada Reader")
    assert page.status_code == 200 and 'data-testid="check-inbox"' in page.text
    assert row(store, "reader@example.org").status == "pending"
    got = mails(app, smtp)
    assert len(got) == 1 and got[0]["rcpt_tos"] == ["reader@example.org"]
    message = got[0]["message"]
    assert message["Subject"] == "Please confirm your subscription"
    assert message["From"] == "Field Notes <news@example.org>" and message["To"] == "reader@example.org"
    assert "48 hours" in message.get_content()

    path = link_in(got[0])
    shown = client.get(path)  # what a mail scanner does: it changes nothing
    assert shown.status_code == 200 and 'data-testid="confirm"' in shown.text
    assert shown.headers["Referrer-Policy"] == "no-referrer" and shown.headers["Cache-Control"] == "no-store"
    assert row(store, "reader@example.org").status == "pending"

    confirmed = client.post(path)
    assert confirmed.status_code == 200 and 'data-testid="confirmed"' in confirmed.text
    assert row(store, "reader@example.org").status == "active"
    again = client.post(path)
    assert again.status_code == 409 and "already used" in again.text
    assert client.get(path).status_code == 409
    assert len(mails(app, smtp)) == 1


BROWSER_NAVIGATION = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none"}


def test_a_browser_opening_the_link_confirms_and_a_prefetch_does_not(app, client, smtp, store):
    sign_up(client, "opener@example.org")
    path = link_in(mails(app, smtp)[0])
    prefetch = client.get(path, headers={**BROWSER_NAVIGATION, "Sec-Purpose": "prefetch"})
    assert 'data-testid="confirm"' in prefetch.text and row(store, "opener@example.org").status == "pending"
    opened = client.get(path, headers=BROWSER_NAVIGATION)
    assert opened.status_code == 200 and 'data-testid="confirmed"' in opened.text
    assert row(store, "opener@example.org").status == "active"
    assert client.get(path, headers=BROWSER_NAVIGATION).status_code == 409  # one use


def test_pending_gets_no_issue_and_is_never_counted_active(app, client, smtp, store, settings):
    book = Subscribers(store, settings)
    book.add("old@example.org")
    sign_up(client, "new@example.org")
    assert row(store, "new@example.org").status == "pending"
    assert book.count() == {"active": 1, "pending": 1, "unsubscribed": 0, "bounced": 0}
    assert [s.email for batch in active_recipients(store) for s in batch] == ["old@example.org"]
    assert [s.email for s in book.list("active")] == ["old@example.org"]
    assert [s.email for s in book.list("pending")] == ["new@example.org"]


# -- the neutral answer ----------------------------------------------------------------------------------

def test_every_address_gets_the_same_answer(app, client, smtp, store, settings):
    book = Subscribers(store, settings)
    book.add("active@example.org", "Active")
    book.add("gone@example.org")
    book.remove("gone@example.org")
    sign_up(client, "waiting@example.org")
    before = row(store, "active@example.org")

    answers = {email: sign_up(client, email, "Someone Else")
               for email in ("fresh@example.org", "active@example.org", "gone@example.org", "waiting@example.org")}
    assert {(a.status_code, a.text) for a in answers.values()} == {(200, answers["fresh@example.org"].text)}

    # no mail to the active one, none to the one mailed a minute ago; the unsubscribed one may opt in
    assert sorted(m["rcpt_tos"][0] for m in mails(app, smtp)) == [
        "fresh@example.org", "gone@example.org", "waiting@example.org"]
    after = row(store, "active@example.org")
    assert (after.status, after.name, after.updated_at) == ("active", "Active", before.updated_at)
    assert rows_of(store, "active@example.org") == 1
    assert row(store, "gone@example.org").status == "unsubscribed"  # until the link is opened


def test_an_unsubscribed_reader_comes_back_only_through_the_link(app, client, smtp, store, settings):
    book = Subscribers(store, settings)
    book.add("back@example.org")
    book.remove("back@example.org")
    sign_up(client, "back@example.org")
    path = link_in(mails(app, smtp)[0])
    clock = Clock()
    clock.advance(hours=49)
    assert Signups(store, settings, clock=clock).prune() == 0  # a sign-up nobody confirms erases nothing
    assert row(store, "back@example.org").status == "unsubscribed"
    assert client.post(path).status_code == 200
    assert row(store, "back@example.org").status == "active"


# -- bots, mail-bombing, other sites ----------------------------------------------------------------------

def test_a_filled_honeypot_gets_the_usual_page_and_nothing_happens(app, client, smtp, store):
    page = sign_up(client, "victim@example.org", **{HONEYPOT_FIELD: "http://spam.example"})
    assert page.status_code == 200 and 'data-testid="check-inbox"' in page.text
    assert row(store, "victim@example.org") is None and attempts(store) == 0 and mails(app, smtp) == []
    form = client.get("/subscribe").text
    assert f'name="{HONEYPOT_FIELD}"' in form and 'tabindex="-1"' in form


def test_one_address_gets_one_mail_per_ten_minutes_and_five_a_day(store, settings):
    clock = Clock()
    start = clock.now
    signups = Signups(store, settings, clock=clock)
    outcomes = []
    for minutes in (0, 5, 11, 15, 60, 120, 180, 200, 300):
        clock.now = start + timedelta(minutes=minutes)
        signup = signups.request("bomb@example.org", client=None)
        outcomes.append(signup.outcome)
        assert (signup.link is None) == (signup.outcome == "limited")
    # links at 0, 11, 60, 120 and 180 (five in the day); none at 5 and 15 (too soon), 200 and 300 (day full)
    assert outcomes == ["new", "limited", "again", "limited", "again", "again", "again", "limited", "limited"]
    clock.now = start + timedelta(hours=24, minutes=1)
    assert signups.request("bomb@example.org").outcome == "again"


def test_one_client_gets_ten_sign_ups_an_hour_then_429(app, client, smtp, store):
    allowed, _ = CLIENT_LIMITS[0]
    for number in range(allowed):
        assert sign_up(client, f"reader{number}@example.org", client_ip="203.0.113.9").status_code == 200
    refused = sign_up(client, "one-more@example.org", client_ip="203.0.113.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert row(store, "one-more@example.org") is None
    # another client is not affected; IPv6 clients count per /64 (one host holds the whole /64)
    assert sign_up(client, "one-more@example.org", client_ip="198.51.100.20").status_code == 200
    for number in range(allowed):
        sign_up(client, f"six{number}@example.org", client_ip=f"2001:db8:1:2::{number + 1}")
    assert sign_up(client, "six-more@example.org", client_ip="2001:db8:1:2::ff").status_code == 429
    assert len(mails(app, smtp)) == 2 * allowed + 1


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_client_limit_holds_across_processes_and_threads(database, smtp, tmp_path, request):
    """Four apps on one store (as four `publisher serve` processes would be), ten threads each, one
    client: exactly the limit gets through. (Without the per-key lock PostgreSQL let 11 through in
    about one run of three at this concurrency; SQLite's write lock serialises them anyway.)"""
    db_url = request.getfixturevalue("pg_url") if database == "postgresql" else f"sqlite:///{tmp_path / 'race.db'}"
    smtp.reset()
    settings = load_settings(env=make_env(smtp, db_url))
    stores = [Store(db_url) for _ in range(4)]
    stores[0].create_schema()
    apps = [create_app(settings, each) for each in stores]
    statuses: list[int] = []
    start = threading.Barrier(40)

    def one(app, number: int) -> None:
        start.wait()
        statuses.append(sign_up(app.test_client(), f"race{number}@example.org", client_ip="192.0.2.50").status_code)

    threads = [threading.Thread(target=one, args=(apps[n % 4], n)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for each in apps:
        mails_sent(each)
    allowed = CLIENT_LIMITS[0][0]
    assert sorted(statuses) == [200] * allowed + [429] * (40 - allowed)
    assert len(smtp.messages) == allowed
    for each in stores:
        each.dispose()


def test_posts_from_other_sites_are_refused(app, client, smtp, store, env):
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Referer": "https://evil.example/page"}, {"Origin": "https://news.example.org.evil.example"}):
        answer = sign_up(client, "csrf@example.org", headers=headers)
        assert answer.status_code == 403, headers
    assert row(store, "csrf@example.org") is None and attempts(store) == 0
    for headers in ({"Origin": SITE}, {"Referer": f"{SITE}:443/blog/post"}, {"Origin": "http://localhost"}, {}):
        assert sign_up(client, "ok@example.org", headers=headers).status_code == 200, headers
    other = create_app(load_settings(env={**env, "PUBLISHER_SIGNUP_ORIGINS": "https://blog.example.net"}),
                       Store(env["PUBLISHER_DB_URL"]))
    from_blog = sign_up(other.test_client(), "blog@example.org", headers={"Origin": "https://blog.example.net"})
    assert from_blog.status_code == 200
    mails_sent(other)


# -- links --------------------------------------------------------------------------------------------

def test_an_expired_link_says_so_and_the_pending_entry_goes(app, client, store, settings):
    clock = Clock()
    clock.advance(hours=-49)
    old = Signups(store, settings, clock=clock).request("late@example.org")
    path = old.link.removeprefix(SITE)
    answer = client.get(path)
    assert answer.status_code == 410 and "expired" in answer.text
    assert client.post(path).status_code == 410 and row(store, "late@example.org").status == "pending"
    sign_up(client, "someone@example.org")  # a new sign-up prunes what expired unconfirmed
    assert row(store, "late@example.org") is None and row(store, "someone@example.org").status == "pending"


def test_a_link_made_stale_by_a_later_change_never_activates(app, client, smtp, store, settings):
    book = Subscribers(store, settings)
    sign_up(client, "twice@example.org")
    path = link_in(mails(app, smtp)[0])
    assert client.post(path).status_code == 200
    book.remove("twice@example.org")
    assert client.post(path).status_code == 409
    assert row(store, "twice@example.org").status == "unsubscribed"

    sign_up(client, "editor-added@example.org")
    path = link_in(mails(app, smtp)[1])
    book.add("editor-added@example.org")  # the editor vouches: active at once
    book.remove("editor-added@example.org")
    assert client.post(path).status_code == 409
    assert row(store, "editor-added@example.org").status == "unsubscribed"


def test_forged_altered_or_foreign_links_are_not_valid(app, client, smtp, store, settings, env):
    sign_up(client, "forge@example.org")
    path = link_in(mails(app, smtp)[0])
    foreign = Signups(store, load_settings(env={**env, "PUBLISHER_SECRET_KEY": "another-key"})).request(
        "forge2@example.org").link.removeprefix(SITE)
    for bad in (path[:-3] + "xyz", path + "x", "/subscribe/confirm/not-a-token", foreign,
                "/subscribe/confirm/" + "a" * 5000):
        answer = client.post(bad)
        assert answer.status_code == 400 and row(store, "forge@example.org").status == "pending", bad
    with store.session() as session:
        session.delete(session.scalars(select(Subscriber).where(Subscriber.email == "forge@example.org")).one())
    assert client.post(path).status_code == 400


# -- hostile input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("email, name, field", [
    ("reader@example.org", "Ada\r\nBcc: victim@example.net", "Name"),
    ("reader@example.org", "Ada\nX-Injected: 1", "Name"),
    ("reader@example.org\r\nBcc: victim@example.net", "", "Email address"),
    ("reader@example.org>, victim@example.net", "", "Email address"),
    ("Ada <reader@example.org>", "", "Email address"),
    ("reader@example.org,victim@example.net", "", "Email address"),
    ("x" * 400 + "@example.org", "", "Email address"),
    ("reader@example.org", "n" * 201, "Name"),
])
def test_header_injection_and_oversized_fields_are_refused(app, client, smtp, store, email, name, field):
    answer = sign_up(client, email, name)
    assert answer.status_code == 400 and f"{field}:" in answer.text
    assert attempts(store) == 0 and mails(app, smtp) == []
    with store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_the_mail_carries_nothing_the_signer_typed_but_the_address(app, client, smtp):
    spam = "=?utf-8?q?=0D=0ABcc:_victim@example.net?= Buy cheap pills http://spam.example"
    sign_up(client, "plain@example.org", spam)
    (got,) = mails(app, smtp)
    assert got["rcpt_tos"] == ["plain@example.org"]
    raw = got["raw"]
    assert b"spam.example" not in raw and b"pills" not in raw and b"victim" not in raw
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert sorted(parsed.keys()) == sorted(["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                                            "Content-Type", "Content-Transfer-Encoding", "MIME-Version"])


# -- the command line, the other pages, the CSV -----------------------------------------------------------------

def test_subscribers_add_confirm_mails_the_same_opt_in(smtp, env, store):
    added = run_cli("subscribers", "add", "cli@example.org", "--name", "Cli Reader", "--confirm", env=env)
    assert added.returncode == 0 and "cli@example.org: pending; a confirmation link was mailed" in added.stdout
    assert [m["rcpt_tos"] for m in smtp.messages] == [["cli@example.org"]]
    assert row(store, "cli@example.org").status == "pending"

    again = run_cli("subscribers", "add", "cli@example.org", "--confirm", env=env)
    assert again.returncode == 1 and "less than 10 minutes ago" in again.stderr and len(smtp.messages) == 1
    assert "Traceback" not in again.stderr

    client = create_app(load_settings(env=env), store).test_client()
    assert client.post(link_in(smtp.messages[0])).status_code == 200
    active = run_cli("subscribers", "add", "cli@example.org", "--confirm", env=env)
    assert active.returncode == 0 and "already active; nothing sent" in active.stdout and len(smtp.messages) == 1

    for args, where in ((["bad@@example.org"], "email"), (["x@example.org", "--name", "a\nb"], "--name"),
                        (["x@example.org", "--resubscribe"], "--confirm")):
        refused = run_cli("subscribers", "add", *args, "--confirm", env=env)
        assert refused.returncode == 2 and refused.stderr.startswith(f"error: {where}"), refused.stderr
        assert "Traceback" not in refused.stderr
    no_smtp = run_cli("subscribers", "add", "y@example.org", "--confirm", env={**env, "PUBLISHER_SMTP_HOST": ""})
    assert no_smtp.returncode == 2 and "PUBLISHER_SMTP_HOST" in no_smtp.stderr
    assert row(store, "x@example.org") is None and row(store, "y@example.org") is None
    counted = run_cli("subscribers", "count", "--json", env=env)
    assert '"active": 1' in counted.stdout and '"pending": 0' in counted.stdout


def test_subscribers_add_confirm_says_when_the_relay_refuses(smtp, env, store):
    smtp.set_faults(permanent_recipients=["refused@example.org"])
    refused = run_cli("subscribers", "add", "refused@example.org", "--confirm", env=env)
    assert refused.returncode == 1 and "refused the address" in refused.stderr and "Traceback" not in refused.stderr


def test_unsubscribe_pages_link_back_to_the_form(client, store, settings):
    book = Subscribers(store, settings)
    reader = book.add("leaving@example.org").subscriber
    path = f"/unsubscribe/{book.token_for(reader)}"
    done = client.post(path)
    assert 'href="/subscribe"' in done.text
    assert 'href="/subscribe"' in client.get(path).text  # "you are already unsubscribed"
    assert client.get("/subscribe").status_code == 200


def test_a_csv_cannot_make_anyone_pending(tmp_path, store, settings):
    csv = tmp_path / "list.csv"
    csv.write_text("email,status\nfine@example.org,active\nsneaky@example.org,pending\n", encoding="utf-8")
    report = Subscribers(store, settings).import_csv(csv)
    assert report.added == 1 and [(bad.line, bad.value) for bad in report.bad] == [(3, "sneaky@example.org")]
    assert "pending is set only by a sign-up" in report.bad[0].reason


def test_sign_up_is_closed_without_a_mail_server(env, store):
    closed = create_app(load_settings(env={**env, "PUBLISHER_SMTP_HOST": ""}), store).test_client()
    answer = sign_up(closed, "nobody@example.org")
    assert answer.status_code == 503 and row(store, "nobody@example.org") is None
