"""A summary sentence loses the raw URLs at its edges (the item's link has a line of its own) but not
one inside it: cutting that leaves "reach us at which is" for the reader."""
import pytest

from channels.x.hook import clean


@pytest.mark.parametrize(("sentence", "expected"), [
    ("Reach us at https://chat.example.invalid/d which is a bare link.",
     "Reach us at https://chat.example.invalid/d which is a bare link."),
    ("Questions go to mailto:news@example.invalid today.", "Questions go to news@example.invalid today."),
    ("https://tool.example.invalid/ a tidy tool", "a tidy tool"),
    ("Notes at https://db.example.invalid/18.", "Notes at"),
    ("详见 https://cn.example.invalid/a。", "详见"),
    ("See (https://a.example.invalid/x).", "See"),
    ("https://only.example.invalid/", ""),
])
def test_edge_urls_go_and_inner_ones_stay(sentence, expected):
    assert clean(sentence) == expected
