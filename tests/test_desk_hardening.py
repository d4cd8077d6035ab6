"""The web app against the security review's findings, one class at a time, through Flask's test
client (and the raw WSGI interface where a test client cannot stream): bounded request bodies
(declared, chunked, the CSV import's bytes and rows), `next=` that stays on the site, failed
logins limited per client, the password rule off loopback, sessions revoked on the server, Secure
cookies behind a declared proxy, frame protection on every page, bounded page numbers, broken
posts that never take a page down, the press plan before anything is sent, and lists that say
"showing N of M". And a 200 MB chunked POST streamed at the real server (`publisher serve`, with
waitress and with --dev) over loopback, its peak memory read from /proc."""
from __future__ import annotations

import io
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from werkzeug.test import EnvironBuilder, run_wsgi_app

from publisher.desk.limits import FORM_BYTES, IMPORT_BYTES, IMPORT_ROWS
from publisher.errors import InputError
from publisher.store import Store
from publisher.subscribers import Subscribers
from publisher.web import create_app
from tests.test_desk import (PASSWORD, app, client, confirm, content, csrf_of, editor, log_in, make_settings,  # noqa: F401
                             plan_of, publications, settings, store, token, wait_for_presses)

FAR = {"REMOTE_ADDR": "203.0.113.7"}  # a documentation address (RFC 5737): "another machine"


class Endless:
    """A request body that never ends (after `head`: CSV lines); counts what the app read of it."""

    LINES = b"reader@example.com\n" * 60_000  # 1.1 MB

    def __init__(self, head: bytes = b""):
        self.read_bytes, self.head = 0, head

    def read(self, size=-1):
        size = 1 << 20 if size is None or size < 0 else min(size, 1 << 20)
        data, self.head = (self.head + self.LINES[:size])[:size], self.head[size:]
        self.read_bytes += size
        return data

    def readline(self, size=-1):
        return self.read(size)


def chunked_post(wsgi_app, path: str, content_type: str = "application/x-www-form-urlencoded", head: bytes = b"",
                 headers: dict | None = None):
    """POST an endless chunked body the way a WSGI server hands it over (no Content-Length)."""
    environ = EnvironBuilder(path=path, method="POST",
                             headers={"Transfer-Encoding": "chunked", **(headers or {})}).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["CONTENT_TYPE"] = content_type  # as sent (the builder would write a boundary of its own)
    body = environ["wsgi.input"] = Endless(head)
    environ["wsgi.input_terminated"] = True
    _, status, _ = run_wsgi_app(wsgi_app, environ, buffered=True)
    return status, body.read_bytes


# -- 1. request sizes ---------------------------------------------------------------------------------

def test_a_declared_body_over_the_limit_is_refused_before_the_app(app, client, settings, store):  # noqa: F811
    reader = Subscribers(store, settings).add("reader@example.com").subscriber
    unsubscribe = f"/unsubscribe/{Subscribers(store, settings).token_for(reader)}"
    big = "x" * (FORM_BYTES + 1)
    for path in ("/login", unsubscribe, "/posts/plain-notes/publish"):
        answer = client.post(path, data={"List-Unsubscribe": "One-Click", "pad": big})
        assert answer.status_code == 413, path
        assert answer.headers["X-Frame-Options"] == "DENY"
    assert Subscribers(store, settings).get("reader@example.com").status == "active"
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.mark.parametrize("path", ["/login", "/unsubscribe/anything", "/subscribers/import", "/no-such-route"])
def test_a_chunked_body_is_refused_while_it_streams(app, path):  # noqa: F811
    status, read = chunked_post(app, path, "multipart/form-data; boundary=x" if "import" in path else
                                "application/x-www-form-urlencoded")
    assert status.startswith(("413", "401", "404")), status
    limit = 20 * 1024 * 1024 if "import" in path else FORM_BYTES
    assert read <= limit + (1 << 20)  # never read much past the route's limit, never to the end


