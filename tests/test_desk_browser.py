"""The web desk in a real browser (Debian's headless Chromium driven by Playwright) against the
sandbox stand-ins of every platform: log in, see the four previews, press Publish and read the
plan (nothing sent yet), confirm once, watch every channel reach "sent", press again (a double
click, a second tab, after a reload) and see nothing new sent. A blocked channel: the plan lists
its problems and only "Publish the ready channels" sends (the others). Plus the safety cases:
login redirects, 20 wrong passwords (429, then the right one works after the wait), CSRF,
escaping.

Screenshots of the post page before and after publishing go to test-artifacts/ (git-ignored by
the .gitignore this test writes there)."""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from publisher import publish as publish_module
from publisher.config import Settings, load_settings
from publisher.post import load_post
from publisher.preview import channel_views, render_all
from publisher.sandbox.common import RunningServer
from publisher.sandbox.run import Sandbox, start_sandbox
from publisher.store import Store
from publisher.subscribers import Subscribers
from publisher.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                "(apt-get install chromium); the desk's browser tests need it")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
EXAMPLE_SUBSCRIBERS = ROOT / "examples" / "subscribers.csv"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse desk 42"
CHANNELS = ("email", "x", "telegram", "wechat")
SCRIPT_TITLE = "<script>alert(1)</script>"
SCRIPT_POST = f"""---
title: "{SCRIPT_TITLE}"
date: 2026-01-25
summary: "- A point with <b>tags</b> & <img src=x onerror=alert(2)>"
---
An English post whose title is a script. It must show as text, **never run**.
"""
TELEGRAM_ONLY = """channels:
  email: {enabled: false}
  x: {enabled: false}
  wechat: {enabled: false}"""
ENGLISH_POST = f"""---
title: Weekly notes on shipping software 🚀
date: 2026-02-02
slug: weekly-notes
{TELEGRAM_ONLY}
---
A short English issue with a [link](https://example.com/a?b=1&c=2), `inline code` and a long URL:
https://example.com/a/very/long/path/that/keeps/going/and/going/until/it/wraps/somewhere/sensible

> A quote worth keeping.

- one
  - nested
- two

| a | b |
|---|---|
| 1 | 2 |

```python
print("hello")
```
"""
BLOCKED_POST = """---
title: A post whose title is far too long for WeChat to take
date: 2026-02-04
slug: no-cover
channels:
  email: {enabled: false}
---
WeChat takes titles of 32 characters at most, so it is blocked; X and Telegram are ready.
"""
UNCERTAIN_POST = f"""---
title: A post whose message may or may not have arrived
date: 2026-02-03
slug: maybe-arrived
{TELEGRAM_ONLY}
---
Just one paragraph, so Telegram gets one message.
"""
SLOW_MS = 30_000  # the whole publish takes ~2 s here (Telegram paces 1 s between calls)


@dataclass
class Desk:
    url: str
    sandbox: Sandbox
    settings: Settings
    slug: str
    tweets: int
    telegram_calls: int
    active_subscribers: list[str]
    store: Store

    def post_url(self, slug: str | None = None) -> str:
        return f"{self.url}/posts/{slug or self.slug}"

    def received(self) -> dict:
        """What every stand-in received so far."""
        readouts = self.sandbox.readouts()
        telegram = requests.get(readouts["telegram"], timeout=10).json()["messages"]
        return {
            "emails": requests.get(readouts["email"], timeout=10).json()["messages"],
            "tweets": requests.get(readouts["x"], timeout=10).json()["tweets"],
            "telegram": [m for chat in telegram.values() for m in chat],
            "drafts": requests.get(readouts["wechat"], timeout=10).json()["drafts"],
        }


def wait_for_presses() -> None:
    """Join the background press threads, so "nothing new was sent" is checked after a press
    finished, not while it may still be sending."""
    for thread in list(publish_module._running.values()):
        thread.join(timeout=60)
        assert not thread.is_alive(), "a press is still running after 60 s"


