"""`publisher test` and the desk's "Send a test": the real CLI in a subprocess (and the desk through
Flask's test client) against the loopback stand-ins, a real SMTP server on loopback, a real store.
A test mails one address, never counts as the post's delivery, and is limited per hour."""
from __future__ import annotations

import json
import re
import shutil
import threading

import pytest
import requests

from publisher.config import load_settings
from publisher.post import load_post
from publisher.store import Store
from publisher.test_send import TestSendsExhausted, record_test_send, send_test
from publisher.web import create_app
from tests.conftest import ACTIVE, SAMPLE, live_env, run_cli

ME = "me@example.org"
PRIVATE_CHAT = "100200300"  # the sandbox's private chat (publisher/sandbox/telegram_api/limits.py)
CHANNEL_CHAT = "-1001234567890"  # the sandbox's channel, PUBLISHER_TELEGRAM_CHAT_ID
PASSWORD = "a desk password for tests"


@pytest.fixture
def env(sandbox, tmp_path):
    return live_env(sandbox, tmp_path, reset=("telegram", "smtp_http", "images"))


def emails(sandbox) -> list[dict]:
    return requests.get(sandbox.readouts()["email"], timeout=60).json()["messages"]


def raw_message(sandbox, index: int):
    from email import policy
    from email.parser import BytesParser

    raw = requests.get(f"{sandbox.servers['smtp_http'].url}/_sandbox/messages/{index}/raw", timeout=60).content
    return BytesParser(policy=policy.default).parsebytes(raw)


def telegram_chats(sandbox) -> dict[str, list]:
    return requests.get(sandbox.readouts()["telegram"], timeout=60).json()["messages"]


