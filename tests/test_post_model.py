import datetime as dt

import pytest

from publisher.config import load_settings
from publisher.errors import PostError
from publisher.post import parse_post


def parse(text, **env):
    return parse_post(text, name="t.md", settings=load_settings(env=env), default_slug="My Post_2026")


def test_sample_fields(sample_post):
    p = sample_post
    assert p.title == "AI商业化加速与人形机器人量产元年开启"
    assert p.slug == "2026-01-24-ai-daily"
    assert p.url == "https://example.com/2026-01-24-ai-daily"
    assert p.date == dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)
    assert p.category == "AI 日报" and p.tags == ("AI", "AI 日报")
    assert len(p.summary) == 10 and p.summary[0].startswith("OpenAI的API业务")
    assert not any(point.startswith("-") for point in p.summary)
    assert p.cover_image.endswith("OKxQrA9I.png")
    assert "seo" in p.extra
    assert p.sections[0][0].startswith("OpenAI 商业化加速")
    assert p.tree.children[0].type == "heading"  # the duplicate title heading was removed


def test_title_from_first_heading_and_slug_from_file_name():
    p = parse("# Hello *World*\n\nBody text.\n")
    assert p.title == "Hello World"
    assert p.slug == "my-post-2026"
    assert p.body == "Body text."


def test_front_matter_title_wins_and_different_heading_stays():
    p = parse("---\ntitle: Real title\n---\n# A section\n\ntext\n")
    assert p.title == "Real title"
    assert p.tree.children[0].type == "heading"


def test_overrides_aliases_and_timezone():
    p = parse(
        "---\ntitle: T\ncover_image: https://x.test/c.jpg\nurl: https://blog.test/t\nauthor: Ann\n"
        "date: 2026-03-01 09:30\nsummary: just one line\nchannels:\n  x:\n    thread: [one, two]\n"
        "  wechat:\n    enabled: false\n  email:\n    subject: Hi\n---\nBody\n",
        PUBLISHER_TIMEZONE="Asia/Shanghai",
    )
    assert p.cover_image == "https://x.test/c.jpg"
    assert p.url == "https://blog.test/t"
    assert p.author == "Ann"
    assert p.date.utcoffset() == dt.timedelta(hours=8) and p.date.hour == 9
    assert p.summary == ("just one line",)
    assert p.channel_options("x")["thread"] == ["one", "two"]
    assert not p.channel_enabled("wechat") and p.channel_enabled("x")
    assert p.channel_options("email")["subject"] == "Hi"


def test_raw_html_is_sanitized_everywhere():
    p = parse('# T\n\n<div onclick="x()"><script>alert(1)</script><iframe src="https://e.vil"></iframe>'
              '<style>p{}</style><b>ok</b></div>\n\ninline <img src="https://a.test/i.png" onerror="x()"> '
              '<script>bad()</script> end\n')
    html = "".join(n.content for n in _walk(p.tree) if n.type != "inline")  # inline.content is raw source
    for bad in ("<script", "alert(1)", "bad()", "<iframe", "<style", "onclick", "onerror"):
        assert bad not in html
    assert "<b>ok</b>" in html and 'src="https://a.test/i.png"' in html


def _walk(node):
    for child in node.children:
        yield child
        yield from _walk(child)


@pytest.mark.parametrize("text, where", [
    ("---\ntitle: T\nchannels:\n  myspace: {}\n---\nbody", "channels.myspace"),
    ("---\ntitle: T\nchannels:\n  x:\n    enabled: maybe\n---\nbody", "channels.x.enabled"),
    ("---\ntitle: T\nsummary: {a: 1}\n---\nbody", "summary"),
    ("---\ntitle: T\nurl: somewhere\n---\nbody", "url"),
    ("---\ntitle: T\nslug: '//'\n---\nbody", "slug"),
])
def test_bad_fields_name_the_field(text, where):
    with pytest.raises(PostError) as info:
        parse(text)
    assert where in info.value.where


def test_fields_a_reader_can_do_without_are_ignored_not_refused():
    p = parse("---\ntitle: T\ntags: {a: 1}\nauthor: 42\ncoverImage: javascript:alert(1)\n"
              "description: [x]\n---\nbody")
    assert p.tags == () and p.author is None and p.cover_image is None and p.description is None


def test_relative_cover_is_resolved_against_the_post_url():
    p = parse("---\ntitle: T\nslug: hello\ncoverImage: /local.png\n---\nbody")
    assert p.cover_image == "https://example.com/local.png"


def test_crlf_and_bom_read_like_plain_lines():
    p = parse("\ufeff---\r\ntitle: Windows\r\ndate: 2026-01-24\r\n---\r\n# Windows\r\n\r\nbody\r\n")
    assert p.title == "Windows" and p.body == "body" and p.date.day == 24


def test_title_heading_that_is_not_a_paragraph_does_not_crash():
    for heading in ("# ```", "# - item", "# ![Logo](https://x.test/l.png) Weekly"):
        assert parse(heading + "\n\nbody\n").body == "body"
    with pytest.raises(PostError, match="no title"):  # a heading of raw HTML only holds no words
        parse("# <img src=x>\n\nbody\n")


def test_headings_left_empty_at_the_end_of_the_body_are_not_part_of_the_post():
    post = parse("---\ntitle: T\n---\n\n## 🔥\n\nThe one section.\n\n## 👋\n\n### 💌\n\n***\n")
    assert [(n.type, n.tag) for n in post.tree.children] == [("heading", "h2"), ("paragraph", "p")]


def test_a_jekyll_file_name_dates_a_post_without_date_and_keeps_its_slug(tmp_path):
    from publisher.post import load_post
    path = tmp_path / "2025-03-14-pi-day.md"
    path.write_text("---\ntitle: Pi\n---\n\nThree pies.\n", encoding="utf-8")
    post = load_post(path, load_settings(env={"PUBLISHER_TIMEZONE": "UTC"}))
    assert (post.date.year, post.date.month, post.date.day, post.slug) == (2025, 3, 14, "2025-03-14-pi-day")
    (tmp_path / "2025-13-40-odd.md").write_text("---\ntitle: Odd\n---\n\nText.\n", encoding="utf-8")
    assert load_post(tmp_path / "2025-13-40-odd.md", load_settings(env={})).date is None
