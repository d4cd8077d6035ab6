"""Outbox mode for email: one mbox file holding the message for every active subscriber (the
example reader when there are none), as the mailing would send them."""
from __future__ import annotations

import mailbox
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.config import Settings

if TYPE_CHECKING:
    from publisher.store import Store


def write_mbox(payload, path: Path, settings: Settings, store: "Store") -> None:
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