def seed_image_sizes(settings: Settings, *posts) -> None:
    """The email's checks name images of unknown pixel size (Outlook would draw them full width)
    and the press learns sizes from the network these tests do not reach: write the size cache by
    hand, as channels/email/image_sizes.py allows."""
    try:
        from channels.email.image_sizes import cache_path, post_image_urls
    except ImportError:  # an email channel without the size cache has nothing to seed
        return
    sizes = {url: [800, 450] for post in posts for url in post_image_urls(post)}
    cache_path(settings).write_text(json.dumps(sizes), encoding="utf-8")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("desk")
    content = tmp / "content"
    content.mkdir()
    shutil.copy(SAMPLE, content / SAMPLE.name)
    (content / "script-title.md").write_text(SCRIPT_POST, encoding="utf-8")
    (content / "weekly-notes.md").write_text(ENGLISH_POST, encoding="utf-8")
    (content / "maybe-arrived.md").write_text(UNCERTAIN_POST, encoding="utf-8")
    (content / "no-cover.md").write_text(BLOCKED_POST, encoding="utf-8")
    sandbox = start_sandbox()
    settings = load_settings(env={
        **sandbox.env(), "PUBLISHER_DB_URL": f"sqlite:///{tmp / 'desk.db'}", "PUBLISHER_CONTENT_DIR": str(content),
        "PUBLISHER_DESK_PASSWORD": PASSWORD, "PUBLISHER_X_PAUSE_SECONDS": "0",
        "PUBLISHER_RETRY_BASE_SECONDS": "0.05", "PUBLISHER_RETRY_CAP_SECONDS": "0.1",
        "PUBLISHER_SECRET_KEY": "browser-test-secret-key", "PUBLISHER_OUTBOX_DIR": str(tmp / "outbox")})
    store = Store(settings.db_url)
    seed_image_sizes(settings, load_post(SAMPLE, settings))
    book = Subscribers(store, settings)
    book.import_csv(EXAMPLE_SUBSCRIBERS)
    active = sorted(s.email for s in book.list("active"))
    views = channel_views(render_all(load_post(SAMPLE, settings), settings))
    server = RunningServer(create_app(settings, store)).start()
    try:
        yield Desk(server.url, sandbox, settings, load_post(SAMPLE, settings).slug, len(views["tweets"]),
                   len(views["calls"]), active, store)
    finally:
        wait_for_presses()
        server.stop()
        sandbox.stop()
        store.dispose()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def new_context(browser, desk: Desk):
    """A browser profile that reaches only this machine (post images point at the internet)."""
    context = browser.new_context(viewport={"width": 1680, "height": 1050}, device_scale_factor=1)
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    return context


def log_in(page, desk: Desk, target: str) -> None:
    page.goto(target)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#password", PASSWORD)
    page.get_by_test_id("login").click()
    expect(page).to_have_url(target)


def screenshot(page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n", encoding="utf-8")
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def statuses_read(page, word: str) -> None:
    """Every channel reads `word`; once sent, WeChat (in its default draft mode) reads "drafted"."""
    for channel in CHANNELS:
        shown = "drafted" if word == "sent" and channel == "wechat" else word
        expect(page.get_by_test_id(f"status-{channel}")).to_have_text(shown, timeout=SLOW_MS)


def press_and_confirm(page) -> None:
    """Publish shows the plan; Confirm presses."""
    page.get_by_test_id("publish").click()
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("plan")).to_have_count(0)


def counts(got: dict) -> dict:
    return {name: len(items) for name, items in got.items()}


