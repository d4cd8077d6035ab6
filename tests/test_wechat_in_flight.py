"""A second worker must leave a live worker's in-flight WeChat call alone (the part protocol's
in-flight rule): while worker A waits inside draft/add, worker B finds the draft part "sending" by a
live claimer and backs off; one draft reaches the draft box."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import requests

from channels.base import SendContext, TransientError
from channels.registry import CHANNELS
from publisher.config import load_settings
from publisher.ledger import Ledger
from publisher.post import parse_post
from publisher.sandbox import images
from publisher.sandbox.common import RunningServer
from publisher.sandbox.wechat_api import DEFAULT_APP_ID, DEFAULT_APP_SECRET, make_app
from publisher.store import Store

SLOW_SECONDS = 3.0
POST = """---
title: In flight
slug: in-flight
coverImage: {img}/img/cover.png?w=900&h=383
---
A short article with one picture.

![chart]({img}/img/chart.png?w=320&h=200)
"""


@pytest.fixture
def servers():
    with RunningServer(make_app()) as wechat, RunningServer(images.make_app()) as pictures:
        yield wechat, pictures


def _context(settings, store, publication_id: int) -> SendContext:
    return SendContext(settings, store, Ledger(store, publication_id, "wechat"), publication_id)


def test_a_second_worker_leaves_an_in_flight_draft_add_alone(servers, tmp_path):
    wechat, pictures = servers
    settings = dataclasses.replace(load_settings(env={}), wechat_api_base=wechat.url, wechat_app_id=DEFAULT_APP_ID,
                                   wechat_app_secret=DEFAULT_APP_SECRET, db_url=f"sqlite:///{tmp_path / 'p.db'}",
                                   allow_private_fetch=True)
    store = Store(settings.db_url)
    post = parse_post(POST.format(img=pictures.url), name="in-flight.md", settings=settings)
    channel = CHANNELS["wechat"]
    article = channel.render(post, settings)
    publication = store.get_or_create_publication(post.slug, "0" * 64, post.title)
    requests.post(f"{wechat.url}/_sandbox/faults", json={"rules": [
        {"match": "/cgi-bin/draft/add", "kind": "slow", "delay": SLOW_SECONDS}]}, timeout=5).raise_for_status()

    first: dict = {}
    worker_a = threading.Thread(target=lambda: first.update(
        receipt=channel.send(article, _context(settings, store, publication.id))))
    worker_a.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        calls = requests.get(f"{wechat.url}/_sandbox/requests", timeout=5).json()["requests"]
        if any(c["path"] == "/cgi-bin/draft/add" for c in calls):
            break
        time.sleep(0.05)
    else:
        pytest.fail("worker A never reached draft/add")

    with pytest.raises(TransientError, match="being sent by another worker"):
        channel.send(article, _context(settings, store, publication.id))  # worker B, while A waits
    worker_a.join(timeout=30)
    receipt = channel.send(article, _context(settings, store, publication.id))  # B's retry

    drafts = requests.get(f"{wechat.url}/_sandbox/drafts", timeout=5).json()["drafts"]
    assert len(drafts) == 1
    assert first["receipt"].state == receipt.state == "sent"
    assert receipt.remote_ids[0] == drafts[0]["media_id"]