def status_of(env, post=SAMPLE) -> dict:
    answer = run_cli("status", str(post), "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)[0]


def test_a_test_mails_one_address_and_a_later_publish_mails_every_subscriber_once(sandbox, env):
    result = run_cli("test", str(SAMPLE), "--to", ME, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    got = emails(sandbox)
    assert len(got) == 1 and got[0]["rcpt_tos"] == [ME]
    test_email = got[0]
    assert test_email["subject"].startswith("[Test] ")
    assert test_email["headers"]["To"] == ME
    assert test_email["headers"]["List-Unsubscribe"] == "<https://example.com/#test-send>"
    bodies = [part.get_content() for part in raw_message(sandbox, 0).walk() if not part.is_multipart()]
    assert len(bodies) == 2 and all("https://example.com/#test-send" in body for body in bodies)
    assert not any("/unsubscribe/" in body for body in bodies)  # no subscriber's token, no working link
    assert telegram_chats(sandbox) == {}  # no --telegram-chat: only the email

    published = run_cli("publish", str(SAMPLE), "--channel", "email", "--yes", env=env)
    assert published.returncode == 0, published.stdout + published.stderr
    assert f"{ACTIVE}/{ACTIVE}" in published.stdout  # the press counts its subscribers, no test row
    mailing = emails(sandbox)[1:]
    recipients = [m["rcpt_tos"][0] for m in mailing]
    assert len(recipients) == ACTIVE == len(set(recipients)) and ME not in recipients
    assert not any(m["subject"].startswith("[Test]") for m in mailing)
    assert all("/unsubscribe/" in m["headers"]["List-Unsubscribe"] for m in mailing)

    status = status_of(env)
    email = next(c for c in status["channels"] if c["channel"] == "email")
    assert (email["state"], email["sent_parts"], email["total_parts"]) == ("sent", ACTIVE, ACTIVE)
    [test] = status["test_sends"]
    assert test["to_email"] == ME and [(c["channel"], c["state"]) for c in test["channels"]] == [("email", "sent")]
    shown = run_cli("status", str(SAMPLE), env={**env, "COLUMNS": "200"}).stdout
    assert "Test sends of" in shown and ME in shown

    again = run_cli("publish", str(SAMPLE), "--channel", "email", "--yes", env=env)
    assert again.returncode == 0 and len(emails(sandbox)) == 1 + ACTIVE  # pressing again sends nothing


def test_the_eleventh_test_in_an_hour_is_refused_and_sends_nothing(sandbox, env):
    settings = load_settings(env=env)
    for _ in range(10):  # the same store from this process; the 11th comes from another one
        assert send_test(SAMPLE, settings, ME).ok
    assert len(emails(sandbox)) == 10
    refused = run_cli("test", str(SAMPLE), "--to", ME, env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "10 test sends in the last hour already" in lines[0]
    assert "PUBLISHER_TEST_SENDS_PER_HOUR" in lines[0] and "nothing was sent" in lines[0]
    assert "Traceback" not in refused.stderr
    assert len(emails(sandbox)) == 10
    assert len(status_of(env)["test_sends"]) == 10  # the refused one is not recorded
    raised = run_cli("test", str(SAMPLE), "--to", ME, env={**env, "PUBLISHER_TEST_SENDS_PER_HOUR": "11"})
    assert raised.returncode == 0 and len(emails(sandbox)) == 11


@pytest.mark.parametrize("address", ["not-an-address", "me@example.org\nBcc: victim@example.net",
                                     "<me@example.org>", "me@exa mple.org"])
def test_a_bad_address_exits_2_naming_it_and_nothing_is_sent(sandbox, env, address):
    result = run_cli("test", str(SAMPLE), "--to", address, env=env)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "--to" in line and repr(address)[1:-1].split("\\n")[0] in line and "Traceback" not in line
    assert emails(sandbox) == []
    assert run_cli("status", str(SAMPLE), "--json", env=env).stdout.strip() == "[]"  # nothing recorded


def test_telegram_chat_gets_the_messages_and_the_channel_gets_them_only_when_published(sandbox, env, tmp_path):
    preview = tmp_path / "preview"
    assert run_cli("preview", str(SAMPLE), "--out", str(preview)).returncode == 0
    calls = json.loads((preview / "telegram.json").read_text())["calls"]
    result = run_cli("test", str(SAMPLE), "--to", ME, "--telegram-chat", PRIVATE_CHAT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    chats = telegram_chats(sandbox)
    assert list(chats) == [PRIVATE_CHAT] and len(chats[PRIVATE_CHAT]) == len(calls)
    assert [m["rcpt_tos"] for m in emails(sandbox)] == [[ME]]
    test = status_of(env)["test_sends"][0]
    assert {c["channel"]: (c["to"], c["state"]) for c in test["channels"]} == {
        "email": (ME, "sent"), "telegram": (PRIVATE_CHAT, "sent")}

    published = run_cli("publish", str(SAMPLE), "--channel", "telegram", "--yes", env=env)
    assert published.returncode == 0, published.stdout + published.stderr
    chats = telegram_chats(sandbox)
    assert len(chats[CHANNEL_CHAT]) == len(calls) and len(chats[PRIVATE_CHAT]) == len(calls)

    bad = run_cli("test", str(SAMPLE), "--to", ME, "--telegram-chat", "my chat", env=env)
    assert bad.returncode == 2 and "'my chat'" in bad.stderr and "--telegram-chat" in bad.stderr


def test_a_draft_may_be_test_sent_but_not_published(sandbox, env, tmp_path):
    draft = tmp_path / "draft.md"
    draft.write_text("---\ntitle: Not yet\ndate: 2026-02-01\ndraft: true\n---\nWork in progress.\n", "utf-8")
    result = run_cli("test", str(draft), "--to", ME, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [m["subject"] for m in emails(sandbox)] == ["[Test] Not yet"]
    refused = run_cli("publish", str(draft), "--yes", env=env)
    assert refused.returncode == 2 and "draft" in refused.stderr
    assert len(emails(sandbox)) == 1
    status = status_of(env, draft)
    assert status["channels"] == [] and status["test_sends"][0]["channels"][0]["state"] == "sent"


def test_the_sandbox_flag_tests_against_its_own_stand_ins(tmp_path):
    home = {"PUBLISHER_HOME": str(tmp_path / "home")}
    result = run_cli("test", str(SAMPLE), "--to", ME, "--telegram-chat", PRIVATE_CHAT, "--sandbox", env=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sandbox received: 1 email," in result.stdout and "[Test]" in result.stdout
    status = json.loads(run_cli("status", str(SAMPLE), "--sandbox", "--json", env=home).stdout)
    assert len(status[0]["test_sends"]) == 1
    assert run_cli("status", str(SAMPLE), "--json", env=home).stdout.strip() == "[]"  # the live state: untouched


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_hourly_limit_holds_for_concurrent_senders(backend, tmp_path, request):
    db_url = f"sqlite:///{tmp_path / 'limit.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    settings = load_settings(env={"PUBLISHER_DB_URL": db_url})
    post = load_post(SAMPLE, settings)
    outcomes: list[str] = []

    def take() -> None:
        store = Store(db_url)  # one engine per sender, as separate processes would have
        for _ in range(4):
            try:
                record_test_send(store, settings, post, "0" * 64, ME, None, "cli")
                outcomes.append("recorded")
            except TestSendsExhausted:
                outcomes.append("refused")
        store.dispose()

    senders = [threading.Thread(target=take) for _ in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(60)
    assert sorted(outcomes).count("recorded") == 10 and outcomes.count("refused") == 6


# -- the desk -----------------------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def desk(env, tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SAMPLE, content / SAMPLE.name)
    settings = load_settings(env={**env, "PUBLISHER_CONTENT_DIR": str(content), "PUBLISHER_DESK_PASSWORD": PASSWORD,
                                  "PUBLISHER_TEST_SENDS_PER_HOUR": "2"})
    store = Store(settings.db_url)
    yield create_app(settings, store).test_client(), load_post(SAMPLE, settings).slug
    store.dispose()


def test_the_desk_sends_one_test_email_with_login_and_csrf_only(sandbox, desk):
    client, slug = desk
    path = f"/posts/{slug}/test-send"
    assert client.post(path, data={"address": ME}).status_code in (400, 401)  # not logged in
    token = csrf_of(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"password": PASSWORD, "csrf_token": token, "next": "/posts"}).status_code == 303
    page = client.get(f"/posts/{slug}").get_data(as_text=True)
    assert 'data-testid="test-send-form"' in page and f'action="{path}"' in page
    token = csrf_of(page)
    assert client.post(path, data={"address": ME}).status_code == 400  # no CSRF token
    assert client.post(path, data={"address": ME, "csrf_token": "forged"}).status_code == 400
    assert emails(sandbox) == []

    sent = client.post(path, data={"address": ME, "csrf_token": token})
    assert sent.status_code == 303
    got = emails(sandbox)
    assert len(got) == 1 and got[0]["rcpt_tos"] == [ME] and got[0]["subject"].startswith("[Test] ")
    page = client.get(f"/posts/{slug}").get_data(as_text=True)
    assert "Test email sent to me@example.org" in page and 'data-testid="test-sends"' in page
    assert "not published" in page or "Publish" in page  # the post itself is still unpublished

    bad = client.post(path, data={"address": "me@", "csrf_token": token}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and "'me@'" in bad.get_json()["error"]
    client.post(path, data={"address": ME, "csrf_token": token})  # the second of PUBLISHER_TEST_SENDS_PER_HOUR=2
    over = client.post(path, data={"address": ME, "csrf_token": token}, headers={"Accept": "application/json"})
    assert over.status_code == 429 and "2 test sends in the last hour" in over.get_json()["error"]
    assert len(emails(sandbox)) == 2