def test_log_in_preview_publish_once_and_never_twice(browser, desk):
    context = new_context(browser, desk)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, desk, desk.post_url())

    # the four previews, as `publisher preview` renders them
    title = load_post(SAMPLE, desk.settings).title
    expect(page.get_by_test_id("post-title")).to_have_text(title)
    expect(page.locator("#x .tweet")).to_have_count(desk.tweets)
    expect(page.locator("#telegram .bubble")).to_have_count(desk.telegram_calls)
    expect(page.locator("#wechat .wx-title")).to_have_text(title)
    expect(page.frame_locator("iframe[data-pane=email-html]").locator("body")).to_contain_text(title)
    page.locator("#email .toggle button", has_text="Text").click()
    expect(page.locator("iframe[data-pane=email-text]")).to_be_visible()
    expect(page.frame_locator("iframe[data-pane=email-text]").locator("body")).to_contain_text(title)
    page.locator("#email .toggle button", has_text="HTML").click()
    statuses_read(page, "not published")
    expect(page.get_by_test_id("publish")).to_be_enabled()
    screenshot(page, "post-page-before.png")

    # Publish shows the plan, channel by channel; nothing is sent before Confirm
    before = counts(desk.received())
    page.get_by_test_id("publish").click()
    plan = page.get_by_test_id("plan")
    expect(plan).to_be_visible()
    expect(page.get_by_test_id("plan-email")).to_contain_text("8 active")
    expect(page.get_by_test_id("plan-x")).to_contain_text(f"a thread of {desk.tweets} posts")
    expect(page.get_by_test_id("plan-telegram")).to_contain_text(desk.settings.telegram_chat_id)
    expect(page.get_by_test_id("plan-wechat")).to_contain_text("draft")
    expect(page.get_by_test_id("publish-ready")).to_have_count(0)
    screenshot(page, "post-page-plan.png")
    page.wait_for_timeout(500)
    assert counts(desk.received()) == before and before == {"emails": 0, "tweets": 0, "telegram": 0, "drafts": 0}
    statuses_read(page, "not published")
    page.get_by_test_id("cancel-plan").click()  # Cancel: the plan goes, nothing is sent
    expect(plan).to_have_count(0)
    expect(page.locator("#press-message")).to_contain_text("Nothing was sent")
    assert counts(desk.received()) == before

    # Confirm: every channel lands, live, without a reload
    press_and_confirm(page)
    statuses_read(page, "sent")
    expect(page.get_by_test_id("post-state")).to_have_text("drafted")
    wait_for_presses()
    received = desk.received()
    tweets = received["tweets"]
    assert len(tweets) == desk.tweets
    assert tweets[0]["in_reply_to_tweet_id"] is None
    assert [t["in_reply_to_tweet_id"] for t in tweets[1:]] == [t["id"] for t in tweets[:-1]]  # one reply chain
    assert len(received["telegram"]) == desk.telegram_calls
    assert len(received["drafts"]) == 1
    assert sorted(r for m in received["emails"] for r in m["rcpt_tos"]) == desk.active_subscribers
    assert len(desk.active_subscribers) == 8
    expect(page.locator(".status-card[data-channel=x] .part a").first).to_have_attribute("href", re.compile(r"/status/"))
    screenshot(page, "post-page-after.png")
    screenshot(page, "post-page-after-full.png", full_page=True)

    first = counts(received)
    # a double click, a second tab and a reload: nothing new
    page.get_by_test_id("publish").dblclick()
    expect(page.locator("#press-message")).to_contain_text("Nothing new to send")
    wait_for_presses()
    second_tab = context.new_page()
    second_tab.goto(desk.post_url())
    statuses_read(second_tab, "sent")
    second_tab.get_by_test_id("publish").click()
    expect(second_tab.locator("#press-message")).to_contain_text("Nothing new to send")
    page.reload()
    page.get_by_test_id("publish").click()
    expect(page.locator("#press-message")).to_contain_text("Nothing new to send")
    wait_for_presses()
    assert counts(desk.received()) == first
    status = page.request.get(desk.post_url() + "/status.json").json()
    assert {card["name"]: (card["state"], card["attempts"]) for card in status["cards"]} == \
        {name: ("drafted" if name == "wechat" else "sent", 1) for name in CHANNELS}
    assert dialogs == []
    context.close()


def test_every_desk_page_needs_login(browser, desk):
    context = new_context(browser, desk)
    page = context.new_page()
    for path in ("/", "/posts", f"/posts/{desk.slug}", f"/posts/{desk.slug}/email.html", "/subscribers"):
        page.goto(desk.url + path)
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.locator("#password")).to_be_visible()
    assert page.request.get(desk.post_url() + "/status.json").status == 401
    refused = page.request.post(desk.post_url("script-title") + "/publish", form={"force": "1"})
    assert refused.status == 401
    context.close()


