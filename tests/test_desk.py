"""The web desk through Flask's test client: login, CSRF, escaping, secrets, the publish gate,
retry and reconcile on a real ledger, subscribers, and `publisher serve`'s password rule.
The browser flow against the sandbox stand-ins is in test_desk_browser.py."""
from __future__ import annotations

import io
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from publisher import publish as publish_module
from publisher.config import load_settings
from publisher.ledger import Ledger
from publisher.post import load_post
from publisher.publish import post_sha256
from publisher.store import Store
from publisher.subscribers import Subscribers
from publisher.web import create_app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
PASSWORD = "s3cret desk password"
SCRIPT_TITLE = "<script>alert(1)</script> in a title far too long for WeChat"  # (32 at most: blocked)
SCRIPT_POST = f"""---
title: "{SCRIPT_TITLE}"
date: 2026-01-25
summary: "- <img src=x onerror=alert(2)> & <b>bold</b>"
---
Body with <script>alert(3)</script> inline and a [link](javascript:alert(4)).
"""
PLAIN_POST = """---
title: Notes without pictures
date: 2026-01-20
slug: plain-notes
channels:
  wechat: {enabled: false}
---
A short issue with a [link](https://example.com/notes) and nothing the checks could object to.
"""
BOT_TOKEN = "123456:SECRET-bot-token-value"
SECRETS = {"PUBLISHER_TELEGRAM_BOT_TOKEN": BOT_TOKEN, "PUBLISHER_WECHAT_APP_SECRET": "wechat-app-secret-value",
           "PUBLISHER_SMTP_PASSWORD": "smtp-password-value", "PUBLISHER_X_CONSUMER_SECRET": "x-consumer-secret-value"}


def wait_for_presses() -> None:
    for thread in list(publish_module._running.values()):
        thread.join(timeout=60)


@pytest.fixture
def content(tmp_path):
    folder = tmp_path / "content"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    (folder / "script-title.md").write_text(SCRIPT_POST, encoding="utf-8")
    (folder / "plain-notes.md").write_text(PLAIN_POST, encoding="utf-8")
    (folder / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    return folder


def make_settings(tmp_path, content, **extra):
    env = {"PUBLISHER_DB_URL": f"sqlite:///{tmp_path / 'desk.db'}", "PUBLISHER_CONTENT_DIR": str(content),
           "PUBLISHER_DESK_PASSWORD": PASSWORD, "PUBLISHER_SECRET_KEY": "desk-test-secret-key",
           "PUBLISHER_OUTBOX_DIR": str(tmp_path / "outbox"), **extra}
    return load_settings(env={k: v for k, v in env.items() if v is not None})


@pytest.fixture
def settings(tmp_path, content):
    return make_settings(tmp_path, content)


@pytest.fixture
def store(settings):
    opened = Store(settings.db_url)
    yield opened
    wait_for_presses()
    opened.dispose()


@pytest.fixture
def app(settings, store):
    return create_app(settings, store)


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def log_in(client, password: str = PASSWORD, next_path: str = "/posts"):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"password": password, "csrf_token": token, "next": next_path})


@pytest.fixture
def editor(client):
    assert log_in(client).status_code == 303
    return client


def token(client) -> str:
    return csrf_of(client.get("/posts").get_data(as_text=True))


def slug_of(settings) -> str:
    return load_post(SAMPLE, settings).slug


def publications(store) -> int:
    from sqlalchemy import func, select

    from publisher.store import Publication

    with store.read_session() as session:
        return session.scalar(select(func.count()).select_from(Publication))


# -- login -------------------------------------------------------------------------------------------

