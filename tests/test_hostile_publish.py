"""Hostile posts pressed live against the stand-ins: an injected subject reaches the SMTP server as
literal text in one Subject header (no Bcc), and images pointing at this machine are not fetched
without PUBLISHER_ALLOW_PRIVATE_FETCH (the image is named; nothing is left "sending")."""
from __future__ import annotations

import email
import email.policy
import json

import pytest
import requests

from tests.conftest import live_env, run_cli

INJECTED = "=?utf-8?q?Hi=0D=0ABcc:_victim@evil.example?="


@pytest.fixture
def env(sandbox, tmp_path):
    return live_env(sandbox, tmp_path, PUBLISHER_RETRY_CAP_SECONDS="0.2", PUBLISHER_RETRY_FOR_SECONDS="2")


def test_an_injected_subject_reaches_the_server_as_literal_text(sandbox, env, tmp_path):
    post = tmp_path / "injected.md"
    post.write_text(f'---\ntitle: "{INJECTED}"\n---\nBody text.\n', "utf-8")
    result = run_cli("publish", str(post), "--channel", "email", "--yes", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    raw = requests.get(f"{sandbox.servers['smtp_http'].url}/_sandbox/messages/0/raw", timeout=10).content
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_all("Subject") and len(message.get_all("Subject")) == 1
    assert message["Bcc"] is None and b"\r\nBcc:" not in raw.split(b"\r\n\r\n", 1)[0]
    assert str(message["Subject"]) == INJECTED


def test_images_on_this_machine_are_not_fetched_without_the_allow_setting(sandbox, env, tmp_path):
    images = sandbox.servers["images"].url
    post = tmp_path / "local-images.md"
    post.write_text(f"---\ntitle: Local images\ncoverImage: {images}/img/cover.png?w=900&h=383\n---\n"
                    f"Body.\n\n![chart]({images}/img/chart.png?w=320&h=200)\n", "utf-8")
    live = {k: v for k, v in env.items() if k not in ("PUBLISHER_ALLOW_PRIVATE_FETCH", "PUBLISHER_IMAGE_PROXY")}
    before = requests.get(f"{images}/_sandbox/requests", timeout=10).json()["requests"]
    result = run_cli("publish", str(post), "--channel", "wechat", "--yes", env=live)
    assert result.returncode != 0
    assert "internal address" in result.stdout + result.stderr and "127.0.0.1" in result.stdout + result.stderr
    after = requests.get(f"{images}/_sandbox/requests", timeout=10).json()["requests"]
    assert len(after) == len(before)  # nothing was fetched from this machine
    status = json.loads(run_cli("status", str(post), "--json", env=live).stdout)
    wechat = next(c for c in status[0]["channels"] if c["channel"] == "wechat")
    assert "sending" not in wechat["parts"]
