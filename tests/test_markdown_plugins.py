"""Footnotes, task lists, definition lists, bare URLs, Docusaurus admonitions and highlighted code
on every channel: one fixture post per construct (written for these tests), each channel's real
render read back, and a property that no link of such a post is lost anywhere."""
from __future__ import annotations

import html
import re

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from channels.registry import CHANNELS
from publisher.config import load_settings
from publisher.highlight import MAX_DOCUMENT_CHARS, MAX_HIGHLIGHT_CHARS, HighlightBudget, code_language
from publisher.markdown import parse_body, walk
from publisher.post import parse_post

SETTINGS = load_settings(env={"PUBLISHER_X_MODE": "full", "PUBLISHER_TELEGRAM_MODE": "full"})
_TAG = re.compile(r"<[^>]+>")


def make_post(body: str, front: str = ""):
    return parse_post(f"---\ntitle: Plugins at work\n{front}---\n{body}\n", name="plugins.md", settings=SETTINGS)


def rendered(post) -> dict[str, str]:
    """What each channel's readers get, as one text per channel (HTML kept where there is HTML)."""
    email = CHANNELS["email"].render(post, SETTINGS)
    thread = CHANNELS["x"].render(post, SETTINGS)
    telegram = CHANNELS["telegram"].render(post, SETTINGS)
    wechat = CHANNELS["wechat"].render(post, SETTINGS)
    return {
        "email.html": email.html,
        "email.text": email.text,
        "x": "\n\n".join(tweet.text for tweet in thread.tweets),
        "telegram": "\n\n".join(str(call.params.get("text") or call.params.get("caption") or "")
                                for call in telegram.calls),
        "wechat": wechat.content,
    }


def visible(output: str) -> str:
    """Text as read: tags out, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(_TAG.sub(" ", output.replace("&nbsp;", " "))).split())


def hrefs(output: str) -> set[str]:
    return {html.unescape(h) for h in re.findall(r'href="([^"]*)"', output)}


def assert_link_kept(outputs: dict[str, str], url: str) -> None:
    assert url in hrefs(outputs["email.html"]), "email.html"
    assert url in outputs["email.text"], "email.text"
    assert url.removeprefix("http://") in outputs["x"], "x"  # "www.a.org/b": X links it as written
    assert url in hrefs(outputs["telegram"]), "telegram"
    assert url in html.unescape(outputs["wechat"]), "wechat (its references)"


FOOTNOTES = """Models got cheaper this week[^cost], and the new runtime is out.[^2]

