"""`publisher publish` end to end: the real CLI in a subprocess, the real clients (smtplib, tweepy,
requests) against the loopback stand-ins, a real SQLite store. Nothing of our own is mocked."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from publisher.config import load_settings
from publisher.store import Store
from publisher.web import create_app
from tests.conftest import ACTIVE, SAMPLE, live_env, run_cli



@pytest.fixture
def env(sandbox, tmp_path):
    return live_env(sandbox, tmp_path)


def received(sandbox) -> dict:
    get = lambda name: requests.get(sandbox.readouts()[name], timeout=180).json()
    return {"email": get("email")["messages"], "x": get("x")["tweets"],
            "telegram": [m for msgs in get("telegram")["messages"].values() for m in msgs],
            "wechat": get("wechat")["drafts"]}


def fault(sandbox, name: str, *rules: dict) -> None:
    requests.post(f"{sandbox.servers[name].url}/_sandbox/faults", json={"rules": list(rules)},
                  timeout=10).raise_for_status()


def preview_of(tmp_path) -> dict:
    out = tmp_path / "preview"
    assert run_cli("preview", str(SAMPLE), "--out", str(out)).returncode == 0
    return {"x": json.loads((out / "x_thread.json").read_text())["tweets"],
            "telegram": json.loads((out / "telegram.json").read_text())["calls"]}


def assert_one_of_everything(got: dict, expected: dict) -> None:
    tweets = got["x"]
    assert [t["text"] for t in tweets] == [t["text"] for t in expected["x"]]
    assert tweets[0]["in_reply_to_tweet_id"] is None and tweets[0]["media_ids"]
    for before, after in zip(tweets, tweets[1:]):
        assert after["in_reply_to_tweet_id"] == before["id"] and not after["media_ids"]
    assert len(got["telegram"]) == len(expected["telegram"])
    assert "photo" in got["telegram"][0] and all("text" in m for m in got["telegram"][1:])
    assert len(got["wechat"]) == 1
    recipients = sorted(m["rcpt_tos"][0] for m in got["email"])
    assert len(recipients) == ACTIVE == len(set(recipients))
    assert "old.reader@example.com" not in recipients and "bounced@example.net" not in recipients


def test_publish_delivers_once_to_every_platform(sandbox, env, tmp_path):
    result = run_cli("publish", str(SAMPLE), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    got = received(sandbox)
    assert_one_of_everything(got, preview_of(tmp_path))

    draft = got["wechat"][0]["news_item"][0]
    sources = re.findall(r'<img[^>]+src="([^"]+)"', draft["content"])
    assert sources and all(src.startswith("http://mmbiz.qpic.cn/") for src in sources)
    assert draft["content_source_url"] == "https://example.com/2026-01-24-ai-daily"

    for message in got["email"]:
        headers = message["headers"]
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["message_id"] and headers["Date"]
        assert message["content_types"] == ["multipart/alternative", "text/plain", "text/html"]

    again = run_cli("publish", str(SAMPLE), env=env)
    assert again.returncode == 0 and "already sent" in again.stdout
    assert {k: len(v) for k, v in received(sandbox).items()} == {k: len(v) for k, v in got.items()}


def test_one_click_unsubscribe_from_the_mailed_header(sandbox, env):
    assert run_cli("publish", str(SAMPLE), "--channel", "email", env=env).returncode == 0
    message = next(m for m in received(sandbox)["email"] if m["rcpt_tos"] == ["ada@example.com"])
    https_url = re.search(r"<(https://[^>]+)>", message["headers"]["List-Unsubscribe"]).group(1)
    path = https_url.removeprefix("https://example.com")
    settings = load_settings(env=env)
    client = create_app(settings, Store(settings.db_url)).test_client()
    assert client.get(path).status_code == 200  # a confirm page; GET changes nothing
    listed = run_cli("subscribers", "list", "--status", "active", env=env).stdout
    assert "ada@example.com" in listed
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "Location" not in answer.headers
    listed = run_cli("subscribers", "list", "--status", "active", env=env).stdout
    assert "ada@example.com" not in listed


def test_faults_are_ridden_out_without_duplicates(sandbox, env, tmp_path):
    fault(sandbox, "x", {"match": "/2/tweets", "kind": "429", "times": 2, "retry_after": 1},
          {"match": "/2/tweets", "kind": "503", "times": 1, "after": True})
    fault(sandbox, "telegram", {"match": "sendMessage", "kind": "429", "times": 1, "retry_after": 1})
    fault(sandbox, "wechat", {"match": "draft/add", "kind": "expire_token", "times": 1},
          {"match": "uploadimg", "kind": "500", "times": 1})
    sandbox.smtp.set_faults(temporary_next=2)
    result = run_cli("publish", str(SAMPLE), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_one_of_everything(received(sandbox), preview_of(tmp_path))


def test_a_5xx_after_acceptance_that_cannot_be_reconciled_is_never_reported_sent(sandbox, env):
    fault(sandbox, "telegram", {"match": "sendMessage", "kind": "502", "after": True, "times": 0})
    result = run_cli("publish", str(SAMPLE), "--channel", "telegram", env={**env, "PUBLISHER_RETRY_MAX_ATTEMPTS": "2"})
    assert result.returncode == 1
    status = json.loads(run_cli("status", str(SAMPLE), "--json", env=env).stdout)
    telegram = next(c for c in status[0]["channels"] if c["channel"] == "telegram")
    assert telegram["state"] != "sent" and telegram["parts"].get("uncertain") == 1
    assert len(received(sandbox)["telegram"]) == 2  # photo + the one message, posted exactly once


def test_bad_credentials_fail_with_the_platform_message_and_no_secret(sandbox, env):
    secret = "wrong-secret-that-must-not-leak"
    result = run_cli("publish", str(SAMPLE), "--channel", "x", env={**env, "PUBLISHER_X_CONSUMER_SECRET": secret})
    assert result.returncode == 1
    assert "failed" in result.stdout and "Unauthorized" in result.stdout
    assert secret not in result.stdout + result.stderr
    status = run_cli("status", str(SAMPLE), "--json", env=env).stdout
    assert secret not in status and received(sandbox)["x"] == []


@pytest.mark.parametrize("kill_after", [0.4, 1.2, 2.5])
def test_sigkill_at_any_point_then_rerun_finishes_without_duplicates(sandbox, env, tmp_path, kill_after):
    slow = {**env, "PUBLISHER_X_PAUSE_SECONDS": "0.25"}
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PUBLISHER_")}
    process = subprocess.Popen([sys.executable, "-m", "publisher", "publish", str(SAMPLE)],
                               env={**clean, **slow}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    result = run_cli("publish", str(SAMPLE), env=env)
    got = received(sandbox)
    texts = [t["text"] for t in got["x"]]
    assert len(texts) == len(set(texts))
    assert len({m["rcpt_tos"][0] for m in got["email"]}) == len(got["email"]) <= ACTIVE
    assert len(got["wechat"]) <= 1
    if result.returncode == 0:
        assert_one_of_everything(got, preview_of(tmp_path))
    else:  # only a part caught mid-request may stay uncertain; it is reported, never resent
        assert "uncertain" in result.stdout, result.stdout


def test_a_post_without_pictures_gets_the_plain_card_as_its_wechat_cover(sandbox, env, tmp_path):
    post = tmp_path / "text-only.md"
    post.write_text("---\ntitle: Words only\ndate: 2026-02-01\nslug: words-only\n---\n"
                    "A short issue with no picture at all and a [link](https://example.org/a).\n", encoding="utf-8")
    result = run_cli("publish", str(post), "--yes", "--channel", "wechat", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    drafts = received(sandbox)["wechat"]
    assert len(drafts) == 1
    # the stand-in, like draft/add, refuses a thumb_media_id that is not an uploaded permanent image
    assert drafts[0]["news_item"][0]["thumb_media_id"]
    again = run_cli("publish", str(post), "--yes", "--channel", "wechat", env=env)
    assert again.returncode == 0 and len(received(sandbox)["wechat"]) == 1
