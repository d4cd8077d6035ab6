"""Which publication (press generation) holds each channel's current round.

`publish --again` starts a new generation of a post's publication; `--again --channel email` starts
one for email alone. Every other channel stays in the round that already holds its delivery, so a
later plain `publish` resumes or skips it there and never sends it afresh. The ledger of that round
is the proof of what went out.
"""
from __future__ import annotations

from sqlalchemy import select

from publisher.store import Delivery, Publication, Store


def round_publication(store: Store, slug: str, channel: str, newest_id: int) -> int:
    """The id of the newest generation of `slug` that holds a delivery of `channel`; `newest_id`
    (the press's own publication) when no generation does yet."""
    query = (select(Publication.id).join(Delivery, Delivery.publication_id == Publication.id)
             .where(Publication.post_slug == slug, Delivery.channel == channel)
             .order_by(Publication.generation.desc()).limit(1))
    with store.read_session() as session:
        found = session.scalar(query)
    return newest_id if found is None else found


def latest_deliveries(store: Store, slug: str) -> dict[str, tuple[Publication, Delivery]]:
    """Per channel, its current round's publication and delivery."""
    query = (select(Publication, Delivery).join(Delivery, Delivery.publication_id == Publication.id)
             .where(Publication.post_slug == slug).order_by(Publication.generation))
    with store.read_session() as session:
        return {delivery.channel: (publication, delivery) for publication, delivery in session.execute(query)}


def delivery_state(store: Store, publication_id: int, channel: str) -> str | None:
    """The delivery's state, or None when this publication has no delivery of the channel (a read:
    nothing is created)."""
    query = select(Delivery.state).where(Delivery.publication_id == publication_id, Delivery.channel == channel)
    with store.read_session() as session:
        return session.scalar(query)


def nothing_left(store: Store, publication_id: int, channel, payload, settings) -> str | None:
    """The delivery's state when a plain press has nothing left to send of `channel` in this round
    ("sent", or "drafted" while the settings still ask only for a draft); None otherwise. A WeChat
    article left "drafted" is published by the next press once PUBLISHER_WECHAT_PUBLISH=publish."""
    from publisher.states import DELIVERY_COMPLETE_STATES

    state = delivery_state(store, publication_id, channel.name)
    if state not in DELIVERY_COMPLETE_STATES:
        return None
    wanted = channel.complete_state([part for part, _ in channel.planned_parts(payload, settings)])
    return state if state == "sent" or wanted == state else None
