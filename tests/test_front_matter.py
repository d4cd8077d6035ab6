"""Front matter as Jekyll, Hugo, Pelican, Docusaurus and plain-Markdown sites write it, read into
one Post; every failure one PostError naming the file (fixtures written for these tests)."""
import datetime as dt
import time

import pytest
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from publisher.config import load_settings
from publisher.errors import PostError
from publisher.front_matter import split_front_matter
from publisher.post import parse_post

SETTINGS = load_settings(env={"PUBLISHER_SITE_URL": "https://news.example.org"})
CST = dt.timezone(dt.timedelta(hours=8))


def parse(text, name="issue.md"):
    return parse_post(text, name=name, settings=SETTINGS, default_slug="issue")


def refused(text):
    with pytest.raises(PostError) as info:
        parse(text)
    assert "issue.md" in str(info.value) and "Traceback" not in str(info.value)
    return str(info.value)


# --- dialects ----------------------------------------------------------------------------------

def test_yaml_jekyll_post():
    p = parse("---\nlayout: post\ntitle: \"Weekly Notes #12\"\ndate: 2026-01-24 08:00:00 +0800\n"
              "categories: [newsletter, tools]\ntags: python, markdown\n---\nThis week: three tools.\n")
    assert p.title == "Weekly Notes #12"
    assert p.date == dt.datetime(2026, 1, 24, 8, tzinfo=CST)
    assert p.category == "newsletter" and p.categories == ("newsletter", "tools")
    assert p.tags == ("python", "markdown")
    assert p.extra == {"layout": "post"}


def test_yaml_closed_by_three_dots():
    p = parse("---\ntitle: Dots\n...\nBody after the dots.\n")
    assert p.title == "Dots" and p.body == "Body after the dots."


def test_toml_hugo_post():
    p = parse('+++\ntitle = "人工智能周报 第 8 期"\ndate = 2026-01-24T08:00:00+08:00\ndraft = false\n'
              'tags = ["AI", "大模型"]\n\n[params]\nseries = "周报"\n+++\n\n本期内容：三条新闻。\n')
    assert p.title == "人工智能周报 第 8 期" and p.language == "zh"
    assert p.date == dt.datetime(2026, 1, 24, 8, tzinfo=CST)
    assert p.tags == ("AI", "大模型") and not p.draft
    assert p.extra["params"] == {"series": "周报"}
    assert p.body == "本期内容：三条新闻。"


def test_toml_date_without_time_and_draft():
    p = parse('+++\ntitle = "Draft"\ndate = 2026-01-24\ndraft = true\n+++\nbody\n')
    assert p.date == dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc) and p.draft


def test_json_hugo_post():
    p = parse('{\n  "title": "JSON front matter",\n  "date": "2026-01-24",\n  "tags": ["json", "hugo"]\n}\n\n'
              "The body follows the object.\n")
    assert p.title == "JSON front matter" and p.tags == ("json", "hugo")
    assert p.body == "The body follows the object."


def test_body_starting_with_a_brace_is_not_json():
    p = parse("{{< notice >}}\n\n# Plain\n\ntext\n")  # read as body, not as broken JSON
    assert p.title == "Plain" and p.body == "text"
    assert p.source_notes == ("line 1: Liquid/Hugo tag {{< notice >}} would reach readers; it is left out",)


def test_pelican_headers_any_case():
    p = parse("Title: 週刊ニュース 第3号\nDate: 2026-01-24 10:20\nmodified: 2026-01-25\nTAGS: 技術, ニュース\n"
              "Category: お知らせ\nSlug: weekly-3\nAuthors: 山田太郎, 佐藤花子\nSummary: 今週の三つの話題。\n"
              "    続きの行。\nLang: ja\n\n本文はここから。\n")
    assert p.title == "週刊ニュース 第3号" and p.language == "ja"
    assert p.date == dt.datetime(2026, 1, 24, 10, 20, tzinfo=dt.timezone.utc)
    assert p.updated == dt.datetime(2026, 1, 25, tzinfo=dt.timezone.utc)
    assert p.tags == ("技術", "ニュース") and p.category == "お知らせ"
    assert p.slug == "weekly-3" and p.url == "https://news.example.org/weekly-3"
    assert p.author == "山田太郎, 佐藤花子"
    assert p.description == "今週の三つの話題。続きの行。"  # a Japanese line break is no space
    assert p.body == "本文はここから。"


def test_pelican_semicolons_separate_lists():
    p = parse("Title: T\nTags: pelican, publishing tool; bird\nAuthors: Doe, Jane; Roe, Rick\n\nbody\n")
    assert p.tags == ("pelican, publishing tool", "bird") and p.author == "Doe, Jane, Roe, Rick"