def test_a_post_without_the_csrf_token_changes_nothing(browser, desk):
    context = new_context(browser, desk)
    page = context.new_page()
    log_in(page, desk, desk.post_url("script-title"))
    for form in ({}, {"csrf_token": "forged", "force": "1"}):
        assert page.request.post(desk.post_url("script-title") + "/publish", form=form).status == 400
    wait_for_presses()
    status = page.request.get(desk.post_url("script-title") + "/status.json").json()
    assert status["publication"] is None and status["state"] == "not published"
    book = Subscribers(Store(desk.settings.db_url), desk.settings)
    ada = book.get("ada@example.com")
    assert page.request.post(f"{desk.url}/subscribers/{ada.id}/unsubscribe", form={}).status == 400
    assert book.get("ada@example.com").status == "active"
    context.close()


def test_a_script_title_shows_as_text(browser, desk):
    context = new_context(browser, desk)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, desk, desk.url + "/posts")
    expect(page.locator("a.post-link", has_text=SCRIPT_TITLE)).to_have_count(1)
    page.locator("a.post-link", has_text=SCRIPT_TITLE).click()
    expect(page.get_by_test_id("post-title")).to_have_text(SCRIPT_TITLE)
    expect(page.locator("#wechat .wx-title")).to_have_text(SCRIPT_TITLE)
    expect(page.frame_locator("iframe[data-pane=email-html]").locator("body")).to_contain_text(SCRIPT_TITLE)
    assert page.title().startswith(SCRIPT_TITLE)
    assert dialogs == []
    context.close()


def test_subscribers_counts_import_search_and_unsubscribe(browser, desk):
    context = new_context(browser, desk)
    page = context.new_page()
    log_in(page, desk, desk.url + "/subscribers")
    expect(page.get_by_test_id("count-active")).to_contain_text("8")
    page.get_by_test_id("import-file").set_input_files(files=[{
        "name": "more.csv", "mimeType": "text/csv",
        "buffer": "email,name\nnew.reader@example.com,New Reader\nnot-an-address,Nobody\n".encode()}])
    page.get_by_test_id("import").click()
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("1 added")
    expect(report.locator("tbody tr")).to_have_count(1)
    expect(report.locator("tbody tr td").first).to_have_text("3")  # the bad line, by its line number
    expect(page.get_by_test_id("count-active")).to_contain_text("9")
    page.fill("input[name=q]", "new.reader")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.grid tbody tr")).to_have_count(1)
    screenshot(page, "subscribers.png")
    page.locator("table.grid tbody tr button", has_text="Unsubscribe").click()
    expect(page.locator(".flash.ok")).to_contain_text("Unsubscribed")
    expect(page.get_by_test_id("count-unsubscribed")).to_contain_text("2")
    context.close()


def telegram_fault(desk: Desk, rule: dict) -> None:
    answer = requests.post(desk.sandbox.servers["telegram"].url + "/_sandbox/faults", json={"rules": [rule]}, timeout=10)
    assert answer.ok, answer.text


def telegram_texts(desk: Desk) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in desk.received()["telegram"]]


def test_a_failed_channel_shows_the_platform_error_and_retries(browser, desk):
    telegram_fault(desk, {"match": "sendMessage", "kind": "expire_token", "times": 1})
    context = new_context(browser, desk)
    page = context.new_page()
    log_in(page, desk, desk.post_url("weekly-notes"))
    press_and_confirm(page)
    expect(page.get_by_test_id("status-telegram")).to_have_text("failed", timeout=SLOW_MS)
    for channel in ("email", "x", "wechat"):
        expect(page.get_by_test_id(f"status-{channel}")).to_have_text("disabled")
    expect(page.get_by_test_id("error-telegram")).to_contain_text("Unauthorized")
    expect(page.locator("body")).not_to_contain_text(desk.settings.telegram_bot_token)
    screenshot(page, "post-page-failed.png")
    wait_for_presses()
    before = len(telegram_texts(desk))
    page.get_by_test_id("retry-telegram").click()
    expect(page.get_by_test_id("status-telegram")).to_have_text("sent", timeout=SLOW_MS)
    expect(page.get_by_test_id("post-state")).to_have_text("sent")
    wait_for_presses()
    assert len(telegram_texts(desk)) == before + 1
    context.close()


