"""Safe to point at real accounts: one state per user found from any folder, a sandbox that never
touches it, rounds that cannot resend, an all-or-nothing press, no silent defaults for what readers
see, and a press that says when no worker takes its work. The real CLI against the stand-ins."""
from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import FAST, ROOT, SAMPLE, fresh_redis, reset_standins, run_cli
from tests.test_publish_e2e import ACTIVE, received

SUBSCRIBERS_CSV = ROOT / "examples" / "subscribers.csv"
LONG_TITLE = "A title far too long for WeChat, which takes thirty-two characters at most"


@pytest.fixture
def home(sandbox, tmp_path):
    """An empty HOME (no XDG folders), the stand-ins reset, live settings pointing at them."""
    reset_standins(sandbox)
    folder = tmp_path / "home"
    folder.mkdir()
    return {**sandbox.env(), "HOME": str(folder), "XDG_DATA_HOME": "", **FAST}


def counts(sandbox) -> dict[str, int]:
    return {name: len(items) for name, items in received(sandbox).items()}


def test_sandbox_then_live_then_another_folder_then_a_new_email_round(sandbox, home, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    sandboxed = run_cli("publish", str(SAMPLE), "--sandbox", env=home, cwd=first)
    assert sandboxed.returncode == 0, sandboxed.stdout + sandboxed.stderr
    assert "sandbox" in sandboxed.stdout
    assert run_cli("subscribers", "import", str(SUBSCRIBERS_CSV), env=home, cwd=first).returncode == 0
    count = run_cli("subscribers", "count", "--json", env=home, cwd=first)
    assert json.loads(count.stdout)["active"] == ACTIVE  # the sandbox's examples are not in the live list

    live = run_cli("publish", str(SAMPLE), "--yes", env=home, cwd=first)
    assert live.returncode == 0, live.stdout + live.stderr
    once = counts(sandbox)
    assert once["email"] == ACTIVE and once["x"] and once["telegram"] and once["wechat"] == 1

    elsewhere = run_cli("publish", str(SAMPLE), "--yes", env=home, cwd=second)
    assert elsewhere.returncode == 0 and "already sent" in elsewhere.stdout
    assert counts(sandbox) == once

    again = run_cli("publish", str(SAMPLE), "--again", "--channel", "email", "--yes", env=home, cwd=second)
    assert again.returncode == 0, again.stdout + again.stderr
    plain = run_cli("publish", str(SAMPLE), "--yes", env=home, cwd=first)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    after = counts(sandbox)
    assert after["email"] == 2 * ACTIVE
    assert {k: after[k] for k in ("x", "telegram", "wechat")} == {k: once[k] for k in ("x", "telegram", "wechat")}
    status = json.loads(run_cli("status", str(SAMPLE), "--json", env=home, cwd=second).stdout)
    assert {c["channel"]: c["state"] for c in status[0]["channels"]} == {
        "email": "sent", "telegram": "sent", "x": "sent", "wechat": "drafted"}  # a draft until published


def test_a_blocked_channel_stops_the_whole_press_until_ready_only(sandbox, home, tmp_path):
    post = tmp_path / "long-title.md"
    post.write_text(SAMPLE.read_text("utf-8").replace("title: ", f"title: {LONG_TITLE} #", 1), "utf-8")
    assert run_cli("subscribers", "import", str(SUBSCRIBERS_CSV), env=home).returncode == 0
    blocked = run_cli("publish", str(post), "--yes", env=home)
    assert blocked.returncode == 2, blocked.stdout + blocked.stderr
    assert "wechat" in blocked.stderr and "nothing was sent" in blocked.stderr
    assert counts(sandbox) == {"email": 0, "x": 0, "telegram": 0, "wechat": 0}

    ready = run_cli("publish", str(post), "--ready-only", "--yes", env=home)
    got = counts(sandbox)
    assert got["wechat"] == 0 and got["email"] == ACTIVE and got["x"] and got["telegram"], ready.stdout
    assert "blocked" in ready.stdout


def test_an_unknown_channel_option_is_refused_by_name(home, tmp_path):
    post = tmp_path / "typo.md"
    post.write_text("---\ntitle: Typo\nchannels:\n  telegram: {enable: false}\n---\nBody.\n", "utf-8")
    result = run_cli("publish", str(post), "--yes", env=home)
    assert result.returncode == 2
    assert "enable" in result.stderr and "did you mean 'enabled'" in result.stderr


def test_a_live_mailing_needs_the_site_url_readers_will_see(sandbox, home):
    env = {**home, "PUBLISHER_SITE_URL": ""}
    assert run_cli("subscribers", "import", str(SUBSCRIBERS_CSV), env=env).returncode == 0
    result = run_cli("publish", str(SAMPLE), "--yes", env=env)
    assert result.returncode == 2
    assert "PUBLISHER_SITE_URL" in result.stderr
    assert counts(sandbox)["email"] == 0


def test_with_a_broker_and_no_worker_the_press_says_so_and_exits_3(home):
    url = fresh_redis("redis://127.0.0.1:6379/13")
    env = {**home, "PUBLISHER_BROKER_URL": url, "PUBLISHER_WORKER_WAIT_SECONDS": "3"}
    result = run_cli("publish", str(SAMPLE), "--yes", env=env, timeout=60)  # the bound, not a measurement
    assert result.returncode == 3, result.stdout + result.stderr
    assert "publisher worker -Q" in result.stderr
    fresh_redis(url)


def test_a_draft_is_previewed_but_never_published(sandbox, home, tmp_path):
    post = tmp_path / "draft.md"
    post.write_text("---\ntitle: Not yet\ndraft: true\n---\nWork in progress.\n", "utf-8")
    assert run_cli("preview", str(post), "--out", str(tmp_path / "preview"), env=home).returncode == 0
    result = run_cli("publish", str(post), "--yes", env=home)
    assert result.returncode == 2 and "draft" in result.stderr
    assert counts(sandbox) == {"email": 0, "x": 0, "telegram": 0, "wechat": 0}


def test_two_simultaneous_again_presses_make_one_round(sandbox, home):
    import subprocess
    import sys

    assert run_cli("subscribers", "import", str(SUBSCRIBERS_CSV), env=home).returncode == 0
    assert run_cli("publish", str(SAMPLE), "--yes", env=home).returncode == 0
    before = counts(sandbox)
    environment = {**{k: v for k, v in __import__("os").environ.items() if not k.startswith("PUBLISHER_")}, **home}
    presses = [subprocess.Popen([sys.executable, "-m", "publisher", "publish", str(SAMPLE), "--again", "--yes"],
                                env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for press in presses:
        press.communicate(timeout=300)
    after = counts(sandbox)
    again = {k: after[k] - before[k] for k in after}
    # One more copy of everything, not two; X refuses the same text twice, and the thread adopts
    # the posts already there (duplicate content) instead of posting them again.
    assert {k: again[k] for k in ("email", "telegram", "wechat")} == {k: before[k] for k in ("email", "telegram", "wechat")}
    assert again["x"] == 0


def test_a_wechat_draft_reads_drafted_until_a_publish_press_publishes_that_draft(sandbox, home):
    wechat = sandbox.servers["wechat"].url
    drafted = run_cli("publish", str(SAMPLE), "--yes", env=home)
    assert drafted.returncode == 0, drafted.stdout + drafted.stderr
    assert "drafted" in drafted.stdout
    status = json.loads(run_cli("status", str(SAMPLE), "--json", env=home).stdout)
    assert {c["channel"]: c["state"] for c in status[0]["channels"]}["wechat"] == "drafted"
    assert requests.get(f"{wechat}/_sandbox/published", timeout=10).json()["published"] == []

    again = run_cli("publish", str(SAMPLE), "--yes", env=home)
    assert again.returncode == 0 and "already drafted" in again.stdout
    before = counts(sandbox)

    publishing = {**home, "PUBLISHER_WECHAT_PUBLISH": "publish"}
    published = run_cli("publish", str(SAMPLE), "--yes", env=publishing)
    assert published.returncode == 0, published.stdout + published.stderr
    status = json.loads(run_cli("status", str(SAMPLE), "--json", env=publishing).stdout)
    assert {c["channel"]: c["state"] for c in status[0]["channels"]} == dict.fromkeys(
        ("email", "telegram", "wechat", "x"), "sent")
    after = counts(sandbox)
    assert {k: after[k] for k in ("email", "x", "telegram")} == {k: before[k] for k in ("email", "x", "telegram")}
    # The draft left the draft box as the one published article: no second draft was added.
    assert after["wechat"] == 0
    assert len(requests.get(f"{wechat}/_sandbox/published", timeout=10).json()["published"]) == 1