@pytest.mark.parametrize("text", [
    "Note: this is a plain post.\n\n# Plain\n\nbody\n",  # no title header
    "Title: looks like a header\nbut this line does not\n\n# Plain\n\nbody\n",
    "https://example.org is where we live\n\n# Plain\n\nbody\n",
])
def test_header_like_lines_that_are_not_headers_stay_body(text):
    matter = split_front_matter(text, "issue.md")
    assert matter.dialect == "none" and matter.meta == {}


def test_glued_closing_line():
    p = parse("---\ntitle: 今日要闻\n---### 头条\n\n正文。\n")
    assert p.title == "今日要闻"
    assert p.tree.children[0].type == "heading" and p.body.startswith("### 头条")


@pytest.mark.parametrize("text, expected", [
    ("---\ntitle: open\nbody without end\n", "never closed; end it with a line holding only ---"),
    ('+++\ntitle = "open"\nbody\n', "never closed; end it with a line holding only +++"),
])
def test_unterminated_block(text, expected):
    assert expected in refused(text)


@pytest.mark.parametrize("text, expected", [
    ('+++\ntitle = "x"\ndate = = 1\n+++\nbody\n', "front matter line 3: broken TOML"),
    ('{\n  "title": "x",\n}\nbody\n', "front matter line 3: broken JSON"),
    ("---\ntitle: [a, b\n---\nbody\n", "broken YAML"),
    ("---\n- a\n- b\n---\nbody\n", "expected key: value pairs, got a list"),
    ("---\ntitle: {a: 1}\n---\nbody\n", "field 'title'"),
])
def test_broken_front_matter_is_one_message(text, expected):
    message = refused(text)
    assert expected in message and "\n" not in message


def test_bounded_yaml_still_refuses_alias_bombs_depth_and_size():
    bomb = "---\na: &a [x, x]\n" + "".join(f"b{i}: &b{i} [*a, *a]\n" for i in range(40)) + "---\nbody\n"
    assert "aliases" in refused(bomb)
    deep = "---\ntitle: T\nx: " + "[" * 40 + "]" * 40 + "\n---\nbody\n"
    assert "nested deeper" in refused(deep)
    assert "nested deeper" in refused('{"title": "T", "x": ' + "[" * 40 + "]" * 40 + "}\nbody\n")
    assert "64 KB" in refused("---\ntitle: T\nnote: " + "x" * 70_000 + "\n---\nbody\n")


# --- fields ------------------------------------------------------------------------------------

@pytest.mark.parametrize("front, author", [
    ("author: Ann Lee", "Ann Lee"),
    ("author: [Ann, Bo]", "Ann, Bo"),
    ("author:\n  name: 王小明\n  email: wang@example.org", "王小明"),
    ("authors:\n  - name: Ann\n    title: Editor\n    image_url: https://x.test/a.png\n  - name: Bo", "Ann, Bo"),
    ("authors: [ann, bo]", "ann, bo"),  # Docusaurus keys into authors.yml
    ("author: 42", None),
])
def test_author_shapes(front, author):
    assert parse(f"---\ntitle: T\n{front}\n---\nbody\n").author == author


@pytest.mark.parametrize("slug, expected_slug, expected_url", [
    ("/115", "115", "https://news.example.org/115"),
    ("/blog/2026/issue-7/", "issue-7", "https://news.example.org/blog/2026/issue-7/"),
    ("Hello World!", "Hello-World", "https://news.example.org/Hello-World"),
    ("第七期", "第七期", "https://news.example.org/第七期"),
])
def test_slug_with_path(slug, expected_slug, expected_url):
    p = parse(f"---\ntitle: T\nslug: \"{slug}\"\n---\nbody\n")
    assert (p.slug, p.url) == (expected_slug, expected_url)


@pytest.mark.parametrize("front, url", [
    ("slug: /a/b/\nurl: https://elsewhere.example/x", "https://elsewhere.example/x"),
    ("slug: /a/b/\npermalink: /2026/01/24/issue.html", "https://news.example.org/2026/01/24/issue.html"),
    ("permalink: /:categories/:title/", "https://news.example.org/issue"),  # a pattern, not a URL
    ("url: /posts/hugo-style/", "https://news.example.org/posts/hugo-style/"),
])
def test_url_and_permalink(front, url):
    assert parse(f"---\ntitle: T\n{front}\n---\nbody\n").url == url


def test_non_url_is_still_refused():
    assert "field 'url'" in refused("---\ntitle: T\nurl: ftp://files.example.org/x\n---\nbody\n")
    assert "field 'slug'" in refused("---\ntitle: T\nslug: '/?/'\n---\nbody\n")


