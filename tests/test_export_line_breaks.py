"""Line breaks as exports write them (`text<br><br>`, `<p>&nbsp;</p>`, a trailing `<br>`): WeChat makes
paragraphs of them, Telegram and the email text part keep no runs of blank lines."""
import pytest

from channels.wechat.breaks import paragraph_parts


@pytest.mark.parametrize(("inner", "parts"), [
    ("Good morning,<br><br>It rained.<br>", ["Good morning,", "It rained."]),
    ("a<br> b", ["a<br> b"]),
    ("\xa0", []),
    ("&nbsp;<br>", []),
    ("<strong>x<br><br>y</strong>", ["<strong>x<br>y</strong>"]),
    ('<img src="a.png"><br><br>caption', ['<img src="a.png">', "caption"]),
])
def test_paragraph_parts(inner, parts):
    assert paragraph_parts(inner) == parts


def test_an_exported_letter_reads_as_paragraphs_in_wechat():
    from channels.registry import CHANNELS
    from publisher.config import load_settings
    from publisher.post import parse_post
    settings = load_settings(env={"PUBLISHER_SITE_URL": "https://news.example.org"})
    post = parse_post("---\ntitle: T\n---\n\nHi,<br><br>Rain all week.<br>\n\n<p>&nbsp;</p>\n\nBye.\n", name="t.md",
                      settings=settings)
    content = CHANNELS["wechat"].render(post, settings).content
    assert "<br><br>" not in content.replace(" ", "") and "\xa0</p>" not in content
    assert content.count("<p ") == 3


def test_telegram_paragraphs_have_no_space_around_breaks_and_no_blank_runs():
    from channels.registry import CHANNELS
    from publisher.config import load_settings
    from publisher.post import parse_post
    settings = load_settings(env={"PUBLISHER_SITE_URL": "https://news.example.org"})
    post = parse_post("---\ntitle: T\n---\n\nHi,<br><br><br>Rain.<br>\nThat's it.<br>\n<br>\nBye.<br>\n\nNext.\n",
                      name="t.md", settings=settings)
    text = CHANNELS["telegram"].render(post, settings).calls[0].params["text"]
    assert "Hi,\n\nRain.\nThat's it.\n\nBye.\n\nNext." in text


def test_email_text_has_no_blank_line_pairs_from_edge_breaks():
    from channels.registry import CHANNELS
    from publisher.config import load_settings
    from publisher.post import parse_post
    settings = load_settings(env={"PUBLISHER_SITE_URL": "https://news.example.org"})
    post = parse_post("---\ntitle: T\n---\n\nHi,<br><br><br><br>Rain.<br>\n\nNext.\n", name="t.md", settings=settings)
    text = CHANNELS["email"].render(post, settings).text
    assert "Hi,\n\nRain.\n\nNext." in text