[^cost]: Prices from the [vendor's page](https://prices.example/list), read on Monday.
[^2]: Release notes at https://runtime.example/notes.
[^unused]: A note nobody points at still reaches readers.
"""


def test_footnotes_reach_every_channel_with_their_links():
    outputs = rendered(make_post(FOOTNOTES))
    for name, output in outputs.items():
        text = visible(output)
        assert "[^" not in text, name
        assert "Prices from the" in text and "read on Monday" in text, name
        assert "A note nobody points at still reaches readers." in text, name
        assert "↩" not in text, name  # no back-reference arrows: they lead nowhere in a message
    for url in ("https://prices.example/list", "https://runtime.example/notes"):
        assert_link_kept(outputs, url)
    # plain-text channels number the references [1], [2]; email keeps them superscript
    assert "cheaper this week[1]" in outputs["x"] and "cheaper this week[1]" in visible(outputs["telegram"])
    assert "this week<sup>[1]</sup>" in outputs["email.html"]
    assert "1. Prices from the vendor's page" in outputs["x"]
    # WeChat numbers its link references [n]; a footnote is a bare superscript so the two never mix
    assert "this week<sup>1</sup>" in outputs["wechat"]


TASKS = """Launch checklist:

- [x] Write the post
- [ ] Check the links
- [X] Pick a cover
"""


def test_task_items_show_their_state_on_every_channel():
    outputs = rendered(make_post(TASKS))
    for name, output in outputs.items():
        text = visible(output)
        assert "☑ Write the post" in text and "☐ Check the links" in text and "☑ Pick a cover" in text, name
        assert "[ ]" not in text and "[x]" not in text, name
    assert '<li style="margin:0 0 6px 0; list-style:none">☐ Check the links</li>' in outputs["email.html"]
    assert "• ☐" not in visible(outputs["telegram"])  # the box is the marker


DEFINITIONS = """Terms used in this issue:

Retrieval
: Fetching the passages a model reads before it answers, see [the survey](https://survey.example/rag).

Distillation
: Training a small model on a large one's answers.
: Also called *knowledge transfer*.
"""


def test_definition_lists_keep_every_term_with_its_definitions():
    outputs = rendered(make_post(DEFINITIONS))
    for name, output in outputs.items():
        text = visible(output)
        assert re.search(r"Retrieval:? Fetching the passages", text), name
        assert "Training a small model" in text and "Also called knowledge transfer" in text, name
    assert_link_kept(outputs, "https://survey.example/rag")
    assert "<dt><strong>Retrieval</strong></dt>" in outputs["email.html"]
    assert "<b>Retrieval</b>\nFetching" in outputs["telegram"]
    assert "Retrieval: Fetching the passages" in outputs["x"]  # a term never stands alone in a tweet
    assert "<strong>Distillation</strong>" in outputs["wechat"]
    assert "Distillation\n    Training a small model" in outputs["email.text"]


ADMONITIONS = """Before you upgrade:

:::warning Breaking change
The `--fast` flag is gone; read [the migration guide](https://docs.example/migrate).
:::

:::tip[Use the **new** cache]
It halves cold starts.
:::

:::note
Nothing else changed.
:::
"""


def test_admonitions_are_titled_blocks_without_their_markers():
    outputs = rendered(make_post(ADMONITIONS))
    for name, output in outputs.items():
        text = visible(output)
        assert ":::" not in text, name
        assert "Breaking change" in text and "flag is gone" in text, name
        assert "Use the new cache" in text and "It halves cold starts." in text, name
        assert "Note" in text and "Nothing else changed." in text, name  # untitled: the kind's name
    assert_link_kept(outputs, "https://docs.example/migrate")
    # email: a callout with the kind's colour; WeChat: the same, inline (WeChat keeps no classes)
    assert re.search(r'<div class="callout" style="[^"]*border-left:4px solid #e6a700', outputs["email.html"])
    assert re.search(r'<section style="[^"]*border-left:4px solid #009400;[^"]*background:#e6f6e6', outputs["wechat"])
    # Telegram: a bold title line, the body under it, all quoted
    assert "<blockquote><b>Breaking change</b>\nThe <code>--fast</code> flag is gone" in outputs["telegram"]
    # X: plain text, the title leading the body
    assert "Breaking change: The --fast flag is gone" in outputs["x"]
    assert "Use the new cache: It halves cold starts." in outputs["x"]


def test_an_untitled_admonition_is_titled_in_the_posts_language():
    outputs = rendered(make_post(":::tip\n升级之前请先备份数据库，再运行迁移脚本。\n:::\n\n本期内容到此结束。"))
    assert "提示：升级之前请先备份数据库" in outputs["x"]
    assert "<b>提示</b>" in outputs["telegram"]


def test_an_admonition_title_is_sanitized_like_any_raw_html():
    outputs = rendered(make_post(':::note <img src="x" onerror="alert(1)"><script>alert(2)</script>Careful\nBody.\n:::'))
    for name, output in outputs.items():
        assert "onerror" not in output and "<script" not in output and "alert(2)" not in output, name
        assert "Careful" in visible(output), name


BARE_URLS = """Read https://blog.example/launch, the thread at www.social.org/post and mail ed@news.org.

The file README.md and setup.py are names, not links. 详见 https://cn.example/guide，然后再试。
"""


def test_bare_urls_are_links_and_names_that_only_look_like_domains_are_not():
    post = make_post(BARE_URLS)
    links = [str(node.attrs["href"]) for node in walk(post.tree) if node.type == "link"]
    assert links == ["https://blog.example/launch", "http://www.social.org/post", "mailto:ed@news.org",
                     "https://cn.example/guide"]  # the link stops before "，"
    outputs = rendered(post)
    for url in ("https://blog.example/launch", "http://www.social.org/post", "https://cn.example/guide"):
        assert_link_kept(outputs, url)
    assert "mailto:ed@news.org" in hrefs(outputs["email.html"]) | hrefs(outputs["telegram"])
    for name, output in outputs.items():
        assert "README.md and setup.py are names" in visible(output), name
        assert "，然后再试" in visible(output), name


CODE = '''The new handler:

```python title="app.py"
def handler(event: dict) -> str:
    # say hello
    return "hi " + event["name"]
```

```
plain text, no language
```
'''


def test_code_is_highlighted_in_email_and_wechat_and_plain_elsewhere():
    outputs = rendered(make_post(CODE))
    email_code = re.search(r'<code class="language-python"[^>]*>(.*?)</code>', outputs["email.html"], re.S).group(1)
    assert '<span style="color:#a3c">def </span>' in email_code and '<span style="color:#888"># say hello</span>' in email_code
    assert html.unescape(_TAG.sub("", email_code)) == 'def handler(event: dict) -> str:\n    # say hello\n    return "hi " + event["name"]'
    assert "<pre><code" not in outputs["email.html"] or "plain text, no language" in outputs["email.html"]
    wechat_code = re.findall(r"<code[^>]*>(.*?)</code>", outputs["wechat"], re.S)
    assert '<span style="color:#a3c">def </span>' in wechat_code[0]
    assert "&nbsp;&nbsp;&nbsp;&nbsp;" in wechat_code[0]  # indentation survives WeChat's editor
    assert "<span" not in wechat_code[1]  # no language named: plain
    assert 'class="language-python"' in outputs["telegram"] and "<span" not in outputs["telegram"]
    assert 'return "hi " + event["name"]' in outputs["x"] and 'return "hi " + event["name"]' in outputs["email.text"]


def test_highlighting_is_bounded_per_block_and_per_render():
    assert code_language('python title="x.py"') == "python" and code_language("{.js}") == "js"
    assert code_language("") == "" and HighlightBudget().lines("x = 1", "no-such-language") is None
    huge = "x = 1\n" * (MAX_HIGHLIGHT_CHARS // 6 + 1)
    assert HighlightBudget().lines(huge, "python") is None  # past the block cap: plain
    budget = HighlightBudget()
    block = "y = 2\n" * (MAX_HIGHLIGHT_CHARS // 6 - 1)
    spent = [budget.lines(block + f"# {n}", "python") is not None for n in range(MAX_DOCUMENT_CHARS // len(block) + 2)]
    assert spent[0] and not spent[-1] and spent == sorted(spent, reverse=True)
    post = make_post("\n\n".join(f"```python\n{block}# {n}\n```" for n in range(8)))
    email = rendered(post)["email.html"]
    blocks = re.findall(r'<code class="language-python"[^>]*>(.*?)</code>', email, re.S)
    assert len(blocks) == 8 and "<span" in blocks[0] and "<span" not in blocks[-1]


def test_posts_without_the_constructs_parse_as_before():
    tree = parse_body("A [link](https://a.example) and `code`.\n\n- one\n- two\n\n> quote\n")
    assert [n.type for n in tree.children] == ["paragraph", "bullet_list", "blockquote"]
    assert not any(n.type in ("admonition", "dl", "html_inline") for n in walk(tree))


URL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).map(lambda p: f"https://x.example/{p}")
WORDS = st.text("abcdefgh ", min_size=1, max_size=20).map(lambda t: t.strip() or "word")
LINKED = st.one_of(st.tuples(WORDS, URL).map(lambda t: f"[{t[0]}]({t[1]})"), URL.map(lambda u: f"see {u} now"))
CONSTRUCT = st.one_of(
    LINKED.map(lambda x: f"Text{{note}} {x}."),
    st.tuples(WORDS, LINKED).map(lambda t: f"- [ ] {t[0]} {t[1]}\n- [x] done"),
    st.tuples(WORDS, LINKED).map(lambda t: f"{t[0]}\n: {t[1]}"),
    st.tuples(st.sampled_from(["note", "tip", "info", "warning", "danger", "caution"]), WORDS, LINKED).map(
        lambda t: f":::{t[0]} {t[1]}\n{t[2]}\n:::"),
)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(CONSTRUCT, min_size=1, max_size=5), notes=st.lists(LINKED, min_size=1, max_size=3))
def test_no_link_of_such_a_post_is_lost_on_any_channel(blocks, notes):
    body = "\n\n".join(b.replace("{note}", f"[^{i % len(notes) + 1}]") for i, b in enumerate(blocks))
    body += "\n\n" + "\n".join(f"[^{i + 1}]: {n}" for i, n in enumerate(notes))
    post = make_post(body)
    outputs = rendered(post)
    for url in {str(node.attrs["href"]) for node in walk(post.tree) if node.type == "link"}:
        assert_link_kept(outputs, url)
    for name, output in outputs.items():
        assert ":::" not in visible(output) and "[^" not in visible(output), name


def test_markdown_written_inside_raw_html_reads_as_markup_not_asterisks():
    post = make_post("<details>\n<summary>**Case 1: a CommonJS config** with `module.exports`</summary>\n\n"
                     "```js\nmodule.exports = {};\n```\n\n</details>\n\n<pre>**kept** `as is`</pre>\n")
    outputs = rendered(post)
    for channel, output in outputs.items():
        text = visible(output)
        assert "Case 1: a CommonJS config" in text and "**Case" not in text and "`module" not in text, channel
    assert "<strong>Case 1: a CommonJS config</strong>" in outputs["email.html"]
    assert "**kept** `as is`" in visible(outputs["email.html"])  # preformatted text keeps its characters


def test_a_markdown_1_block_is_read_as_markdown_and_code_showing_one_is_not():
    post = make_post('Intro.\n\n<div class="alert" role="alert" markdown="1">\n**Numbers:** see *the* '
                     "[figures](https://figures.example/about).\n</div>\n\nAfter.\n\n"
                     '```html\n<div markdown="1">\n**kept**\n</div>\n```\n')
    outputs = rendered(post)
    for channel, output in outputs.items():
        if channel != "email.text":
            assert "[figures]" not in visible(output) and "**Numbers" not in visible(output), channel
    assert_link_kept(outputs, "https://figures.example/about")
    assert '<div markdown="1">' in outputs["email.text"]  # the fenced code keeps it


def test_zenn_messages_are_callouts_and_its_embeds_are_links():
    post = make_post(":::message alert\nこの記事は古い情報を含みます。\n:::\n\n:::message\n補足です。\n:::\n\n"
                     "@[tweet](https://twitter.com/zenn_dev/status/1)\n\n@[youtube](dQw4w9WgXcQ)\n",
                     front="lang: ja\n")
    outputs = rendered(post)
    telegram = outputs["telegram"]
    assert "<b>警告</b>" in telegram and "<b>情報</b>" in telegram and "alert" not in visible(telegram)
    assert_link_kept(outputs, "https://twitter.com/zenn_dev/status/1")
    assert_link_kept(outputs, "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert "@" not in visible(telegram) and "@tweet" not in outputs["email.text"]


def test_a_reference_link_defined_elsewhere_reads_as_its_text_and_code_keeps_its_brackets():
    outputs = rendered(make_post("See the [responsible disclosure][topic disclosures] and [LND #10331][] notes; "
                                 "`[x][y]` is code. 最近の[Bitcoin Core][core repo]、[Core Lightning][cln repo]、"
                                 "[BTCPay Server][btcpay repo]。\n"))
    for channel, output in outputs.items():
        text = visible(output)
        assert "See the responsible disclosure and LND #10331 notes" in text, channel
        assert "[topic disclosures]" not in text and "[]" not in text and "repo]" not in text, channel
        assert "最近のBitcoinCore、CoreLightning、BTCPayServer。" in "".join(text.split()), channel  # email wraps
    assert "[x][y]" in outputs["email.text"]


def test_headings_without_a_space_and_bold_around_only_a_comment_read_as_their_sites_read_them():
    post = make_post("###Registration is open!\n\nText here.\n\n- **<!--anchor-->****Full aggregation:** a draft.\n\n"
                     "```\n##not a heading\n```\n\n#hashtag stays text\n")
    outputs = rendered(post)
    assert "<h3" in outputs["email.html"] and "###" not in visible(outputs["email.html"])
    for channel, output in outputs.items():
        text = visible(output)
        assert "Registration is open!" in text and "****" not in text and "**" not in text.replace("**not", ""), channel
        assert "#hashtag stays text" in text, channel
    assert "##not a heading" in outputs["email.text"]  # code keeps its characters