@pytest.mark.parametrize("written, expected", [
    ("2026-01-24", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
    ("2026-1-4", dt.datetime(2026, 1, 4, tzinfo=dt.timezone.utc)),
    ("2026-01-24 08:00", dt.datetime(2026, 1, 24, 8, tzinfo=dt.timezone.utc)),
    ("2026-01-24T08:00:00+08:00", dt.datetime(2026, 1, 24, 8, tzinfo=CST)),
    ("2026-01-24T00:00:00Z", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
    ("2026-01-24 08:00:00 +0800", dt.datetime(2026, 1, 24, 8, tzinfo=CST)),
    ("2026/01/24", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
    ("01-24-2026", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
    ("01/24/2026", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
    ("January 24, 2026", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
    ("24 Jan 2026", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
    ("Sat, 24 Jan 2026 08:00:00 +0800", dt.datetime(2026, 1, 24, 8, tzinfo=CST)),
    ("2026年1月24日", dt.datetime(2026, 1, 24, tzinfo=dt.timezone.utc)),
])
def test_date_forms(written, expected):
    assert parse(f"---\ntitle: T\ndate: \"{written}\"\n---\nbody\n").date == expected


@pytest.mark.parametrize("written", ["next tuesday", "24/01/2026", "2026-02-30", "[2026]"])
def test_bad_date_is_one_line_naming_the_field(written):
    message = refused(f"---\ntitle: T\ndate: {written}\n---\nbody\n")
    assert "field 'date'" in message and "2026-01-24T08:00:00+08:00" in message


def test_bad_lastmod_is_ignored_and_good_updated_is_kept():
    p = parse("---\ntitle: T\nlastmod: soon\nupdated: 2026-01-25 09:00\n---\nbody\n")
    assert p.updated == dt.datetime(2026, 1, 25, 9, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("front, draft", [
    ("draft: true", True), ("draft: false", False), ("published: false", True),
    ("published: true", False), ("status: draft", True), ("", False),
])
def test_draft(front, draft):
    assert parse(f"---\ntitle: T\n{front}\n---\nbody\n").draft is draft


@pytest.mark.parametrize("key", ["description", "excerpt", "subtitle", "summary"])
def test_description_keys(key):
    p = parse(f"---\ntitle: T\n{key}: \"A *short*\\n   note  about <b>this</b> issue\"\n---\nbody\n")
    assert p.description == "A short note about this issue"


def test_summary_bullets_feed_points_and_text_feeds_both():
    bullets = parse("---\ntitle: T\nsummary: \"- 第一点\\n- 第二点\"\n---\nbody\n")
    assert bullets.summary == ("第一点", "第二点") and bullets.description is None
    text = parse("---\ntitle: T\nsummary: 一句话摘要\n---\nbody\n")
    assert text.summary == ("一句话摘要",) and text.description == "一句话摘要"


@pytest.mark.parametrize("front", [
    "coverImage: /img/c.png", "cover_image: /img/c.png", "cover: /img/c.png", "cover:\n  image: /img/c.png",
    "image: /img/c.png", "image:\n  feature: /img/c.png", "image:\n  src: /img/c.png", "thumbnail: /img/c.png",
    "featured_image: /img/c.png", "featuredImage: /img/c.png", "og_image: /img/c.png", "titleImage: /img/c.png",
    "banner: /img/c.png", "header:\n  image: /img/c.png", "header:\n  teaser: /img/c.png",
    "image: https://news.example.org/img/c.png",
])
def test_cover_keys(front):
    assert parse(f"---\ntitle: T\n{front}\n---\nbody\n").cover_image == "https://news.example.org/img/c.png"


@pytest.mark.parametrize("ref, expected", [
    ("../x.png", "https://news.example.org/blog/x.png"),
    ("img/x.png", "https://news.example.org/blog/issue-9/img/x.png"),
    ("data:image/png;base64,AAAA", None),
    ("none", None),
])
def test_cover_resolved_against_the_post_url(ref, expected):
    p = parse(f"---\ntitle: T\nslug: /blog/issue-9/\ncover: \"{ref}\"\n---\nbody\n")
    assert p.cover_image == expected


def test_first_body_image_when_no_cover():
    p = parse("---\ntitle: T\nslug: /blog/issue-9/\n---\ntext\n\n![chart](charts/a.png)\n\n![b](https://x.test/b.png)\n")
    assert p.cover_image is None and p.first_image == "https://news.example.org/blog/issue-9/charts/a.png"


@pytest.mark.parametrize("front, tags", [
    ("tags: AI, 机器学习", ("AI", "机器学习")),
    ("tags: AI，机器学习", ("AI", "机器学习")),
    ("tags: 技術、ニュース", ("技術", "ニュース")),
    ("tags: [a, b, a]", ("a", "b")),
    ("tags: {a: 1}", ()),
    ("keywords: [seo, words]", ("seo", "words")),
])
def test_tags_shapes(front, tags):
    assert parse(f"---\ntitle: T\n{front}\n---\nbody\n").tags == tags


@pytest.mark.parametrize("key", ["lang", "language", "locale"])
def test_language_keys(key):
    assert parse(f"---\ntitle: T\n{key}: ja_JP\n---\nbody\n").language == "ja-JP"


def test_keys_in_another_case_and_unknown_keys_kept():
    p = parse("---\nTitle: Capital keys\nTags: [a]\nseries: Weekly\n---\nbody\n")
    assert p.title == "Capital keys" and p.tags == ("a",) and dict(p.extra) == {"series": "Weekly"}


def test_page_bundle_is_named_by_its_folder(tmp_path):
    from publisher.post import load_post

    post = tmp_path / "spring-issue" / "index.md"
    post.parent.mkdir()
    post.write_text("---\ntitle: Spring\n---\nbody ![chart](chart.png)\n", encoding="utf-8")
    loaded = load_post(post, SETTINGS)
    assert loaded.slug == "spring-issue"
    # its own files sit beside it: a relative image resolves inside the bundle's folder
    assert loaded.url.endswith("/spring-issue/") and loaded.first_image == loaded.url + "chart.png"
    explicit = post.parent / "_index.md"
    explicit.write_text("---\ntitle: Spring\nurl: /issues/spring\n---\nbody\n", encoding="utf-8")
    assert load_post(explicit, SETTINGS).url.endswith("/issues/spring")  # a URL the post gives is kept


# --- any text ----------------------------------------------------------------------------------

_PREFIXES = st.sampled_from(["", "---\n", "---\ntitle: T\n---\n", "+++\n", '+++\ntitle = "T"\n+++\n', "{",
                             '{"title": "T"}\n', "Title: T\n", "Title: T\nDate: ", "# T\n\n"])
_SYNTAX = st.sampled_from(["{{", "}}", "{%", "%}", "{{<", ">}}", "<Tabs>", "</Tabs>", "{:toc}", "```", "\n",
                           "    ", "`", "import x from 'y'\n", "---", "...", "- ", ":", "[", "]", "&a ", "*a"])


@hyp_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PREFIXES, st.lists(st.one_of(st.text(max_size=40), _SYNTAX), max_size=30))
def test_any_text_gives_a_post_or_one_post_error(prefix, parts):
    text = prefix + "".join(parts)
    started = time.perf_counter()
    try:
        post = parse(text)
    except PostError as exc:
        assert str(exc).startswith("issue.md")
    else:
        assert post.title and post.body.strip()
    assert time.perf_counter() - started < 2


def test_front_matter_after_blank_lines_is_read_as_hugo_does():
    from publisher.front_matter import split_front_matter

    found = split_front_matter("\n\n---\ntitle: Modules\n---\nBody starts here.\n", "news.md")
    assert found.meta == {"title": "Modules"} and found.body == "Body starts here.\n"
    assert found.body_line == 6  # lines are still counted from the top of the file
    toml = split_front_matter("\n+++\ntitle = \"T\"\n+++\nx\n", "t.md")
    assert toml.meta == {"title": "T"} and toml.dialect == "toml"


def test_unix_time_dates_are_read_as_utc_and_small_numbers_are_not_dates():
    import datetime as _dt

    from publisher.front_matter import parse_date
    utc = _dt.timezone.utc
    assert parse_date(1704412800) == _dt.datetime(2024, 1, 5, tzinfo=utc)
    assert parse_date("1704412800000") == _dt.datetime(2024, 1, 5, tzinfo=utc)
    for value in (2024, 20240105, True):
        with pytest.raises(ValueError):
            parse_date(value)


def test_a_slug_with_dots_or_underscores_keeps_them_in_the_url_and_an_underscored_file_name_dates_the_post():
    p = parse("---\ntitle: T\nslug: moon-v2.3\n---\nbody\n")
    assert p.url == "https://news.example.org/moon-v2.3" and p.slug == "moon-v23"  # the ledger's name is unchanged
    assert parse("Title: T\nSlug: twitter_digest_201904\n\nbody\n").url.endswith("/twitter_digest_201904")
    from publisher.front_matter import file_name_date
    assert file_name_date("2024-12-25_proto-v0.44", dt.timezone.utc) == dt.datetime(2024, 12, 25, tzinfo=dt.timezone.utc)


def test_hexo_front_matter_without_an_opening_line_and_a_bare_permalink():
    p = parse('title: "分析复杂度"\ndate: 2019-11-06\ntags: [Swift, Algorithm]\npermalink: analyzing-complexity\n\n'
              "---\n\n正文从这里开始。\n")
    assert p.title == "分析复杂度" and p.tags == ("Swift", "Algorithm") and p.body == "正文从这里开始。"
    assert p.url == "https://news.example.org/analyzing-complexity"
    pelican = parse("Title: T\nDate: 2020-01-02\n\nbody\n\n---\n\nmore\n")  # Pelican headers, then a rule
    assert pelican.title == "T" and "more" in pelican.body

