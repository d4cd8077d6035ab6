"""Outbox mode: a channel without credentials writes what it would send to files instead.

Like Django's file-based mail backend, a real mode, not a test double. Email goes into one mbox
file holding the message for every active subscriber (the example reader when there are none).
"""
from __future__ import annotations

import mailbox
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
    for name, text in channel.preview_files(payload).items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    if channel.name == "email":
        _write_mbox(payload, folder / "outbox.mbox", settings, store)
    return folder


def _write_mbox(payload, path: Path, settings: Settings, store: Store) -> None:
    from publisher import subscribers

    path.unlink(missing_ok=True)
    box = mailbox.mbox(str(path))
    box.lock()
    try:
        wrote = False
        for batch in subscribers.active_recipients(store, settings.email_batch_size):
            for sub in batch:
                url = subscribers.unsubscribe_url(settings, subscribers.token_for(settings, sub))
                box.add(payload.personalize(to_email=sub.email, to_name=sub.name or "", unsubscribe_url=url))
                wrote = True
        if not wrote:
            box.add(payload.example_message())
        box.flush()
    finally:
        box.unlock()
        box.close()
