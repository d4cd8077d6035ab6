"""The channel contract, checked the same way for every registered channel."""
from __future__ import annotations

import json

import pytest

from channels.base import BatchedChannel, PermanentError, SendContext
from channels.registry import CHANNELS
from publisher.ledger import Ledger
from publisher.store import Store

NAMES = sorted(CHANNELS)


@pytest.mark.parametrize("name", NAMES)
def test_render_is_deterministic_and_its_preview_is_json_ready(name, sample_post, settings):
    channel = CHANNELS[name]
    first, second = channel.render(sample_post, settings), channel.render(sample_post, settings)
    assert channel.preview_files(first) == channel.preview_files(second)
    assert json.dumps(channel.preview_json(first), sort_keys=True) == json.dumps(channel.preview_json(second),
                                                                                sort_keys=True)
    json.dumps(channel.preview_view(first))
    assert channel.checks(first, settings) == channel.checks(second, settings)


@pytest.mark.parametrize("name", NAMES)
def test_describe_part_names_every_planned_part_in_words(name, sample_post, settings):
    channel = CHANNELS[name]
    payload = channel.render(sample_post, settings)
    if isinstance(channel, BatchedChannel):
        parts = channel.recipient_parts(payload, ["reader@example.com", "Zoë@bücher.example"])
    else:
        parts = channel.planned_parts(payload, settings)
    assert parts, f"{name} plans no parts for the reference post"
    for part, sha in parts:
        view = channel.describe_part(part, len(parts))
        assert view.label and view.label != part or isinstance(channel, BatchedChannel), (part, view)
        assert len(sha) == 64
    plan = channel.plan_summary(payload, settings, recipients=3)
    assert plan.count >= 1 and plan.words


@pytest.mark.parametrize("name", NAMES)
def test_without_credentials_sending_is_a_permanent_error_naming_the_settings(name, sample_post, settings, tmp_path):
    channel = CHANNELS[name]
    assert not channel.configured(settings)
    missing = channel.missing_settings(settings)
    assert missing and all(variable.startswith("PUBLISHER_") for variable in missing)
    payload = channel.render(sample_post, settings)
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    publication = store.get_or_create_publication(sample_post.slug, "0" * 64, sample_post.title)
    ctx = SendContext(settings, store, Ledger(store, publication.id, name), publication.id)
    with pytest.raises(PermanentError) as refused:
        if isinstance(channel, BatchedChannel):
            channel.send_batch(payload, ctx, [])
        else:
            channel.send(payload, ctx)
    assert missing[0] in str(refused.value)
