"""The email's own CSS inliner gives every element the styles and presentational attributes
premailer gives it (premailer is the reference, installed with the test extra only)."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from lxml import etree

from channels.email import html as email_html
from channels.email.inline_css import UnsupportedSelector, inline_css, parse_sheet
from publisher.config import load_settings
from publisher.post import load_post
from tests.conftest import ROOT, SAMPLE

premailer = pytest.importorskip("premailer")
_SHORT = re.compile(r"#([0-9a-f])([0-9a-f])([0-9a-f])\b")


def by_premailer(document: str) -> str:
    return premailer.Premailer(document, allow_network=False, strip_important=False, keep_style_tags=False,
                               disable_validation=True, cssutils_logging_level=logging.CRITICAL,
                               remove_classes=False, disable_basic_attributes=["width", "height"]
                               ).transform(pretty_print=False)


def _style(text: str) -> dict[str, str]:
    pairs = (d.partition(":") for d in text.split(";"))
    # cssutils writes #ffffff as #fff; the two are one colour
    return {k.strip(): _SHORT.sub(r"#\1\1\2\2\3\3", " ".join(v.split()).lower()) for k, _, v in pairs if k.strip()}


def elements(document: str) -> list[tuple]:
    root = etree.fromstring(document, etree.HTMLParser())
    found = []
    for element in root.iter():
        attributes = dict(element.attrib)
        style = _style(attributes.pop("style", ""))
        if "bgcolor" in attributes:
            attributes["bgcolor"] = _SHORT.sub(r"#\1\1\2\2\3\3", attributes["bgcolor"].lower())
        found.append((element.tag, attributes, style, (element.text or "").strip()[:40]))
    return found


def layout_documents() -> list[str]:
    """The email documents (before inlining) of the sample and of every post under tests/golden."""
    documents = []
    settings = load_settings(env={"PUBLISHER_SITE_URL": "https://news.example.org"})
    original = email_html.inline_css
    try:
        email_html.inline_css = lambda document: documents.append(document) or document
        from channels.registry import CHANNELS

        posts = [SAMPLE, *sorted((ROOT / "tests" / "golden").glob("**/*.md"))]
        for path in posts:
            try:
                CHANNELS["email"].render(load_post(path, settings), settings)
            except Exception:  # noqa: BLE001 - a golden post that does not render is another test's business
                continue
    finally:
        email_html.inline_css = original
    return documents


def test_every_element_gets_what_premailer_gives_it():
    documents = layout_documents()
    assert len(documents) >= 2
    for document in documents:
        ours, reference = elements(inline_css(document)), elements(by_premailer(document))
        assert len(ours) == len(reference)
        for mine, theirs in zip(ours, reference):
            assert mine == theirs


def test_the_overrides_sheet_stays_and_the_inlined_sheet_goes():
    document = layout_documents()[0]
    out = inline_css(document)
    assert out.count("<style") == 1 and "@media" in out and "prefers-color-scheme" in out
    assert "data-premailer" not in out


def test_a_selector_it_cannot_inline_is_refused_not_dropped():
    for css in ("a:hover { color: red }", "#id { color: red }", "ul > li { margin: 0 }", "* { margin: 0 }"):
        with pytest.raises(UnsupportedSelector):
            parse_sheet(css)


def test_own_styles_win_and_order_follows_specificity_then_sheet_order():
    document = ("<html><head><style>p { color: red; margin: 0 } .x p { color: blue } p { color: green }"
                "td { background-color: #abc; text-align: center }</style></head><body><div class='x'>"
                "<p style='margin: 4px'>a</p><p>b</p></div><table><tr><td>c</td></tr></table></body></html>")
    assert elements(inline_css(document)) == elements(by_premailer(document))
    out = inline_css(document)
    assert 'style="color:blue; margin:4px"' in out and 'bgcolor="#aabbcc"' in out and 'align="center"' in out