def test_every_desk_page_redirects_to_login_and_every_post_is_refused(client, settings, store):
    slug = slug_of(settings)
    book = Subscribers(store, settings)
    reader = book.add("reader@example.com").subscriber
    for path in ("/", "/posts", f"/posts/{slug}", f"/posts/{slug}/email.html", f"/posts/{slug}/email.txt",
                 f"/posts/{slug}/status.html", "/subscribers", "/subscribers?q=reader"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/login?next="), path
    assert client.get(f"/posts/{slug}/status.json").status_code == 401
    for path, form in ((f"/posts/{slug}/publish", {"force": "1"}), (f"/posts/{slug}/retry", {"channel": "x"}),
                       (f"/posts/{slug}/reconcile", {"channel": "x", "decision": "sent"}),
                       (f"/subscribers/{reader.id}/unsubscribe", {})):
        assert client.post(path, data=form).status_code == 401, path
    assert publications(store) == 0
    assert book.get("reader@example.com").status == "active"


def test_login_needs_the_password_and_the_csrf_token(client):
    assert log_in(client, "wrong password").status_code == 401
    assert client.get("/posts").status_code == 302
    no_token = client.post("/login", data={"password": PASSWORD, "next": "/posts"})
    assert no_token.status_code == 400
    assert client.get("/posts").status_code == 302
    answer = log_in(client, next_path="/subscribers")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/subscribers")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and cookie.startswith("publisher_desk=")
    assert client.get("/posts").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_the_site(client, target):
    assert log_in(client, next_path=target).headers["Location"] == "/posts"


def test_a_session_signed_with_the_secret_key_alone_does_not_log_in(app, client):
    """The cookie holds an HMAC of the password: knowing secret_key (say, the default) is not enough."""
    forged = app.session_interface.get_signing_serializer(app).dumps({"editor": "x" * 64, "csrf": "t"})
    client.set_cookie("publisher_desk", forged)
    assert client.get("/posts").status_code == 302


def test_without_a_password_nobody_can_log_in(tmp_path, content, store):
    app = create_app(make_settings(tmp_path, content, PUBLISHER_DESK_PASSWORD=None), store)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "PUBLISHER_DESK_PASSWORD" in page
    assert log_in(client, "").status_code == 401
    assert log_in(client, "anything").status_code == 401
    assert client.get("/posts").status_code == 302


def test_logging_out_ends_the_session(editor):
    assert editor.post("/logout", data={}).status_code == 400  # without the token: still logged in
    assert editor.get("/posts").status_code == 200
    assert editor.post("/logout", data={"csrf_token": token(editor)}).status_code == 303
    assert editor.get("/posts").status_code == 302


def test_the_unsubscribe_endpoints_stay_public_and_need_no_csrf(client, settings, store):
    book = Subscribers(store, settings)
    reader = book.add("reader@example.com").subscriber
    path = f"/unsubscribe/{book.token_for(reader)}"
    assert client.get(path).status_code == 200
    one_click = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert (one_click.status_code, one_click.data) == (200, b"")
    assert book.get("reader@example.com").status == "unsubscribed"
    assert client.get("/healthz").status_code == 200


# -- CSRF, escaping, secrets ------------------------------------------------------------------------

def test_a_post_without_the_right_csrf_token_changes_nothing(editor, settings, store):
    slug = slug_of(settings)
    book = Subscribers(store, settings)
    reader = book.add("reader@example.com").subscriber
    for headers, form in (({}, {}), ({}, {"csrf_token": "forged"}), ({"X-CSRF-Token": "forged"}, {})):
        assert editor.post(f"/posts/{slug}/publish", data=form, headers=headers).status_code == 400
        assert editor.post(f"/subscribers/{reader.id}/unsubscribe", data=form, headers=headers).status_code == 400
        upload = {**form, "csv": (io.BytesIO(b"email\nnew@example.com\n"), "new.csv")}
        assert editor.post("/subscribers/import", data=upload, content_type="multipart/form-data").status_code == 400
    wait_for_presses()
    assert publications(store) == 0
    assert book.get("reader@example.com").status == "active"
    assert book.get("new@example.com") is None


def test_a_script_title_is_text_on_every_page(editor):
    pages = [editor.get(path).get_data(as_text=True) for path in (
        "/posts", "/posts/script-title", "/posts/script-title/status.html", "/posts/script-title/email.html")]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page and 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0] and "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]
    assert editor.get("/posts/script-title/status.json").get_json()["slug"] == "script-title"