def test_a_chunked_csv_upload_is_refused_past_the_import_limit(editor, settings, store):  # noqa: F811
    csrf = token(editor)
    head = (b'--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + csrf.encode() +
            b'\r\n--x\r\nContent-Disposition: form-data; name="csv"; filename="a.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\nemail\n")
    cookie = f"publisher_desk={editor.get_cookie('publisher_desk').value}"
    status, read = chunked_post(editor.application, "/subscribers/import", "multipart/form-data; boundary=x", head,
                                {"Cookie": cookie})
    assert status.startswith("413") and IMPORT_BYTES < read <= IMPORT_BYTES + (1 << 20)
    assert sum(Subscribers(store, settings).count().values()) == 0


def test_the_csv_import_is_bounded_in_rows(editor, settings, store):  # noqa: F811
    rows = "email\n" + "".join(f"r{n}@example.com\n" for n in range(IMPORT_ROWS + 1))
    answer = editor.post("/subscribers/import", content_type="multipart/form-data",
                         data={"csrf_token": token(editor), "csv": (io.BytesIO(rows.encode()), "huge.csv")})
    assert answer.status_code == 413 and "publisher subscribers import" in answer.get_data(as_text=True)
    assert sum(Subscribers(store, settings).count().values()) == 0


# -- 2. next= ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example",
                                    "/%5Cevil.example", "/%0a", "/\n/x", "/%2F/evil.example", "https://evil.example/",
                                    "javascript:alert(1)", "\\\\evil.example", " //evil.example", "/" + "a" * 3000,
                                    "http:/evil.example", "%2F%2Fevil.example", "/%2f%2fevil.example"])
def test_next_is_a_path_of_this_site_or_the_posts_list(client, target):  # noqa: F811
    answer = log_in(client, next_path=target)
    assert answer.status_code == 303 and answer.headers["Location"] == "/posts"
    assert client.get("/login?next=" + quote(target, safe="")).headers["Location"] == "/posts"


def test_next_keeps_a_path_and_its_query(client):  # noqa: F811
    assert log_in(client, next_path="/subscribers?q=ada&status=active").headers["Location"] == \
        "/subscribers?q=ada&status=active"


# -- 3. failed logins -------------------------------------------------------------------------------

def test_failed_logins_are_limited_per_client(settings, store):  # noqa: F811
    limited = create_app(settings, store, login_lockout_seconds=1)
    attacker, neighbour = limited.test_client(), limited.test_client()
    answers = [log_in(attacker, "wrong password") for _ in range(20)]
    assert [a.status_code for a in answers] == [401] * 10 + [429] * 10
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 1
    assert log_in(attacker).status_code == 429  # the right password too, while locked
    spoofed = attacker.post("/login", headers={"X-Forwarded-For": "198.51.100.1"}, data={
        "password": PASSWORD, "csrf_token": csrf_of(attacker.get("/login").get_data(as_text=True))})
    assert spoofed.status_code == 429  # no proxy declared: the header is anyone's to send
    neighbour.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert log_in(neighbour).status_code == 303
    time.sleep(1.2)
    assert log_in(attacker).status_code == 303


def test_the_default_limit_is_ten_in_ten_minutes(settings, store):  # noqa: F811
    throttle = create_app(settings, store).extensions["publisher"]["login_throttle"]
    assert (throttle.attempts, throttle.window, throttle.lockout) == (10, 600.0, 600.0)


# -- 4. the password off loopback, sessions, proxies, frames, page numbers ----------------------------

def test_a_short_password_serves_this_machine_only(tmp_path, content, store):  # noqa: F811
    short = make_settings(tmp_path, content, PUBLISHER_DESK_PASSWORD="short-pass1")
    for host, proxy in (("0.0.0.0", False), ("192.0.2.10", False), ("::", False), (None, True), ("127.0.0.1", True)):
        with pytest.raises(InputError, match="at least 12"):
            create_app(short, store, host=host, trust_proxy=proxy)
    with pytest.raises(InputError, match="not set"):
        create_app(make_settings(tmp_path, content, PUBLISHER_DESK_PASSWORD=None), store, host="0.0.0.0")
    local = create_app(short, store, host="127.0.0.1", trust_proxy=False)
    create_app(make_settings(tmp_path, content), store, host="0.0.0.0", trust_proxy=True)  # 20 characters: fine
    far = local.test_client()
    far.environ_base.update(FAR)
    page = far.get("/login").get_data(as_text=True)
    assert "at least 12" in page and re.search(r'<button[^>]*data-testid="login"[^>]*disabled', page)
    assert log_in(far, "short-pass1").status_code == 403
    proxied = local.test_client()  # an undeclared proxy on this machine: every visitor would look local
    proxied.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9"
    assert log_in(proxied, "short-pass1").status_code == 403
    assert log_in(local.test_client(), "short-pass1").status_code == 303


