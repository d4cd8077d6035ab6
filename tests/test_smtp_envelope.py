"""The SMTP client's envelope quoting and dot-stuffing shortcuts say exactly what smtplib would."""
from __future__ import annotations

import smtplib

from hypothesis import given, settings, strategies as st

from channels.email.client import _PLAIN_ADDRESS, _angle_quoted

ATOM = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=12)


@settings(max_examples=400)
@given(st.one_of(st.builds(lambda a, b: f"{a}@{b}", ATOM, ATOM), st.text(max_size=30)))
def test_quoting_a_plain_address_is_what_smtplib_quoteaddr_gives(address):
    assert _angle_quoted(address) == smtplib.quoteaddr(address)


def test_the_shortcut_takes_the_addresses_a_mailing_sends():
    for address in ("reader00042@example.com", "first.last+tag@xn--bcher-kva.example", "a_b-c@sub.example.org"):
        assert _PLAIN_ADDRESS.fullmatch(address)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([b"a", b".", b"\r\n", b"..", b"x.y", b"\n"]), max_size=30).map(b"".join))
def test_dot_stuffing_is_skipped_only_when_smtplib_would_change_nothing(message):
    needs = message.startswith(b".") or b"\n." in message
    assert needs == (smtplib._quote_periods(message) != message)