def test_pages_load_only_their_own_assets_and_forbid_inline_scripts(editor, settings):
    page = editor.get(f"/posts/{slug_of(settings)}")
    html = page.get_data(as_text=True)
    assert re.findall(r'<script src="([^"]+)"', html) == ["/desk/assets/preview.js", "/desk/assets/desk.js"]
    assert all(href.startswith("/desk/assets/") for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', html))
    assert "<script>" not in html
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"
    email = editor.get(f"/posts/{slug_of(settings)}/email.html")
    assert "frame-ancestors 'self'" in email.headers["Content-Security-Policy"]
    for name in ("desk.css", "desk.js", "preview.css", "preview.js"):
        assert editor.get(f"/desk/assets/{name}").status_code == 200
    assert editor.get("/desk/assets/desk_post.html").status_code == 404


def test_secrets_never_reach_a_page(tmp_path, content):
    settings = make_settings(tmp_path, content, **SECRETS)
    store = Store(settings.db_url)
    slug = slug_of(settings)
    publication = store.get_or_create_publication(slug, post_sha256(SAMPLE), "t")
    error = f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage failed; url-encoded bot{quote(BOT_TOKEN, safe='')}"
    ledger = Ledger(store, publication.id, "telegram")
    ledger.plan([("call-1-sendPhoto", "a")])
    ledger.claim("call-1-sendPhoto")
    ledger.mark_failed("call-1-sendPhoto", error)
    store.set_delivery_state(publication.id, "telegram", "failed", error=error)
    client = create_app(settings, store).test_client()
    log_in(client)
    pages = [client.get(path).get_data(as_text=True) for path in (
        "/posts", f"/posts/{slug}", f"/posts/{slug}/status.html", f"/posts/{slug}/status.json", "/subscribers")]
    secrets = [*SECRETS.values(), PASSWORD, settings.secret_key, quote(BOT_TOKEN, safe="")]
    for page in pages:
        for secret in secrets:
            assert secret not in page
    assert "https://api.telegram.org/bot***/sendMessage" in pages[3]
    store.dispose()


# -- publishing -----------------------------------------------------------------------------------

def plan_of(editor, slug: str) -> dict:
    answer = editor.post(f"/posts/{slug}/publish", data={"csrf_token": token(editor)},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.get_json()["confirm_needed"]
    return answer.get_json()


def confirm(editor, slug: str, plan: dict, **form):
    return editor.post(f"/posts/{slug}/publish", headers={"Accept": "application/json"},
                       data={"csrf_token": token(editor), "confirm": "1", "post_sha256": plan["post_sha256"], **form})


def test_a_blocked_channel_stops_the_press_until_the_editor_picks_the_ready_channels(editor, store, tmp_path):
    page = editor.get("/posts/script-title").get_data(as_text=True)
    assert 'data-testid="publish-anyway"' not in page  # the desk never sends a channel despite its problems
    plan = plan_of(editor, "script-title")
    assert plan["blocked"] and plan["problems"]["wechat"] and plan["has_work"]
    assert {line["channel"]: line["action"] for line in plan["plan"]}["wechat"] == "blocked"
    assert publications(store) == 0  # looking at the plan creates nothing
    for form in ({}, {"force": "1"}):
        refused = confirm(editor, "script-title", plan, **form)
        assert refused.status_code == 409 and "Nothing was sent" in refused.get_json()["error"]
    wait_for_presses()
    assert publications(store) == 0
    pressed = confirm(editor, "script-title", plan, ready_only="1")
    assert pressed.status_code == 202
    wait_for_presses()
    status = editor.get("/posts/script-title/status.json").get_json()
    assert {c["name"]: c["state"] for c in status["cards"]} == {
        "email": "outbox", "x": "outbox", "telegram": "outbox", "wechat": "blocked"}
    assert status["state"] == "blocked"
    assert (tmp_path / "outbox" / "script-title" / "telegram").is_dir()
    assert not (tmp_path / "outbox" / "script-title" / "wechat").exists()
    assert "blocked" in editor.get("/posts").get_data(as_text=True)


def test_without_javascript_publish_shows_the_plan_then_confirm_redirects_back(editor, store):
    slug = "plain-notes"
    shown = editor.post(f"/posts/{slug}/publish", data={"csrf_token": token(editor)})
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and 'data-testid="confirm"' in html and "Before anything is sent" in html
    assert publications(store) == 0
    sha = re.search(r'name="post_sha256" value="([0-9a-f]{64})"', html).group(1)
    answer = editor.post(f"/posts/{slug}/publish",
                         data={"csrf_token": token(editor), "confirm": "1", "post_sha256": sha})
    assert (answer.status_code, answer.headers["Location"]) == (303, f"/posts/{slug}")
    wait_for_presses()
    assert "Publishing" in editor.get(f"/posts/{slug}").get_data(as_text=True)


def test_a_broken_post_is_listed_with_its_message(editor):
    listing = editor.get("/posts").get_data(as_text=True)
    assert "broken.md" in listing and "front matter" in listing
    assert "not loadable: " in listing
    assert editor.get("/posts/broken").status_code == 422
    assert editor.get("/posts/no-such-post").status_code == 404


def test_files_that_are_not_posts_are_not_listed(editor, content):
    (content / "README.md").write_text("# Our newsletter\n\nHow this folder works.\n", encoding="utf-8")
    (content / "_footer.md").write_text("Thanks for reading!\n", encoding="utf-8")
    (content / "_index.md").write_text("---\ntitle: Section\n---\n", encoding="utf-8")
    (content / "CHANGELOG.md").write_text("---\ntitle: What changed this month\ndate: 2026-01-30\n---\nNews.\n",
                                          encoding="utf-8")
    listing = editor.get("/posts").get_data(as_text=True)
    assert "How this folder works" not in listing and "Our newsletter" not in listing
    assert "_footer" not in listing and "_index" not in listing and "Section" not in listing
    assert "What changed this month" in listing  # a document with front matter is a post after all


def _failed_telegram(store, settings, state: str) -> Ledger:
    publication = store.get_or_create_publication(slug_of(settings), post_sha256(SAMPLE), "t")
    ledger = Ledger(store, publication.id, "telegram")
    ledger.plan([("call-1-sendPhoto", "a"), ("call-2-sendMessage", "b")])
    ledger.claim("call-1-sendPhoto")
    ledger.mark_sent("call-1-sendPhoto", remote_id="41")
    ledger.claim("call-2-sendMessage")
    if state == "failed":
        ledger.mark_failed("call-2-sendMessage", "Bad Request: chat not found")
    else:
        ledger.mark_uncertain("call-2-sendMessage", "HTTP 502 after sending")
    store.set_delivery_state(publication.id, "telegram", "sending")
    store.set_delivery_state(publication.id, "telegram", "partial", error="telegram: Bad Request: chat not found")
    return ledger


def test_retry_makes_the_failed_parts_sendable_and_presses_again(editor, settings, store):
    ledger = _failed_telegram(store, settings, "failed")
    slug = slug_of(settings)
    card = {c["name"]: c for c in editor.get(f"/posts/{slug}/status.json").get_json()["cards"]}["telegram"]
    assert (card["state"], card["retry"], card["sent"], card["total"]) == ("partial", True, 1, 2)
    assert "chat not found" in card["error"]
    assert [p["label"] for p in card["parts"]] == ["photo + caption 1/2", "message 2/2"]
    assert 'data-testid="retry-telegram"' in editor.get(f"/posts/{slug}/status.html").get_data(as_text=True)
    answer = editor.post(f"/posts/{slug}/retry", data={"csrf_token": token(editor), "channel": "telegram"},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 202
    wait_for_presses()
    entry = ledger.entry("call-2-sendMessage")
    assert entry.claimable and entry.state == "planned"
    assert ledger.entry("call-1-sendPhoto").state == "sent"


def test_reconcile_settles_uncertain_parts_with_the_channels_resolver(editor, settings, store):
    ledger = _failed_telegram(store, settings, "uncertain")
    slug = slug_of(settings)
    card = {c["name"]: c for c in editor.get(f"/posts/{slug}/status.json").get_json()["cards"]}["telegram"]
    assert (card["state"], card["reconcile"]) == ("uncertain", "decide")
    bad = editor.post(f"/posts/{slug}/reconcile", headers={"Accept": "application/json"},
                      data={"csrf_token": token(editor), "channel": "telegram", "decision": "maybe"})
    assert bad.status_code == 400 and ledger.entry("call-2-sendMessage").state == "uncertain"
    answer = editor.post(f"/posts/{slug}/reconcile", headers={"Accept": "application/json"},
                         data={"csrf_token": token(editor), "channel": "telegram", "decision": "sent"})
    assert answer.status_code == 202 and "1 uncertain parts counted as sent" in answer.get_json()["message"]
    wait_for_presses()
    assert ledger.entry("call-2-sendMessage").state == "sent"


# -- subscribers -----------------------------------------------------------------------------------

def test_subscribers_import_search_and_unsubscribe(editor, settings, store):
    csv = "email,name\nada@example.com,Ada\nnot an address,Nobody\ngrace@example.com,Grace\n,\n".encode()
    page = editor.post("/subscribers/import", content_type="multipart/form-data",
                       data={"csrf_token": token(editor), "csv": (io.BytesIO(csv), "list.csv")}).get_data(as_text=True)
    assert "2 added" in page and "list.csv" in page
    assert re.search(r"<td>3</td><td><code>not an address</code></td>", page)
    listing = editor.get("/subscribers?q=grace").get_data(as_text=True)
    assert "grace@example.com" in listing and "ada@example.com" not in listing
    grace = Subscribers(store, settings).get("grace@example.com")
    answer = editor.post(f"/subscribers/{grace.id}/unsubscribe", data={"csrf_token": token(editor), "q": "grace"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/subscribers?q=grace")
    assert Subscribers(store, settings).get("grace@example.com").status == "unsubscribed"
    counts = editor.get("/subscribers?status=unsubscribed").get_data(as_text=True)
    assert "grace@example.com" in counts and "ada@example.com" not in counts
    not_csv = editor.post("/subscribers/import", content_type="multipart/form-data",
                          data={"csrf_token": token(editor), "csv": (io.BytesIO(b"\x00\x01\x02binary"), "x.csv")})
    assert not_csv.status_code == 400 and "x.csv" in not_csv.get_data(as_text=True)


# -- publisher serve -----------------------------------------------------------------------------

def _serve_env(tmp_path, **extra) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    return {**env, "PUBLISHER_DB_URL": f"sqlite:///{tmp_path / 'serve.db'}", **extra}


def test_serve_refuses_to_listen_off_loopback_without_a_password(tmp_path):
    ran = subprocess.run([sys.executable, "-m", "publisher", "serve", "--host", "0.0.0.0", "--port", "1"],
                         capture_output=True, text=True, env=_serve_env(tmp_path), timeout=60)
    assert ran.returncode == 2
    assert "PUBLISHER_DESK_PASSWORD" in ran.stderr and "127.0.0.1" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_serve_on_loopback_without_a_password_gives_a_one_time_password(tmp_path, content):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "publisher", "serve", "--port", str(port)], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=_serve_env(tmp_path, PUBLISHER_CONTENT_DIR=str(content), COLUMNS="400"))
    try:
        printed = ""
        while "serving on" not in printed:
            line = server.stdout.readline()
            assert line, f"serve stopped: {printed}"
            printed += line
        password = re.search(r"one-time password (\S+)", printed).group(1)
        base = f"http://127.0.0.1:{port}"
        browser = requests.Session()
        for _ in range(100):  # the socket opens right after the banner
            try:
                login_page = browser.get(f"{base}/login", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        answer = browser.post(f"{base}/login", allow_redirects=False, timeout=5,
                              data={"password": password, "csrf_token": csrf_of(login_page.text), "next": "/posts"})
        assert answer.status_code == 303
        assert "2026-01-24" in browser.get(f"{base}/posts", timeout=5).text
    finally:
        server.terminate()
        server.wait(timeout=10)