def test_serve_behind_a_declared_proxy_refuses_a_short_password(tmp_path, content):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(PUBLISHER_DB_URL=f"sqlite:///{tmp_path / 'serve.db'}", PUBLISHER_CONTENT_DIR=str(content),
               PUBLISHER_DESK_PASSWORD="short", PUBLISHER_TRUST_PROXY="1")
    ran = subprocess.run([sys.executable, "-m", "publisher", "serve", "--port", "1"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert ran.returncode == 2 and "at least 12" in ran.stderr and "Traceback" not in ran.stderr


def test_logging_out_revokes_the_session_on_the_server(app, client):  # noqa: F811
    log_in(client)
    kept = client.get_cookie("publisher_desk").value
    assert client.post("/logout", data={"csrf_token": token(client)}).status_code == 303
    thief = app.test_client()
    thief.set_cookie("publisher_desk", kept)
    assert thief.get("/posts").status_code == 302


def test_a_new_password_or_a_restart_ends_every_session(tmp_path, content, store, app, client):  # noqa: F811
    log_in(client)
    kept = client.get_cookie("publisher_desk").value
    for other in (create_app(make_settings(tmp_path, content, PUBLISHER_DESK_PASSWORD="another long password"), store),
                  create_app(make_settings(tmp_path, content), store)):
        visitor = other.test_client()
        visitor.set_cookie("publisher_desk", kept)
        assert visitor.get("/posts").status_code == 302
    assert client.get("/posts").status_code == 200


def test_behind_a_declared_proxy_cookies_are_secure_and_the_client_address_counts(settings, store, monkeypatch):  # noqa: F811
    plain = create_app(settings, store, trust_proxy=False).test_client()
    direct = plain.get("/login", headers={"X-Forwarded-Proto": "https"})  # no proxy declared: ignored
    assert "Secure" not in direct.headers["Set-Cookie"] and "Strict-Transport-Security" not in direct.headers
    assert "Secure" not in log_in(plain).headers["Set-Cookie"]
    monkeypatch.setenv("PUBLISHER_TRUST_PROXY", "1")
    proxied_app = create_app(settings, store, login_lockout_seconds=60)

    def via_proxy(browser, forwarded_for: str, password: str):
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": forwarded_for}
        page = browser.get("/login", headers=headers, base_url="https://localhost")  # the cookie is Secure
        assert page.headers["Strict-Transport-Security"]
        assert "Set-Cookie" not in page.headers or "Secure" in page.headers["Set-Cookie"]
        return browser.post("/login", headers=headers, base_url="https://localhost", data={
            "password": password, "csrf_token": csrf_of(page.get_data(as_text=True)), "next": "/posts"})

    attacker = proxied_app.test_client()
    assert [via_proxy(attacker, "198.51.100.20", "wrong").status_code for _ in range(11)] == [401] * 10 + [429]
    other = via_proxy(proxied_app.test_client(), "198.51.100.21", PASSWORD)  # another client behind the proxy
    assert other.status_code == 303 and "Secure" in other.headers["Set-Cookie"]


def test_no_page_can_be_framed_by_another_site(editor, settings, store, client):  # noqa: F811
    reader = Subscribers(store, settings).add("framed@example.com").subscriber
    unsubscribe = f"/unsubscribe/{Subscribers(store, settings).token_for(reader)}"
    answers = [editor.get(path) for path in ("/login", "/posts", "/posts/plain-notes", "/posts/plain-notes/status.html",
                                             "/posts/plain-notes/status.json", "/subscribers", "/desk/assets/desk.js",
                                             "/no-such-page", "/healthz", unsubscribe, "/unsubscribe/forged")]
    answers += [client.post(unsubscribe, data={"confirm": "yes"}), client.post("/login", data={"pad": "x" * 70_000})]
    for answer in answers:
        assert answer.headers["X-Frame-Options"] == "DENY", answer.request.path
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], answer.request.path
    preview = editor.get("/posts/plain-notes/email.html")
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in preview.headers["Content-Security-Policy"]


@pytest.mark.parametrize("page", ["99999999999999999999", "-1", "abc", "1e9", "0", "٣", "9" * 5000, ""])
def test_page_numbers_are_clamped(editor, page):  # noqa: F811
    for path in ("/subscribers", "/posts"):
        assert editor.get(f"{path}?page={page}").status_code == 200
    assert editor.post(f"/subscribers/{page or 0}9999999999999999999/unsubscribe",
                       data={"csrf_token": token(editor)}).status_code in (404, 303)


# -- 5. broken posts -----------------------------------------------------------------------------------

def test_posts_that_do_not_load_or_render_are_listed_with_the_reason(editor, content, monkeypatch):  # noqa: F811
    (content / "bad-url.md").write_text("---\ntitle: x\nurl: 'http://[::1'\n---\nbody\n", encoding="utf-8")
    (content / "binary.md").write_bytes(b"\x00\x01\x02 not text")
    (content / "latin1.md").write_bytes(b"---\ntitle: caf\xe9\n---\nbody\n")
    listing = editor.get("/posts")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200
    for name in ("binary.md", "latin1.md", "broken.md"):
        assert re.search(rf"{re.escape(name)}</b><div class=\"error-text\"[^>]*>not loadable: ", html), name
    for slug in ("bad-url", "binary", "latin1"):  # bad-url loads but does not render: its page says so
        assert editor.get(f"/posts/{slug}").status_code == 422
    assert editor.get("/posts/bad-url/status.json").status_code == 422
    assert re.search(r"bad-url.md</b><div class=\"error-text\"[^>]*>not loadable: .*ValueError",
                     editor.get("/posts").get_data(as_text=True))

    from publisher.desk import shelf

    def explode(post, _settings):
        raise RuntimeError("a renderer's bug")

    monkeypatch.setattr(shelf, "render_all", explode)
    (content / "plain-notes.md").touch()
    assert editor.get("/posts").status_code == 200
    page = editor.get("/posts/plain-notes")
    assert page.status_code == 422 and "not loadable" in page.get_data(as_text=True)
    assert editor.get("/posts/plain-notes/status.json").status_code == 422


# -- 6. the press plan ---------------------------------------------------------------------------------

def test_publish_shows_the_plan_and_only_confirm_presses(editor, settings, store, content):  # noqa: F811
    book = Subscribers(store, settings)
    for n in range(3):
        book.add(f"reader{n}@example.com")
    plan = plan_of(editor, "plain-notes")
    assert plan["has_work"] and not plan["blocked"]
    assert [line["action"] for line in plan["plan"]] == ["outbox", "outbox", "outbox", "disabled"]
    assert publications(store) == 0
    assert confirm(editor, "plain-notes", {**plan, "post_sha256": "0" * 64}).status_code == 409
    (content / "plain-notes.md").write_text((content / "plain-notes.md").read_text() + "\nOne more line.\n")
    changed = confirm(editor, "plain-notes", plan)
    assert changed.status_code == 409 and "changed" in changed.get_json()["error"]
    assert changed.get_json()["post_sha256"] != plan["post_sha256"]
    wait_for_presses()
    assert publications(store) == 0
    assert confirm(editor, "plain-notes", changed.get_json()).status_code == 202
    wait_for_presses()
    assert publications(store) == 1


def test_the_plan_names_recipients_posts_chat_and_wechat_mode(tmp_path, content, store):  # noqa: F811
    live = make_settings(tmp_path, content, PUBLISHER_SMTP_HOST="127.0.0.1", PUBLISHER_SMTP_PORT="9",
                         PUBLISHER_TELEGRAM_BOT_TOKEN="1:x", PUBLISHER_TELEGRAM_CHAT_ID="@desk_news",
                         PUBLISHER_SITE_URL="https://news.example.org", PUBLISHER_EMAIL_FROM="News <n@example.org>")
    Subscribers(store, live).add("one@example.com")
    desk = create_app(live, store).test_client()
    log_in(desk)
    words = {line["channel"]: line["words"] for line in plan_of(desk, "plain-notes")["plan"]}
    assert "1 active subscriber" in words["email"] and "@desk_news" in words["telegram"]
    assert "thread" in words["x"] or "outbox" in words["x"]
    assert publications(store) == 0


# -- 7. lists -------------------------------------------------------------------------------------------

def test_lists_say_showing_n_of_m_and_page_through(editor, settings, store, content):  # noqa: F811
    book = Subscribers(store, settings)
    for n in range(120):
        book.add(f"{'match' if n < 11 else 'reader'}{n:03}@example.com")
    first = editor.get("/subscribers").get_data(as_text=True)
    assert "showing 50 of 120 (1–50)" in first and 'data-testid="page-next"' in first
    last = editor.get("/subscribers?page=3").get_data(as_text=True)
    assert "showing 20 of 120 (101–120)" in last and 'data-testid="page-next"' not in last
    assert "showing 20 of 120" in editor.get("/subscribers?page=99999999999999999999").get_data(as_text=True)
    assert "showing 11 of 11" in editor.get("/subscribers?q=match").get_data(as_text=True)
    for n in range(52):
        (content / f"note-{n:02}.md").write_text(f"---\ntitle: Note {n}\ndate: 2025-01-{n % 28 + 1:02}\n---\nText.\n")
    posts = editor.get("/posts").get_data(as_text=True)
    assert "showing 50 of 56 (1–50)" in posts
    assert "showing 6 of 56 (51–56)" in editor.get("/posts?page=2").get_data(as_text=True)


# -- the real server: a 200 MB chunked POST ----------------------------------------------------------

STREAM_BYTES, CHUNK = 200 * 1024 * 1024, 1024 * 1024


def _serve(tmp_path, folder, *options: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(PUBLISHER_DB_URL=f"sqlite:///{tmp_path / 'desk.db'}", PUBLISHER_CONTENT_DIR=str(folder),
               PUBLISHER_DESK_PASSWORD=PASSWORD, PUBLISHER_SECRET_KEY="desk-test-secret-key", COLUMNS="300")
    server = subprocess.Popen([sys.executable, "-m", "publisher", "serve", "--port", str(port), *options],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            assert server.poll() is None, "publisher serve stopped"
            time.sleep(0.05)
    server.kill()
    pytest.fail("publisher serve did not start")


def _stream(port: int, path: str) -> tuple[int, bytes]:
    """Send up to 200 MB as 1 MB chunks; stop when the server answers, closes or stalls (and after
    60 s whatever happens). Returns (bytes sent, the answer's status line)."""
    deadline, sent, answer = time.monotonic() + 60, 0, b""
    frame = f"{CHUNK:x}\r\n".encode() + b"a" * CHUNK + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode())
        for _ in range(STREAM_BYTES // CHUNK):
            if time.monotonic() > deadline or select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(frame)
            except OSError:  # refused: the server closed the connection
                break
            sent += CHUNK
        try:
            answer = sock.recv(4096)
        except OSError:
            pass
    return sent, answer.split(b"\r\n", 1)[0]


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's peak memory from /proc")
@pytest.mark.parametrize("server_kind", ["waitress", "dev"])
def test_a_200_mb_chunked_post_is_refused_early_by_the_real_server(tmp_path, content, server_kind):  # noqa: F811
    served = make_settings(tmp_path, content)
    opened = Store(served.db_url)
    book = Subscribers(opened, served)
    reader = book.add("reader@example.com").subscriber
    server, port = _serve(tmp_path, content, *(["--dev"] if server_kind == "dev" else []))
    try:
        for path in ("/login", f"/unsubscribe/{book.token_for(reader)}"):
            sent, status = _stream(port, path)
            assert sent < STREAM_BYTES // 4, f"{path}: {sent} bytes went in before the server refused"
            assert status in (b"", b"HTTP/1.1 413 Request Entity Too Large", b"HTTP/1.1 413 REQUEST ENTITY TOO LARGE",
                              b"HTTP/1.1 413 Content Too Large"), status
        peak = _peak_rss_mb(server.pid)
        assert peak < 300, f"the server peaked at {peak:.0f} MB"
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        assert book.get("reader@example.com").status == "active"
    finally:
        server.terminate()
        server.wait(timeout=10)
        opened.dispose()