def test_an_uncertain_part_is_settled_by_the_editor_and_never_sent_twice(browser, desk):
    # the front end's 502 page after the stand-in stored the message: it arrived, but the
    # publisher cannot know (a non-API answer)
    telegram_fault(desk, {"match": "sendMessage", "kind": "502", "after": True, "times": 1})
    context = new_context(browser, desk)
    page = context.new_page()
    log_in(page, desk, desk.post_url("maybe-arrived"))
    press_and_confirm(page)
    expect(page.get_by_test_id("status-telegram")).to_have_text("uncertain", timeout=SLOW_MS)
    wait_for_presses()
    arrived = [t for t in telegram_texts(desk) if "one paragraph" in t]
    assert len(arrived) == 1
    page.get_by_test_id("reconcile-sent-telegram").click()
    expect(page.get_by_test_id("status-telegram")).to_have_text("sent", timeout=SLOW_MS)
    wait_for_presses()
    assert [t for t in telegram_texts(desk) if "one paragraph" in t] == arrived
    context.close()


def test_a_blocked_channel_is_listed_and_only_the_ready_channels_go(browser, desk):
    context = new_context(browser, desk)
    page = context.new_page()
    log_in(page, desk, desk.post_url("no-cover"))
    before = desk.received()
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("plan-blocked")).to_contain_text("Nothing is sent unless")
    expect(page.get_by_test_id("plan-wechat")).to_contain_text("blocked")
    expect(page.get_by_test_id("plan-wechat")).to_contain_text("title")
    expect(page.get_by_test_id("plan-email")).to_contain_text("turned off")
    expect(page.get_by_test_id("confirm")).to_have_count(0)  # no way on but the explicit one
    ready = page.get_by_test_id("publish-ready")
    expect(ready).to_contain_text("X, Telegram")
    screenshot(page, "post-page-plan-blocked.png")
    page.wait_for_timeout(500)
    assert counts(desk.received()) == counts(before)
    ready.click()
    expect(page.get_by_test_id("status-x")).to_have_text("sent", timeout=SLOW_MS)
    expect(page.get_by_test_id("status-telegram")).to_have_text("sent", timeout=SLOW_MS)
    expect(page.get_by_test_id("status-wechat")).to_have_text("blocked")
    expect(page.get_by_test_id("post-state")).to_have_text("blocked", timeout=SLOW_MS)
    wait_for_presses()
    after = desk.received()
    assert len(after["drafts"]) == len(before["drafts"])
    assert len(after["tweets"]) > len(before["tweets"]) and len(after["telegram"]) > len(before["telegram"])
    assert any("WeChat takes titles" in (m.get("text") or "") for m in after["telegram"])
    context.close()


def test_twenty_wrong_passwords_get_429_and_the_right_one_works_after_the_wait(browser, desk):
    """Its own server: the shared one must keep letting the other tests (same address) log in.
    Ten failures in the (default) ten minutes lock the client until a lockout passed since its
    last try: a second here."""
    lockout = 1
    with RunningServer(create_app(desk.settings, desk.store, login_lockout_seconds=lockout)) as server:
        context = new_context(browser, desk)
        page = context.new_page()
        page.goto(server.url + "/login")

        def try_password(password: str) -> int:
            page.fill("#password", password)
            with page.expect_response(lambda r: r.request.method == "POST") as answered:
                page.get_by_test_id("login").click()
            page.wait_for_load_state()
            return answered.value.status

        statuses = [try_password("not the password") for _ in range(20)]
        assert statuses == [401] * 10 + [429] * 10
        expect(page.get_by_test_id("login-wait")).to_contain_text("Try again in")
        assert try_password(PASSWORD) == 429  # the right one, too early: still refused
        expect(page.get_by_test_id("login-wait")).to_be_visible()
        page.wait_for_timeout((lockout + 0.5) * 1000)
        page.fill("#password", PASSWORD)
        page.get_by_test_id("login").click()
        expect(page).to_have_url(server.url + "/posts")
        context.close()
