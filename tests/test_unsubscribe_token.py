"""The fast unsubscribe signer gives byte for byte what itsdangerous gives, and it reads back."""
from __future__ import annotations

import hashlib

from hypothesis import given, settings, strategies as st
from itsdangerous import URLSafeSerializer

from publisher.unsubscribe_token import address_tag, sign


def itsdangerous_token(secret: str, subscriber_id: int, email: str) -> str:
    serializer = URLSafeSerializer(secret, salt="unsubscribe", signer_kwargs={"digest_method": hashlib.sha256})
    return serializer.dumps([subscriber_id, address_tag(email)])


@settings(max_examples=300)
@given(st.text(min_size=1, max_size=64), st.integers(min_value=0, max_value=2**53), st.emails())
def test_the_fast_token_is_the_serializers_token(secret, subscriber_id, email):
    token = sign(secret, subscriber_id, email)
    assert token == itsdangerous_token(secret, subscriber_id, email)
    serializer = URLSafeSerializer(secret, salt="unsubscribe", signer_kwargs={"digest_method": hashlib.sha256})
    assert serializer.loads(token) == [subscriber_id, address_tag(email)]


def test_small_and_large_ids_alike():
    for subscriber_id in (0, 1, 9, 10, 99_999, 1_000_000, 2**31, 2_499_999_999_999_999, 10**15):
        assert sign("k", subscriber_id, "a@b.example") == itsdangerous_token("k", subscriber_id, "a@b.example")
