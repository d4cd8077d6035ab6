"""Outbox mode: a channel without credentials writes what it would send to files instead.

Like Django's file-based mail backend, a real mode, not a test double. Each channel writes its own
files (Channel.write_outbox): email adds one mbox of the message for every active subscriber.
"""
from __future__ import annotations

from pathlib import Path

from channels.base import Channel
from publisher.config import Settings
from publisher.post import Post
from publisher.store import Store


def outbox_folder(settings: Settings, post: Post, channel: str) -> Path:
    return Path(settings.outbox_dir) / post.slug / channel


def write_outbox(channel: Channel, payload, post: Post, settings: Settings, store: Store) -> Path:
    folder = outbox_folder(settings, post, channel.name)
    folder.mkdir(parents=True, exist_ok=True)
    channel.write_outbox(payload, folder, settings, store)
    return folder
