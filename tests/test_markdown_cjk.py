"""CJK emphasis: `**注意：**文字` is bold on every channel instead of showing its asterisks."""
import pytest

from publisher.markdown import parse_body


def _strong_texts(markdown):
    tree = parse_body(markdown)
    out = []

    def visit(node):
        if node.type == "strong":
            out.append("".join(c.content for c in node.children if c.type == "text"))
        for child in node.children:
            visit(child)
    visit(tree)
    return out


@pytest.mark.parametrize(("markdown", "strong"), [
    ("**本期提要：**这一期讲索引。", ["本期提要："]),
    ("**“索引不是越多越好”**这句话。", ["“索引不是越多越好”"]),
    ("先打开日志。**注意：**阈值不要太低。", ["注意："]),
    ("**注意：**本番環境では閾値を低くしすぎないこと。", ["注意："]),
    ("a **b** c", ["b"]),
])
def test_emphasis_next_to_cjk_punctuation_is_bold(markdown, strong):
    assert _strong_texts(markdown) == strong


@pytest.mark.parametrize("markdown", ["2 * 3 * 4", "中文 * 不是强调 * 吧", "a** b **c", "snake_case_名字_x"])
def test_asterisks_with_spaces_and_underscores_stay_as_commonmark_reads_them(markdown):
    assert _strong_texts(markdown) == [] and "em" not in [n.type for n in parse_body(markdown).children[0].children[0].children]


def test_a_line_break_inside_chinese_or_japanese_is_no_space_but_stays_one_in_korean_and_english():
    from channels.registry import CHANNELS
    from publisher.config import load_settings
    from publisher.post import parse_post

    settings = load_settings(env={})
    post = parse_post("---\ntitle: 改行\n---\n今日はいい天気です。\n明日も晴れ。\n中文第一行\n第二行\nwrapped\nwords\n\n"
                      "한국어 문장\n다음 줄\n", name="breaks.md", settings=settings)
    telegram = CHANNELS["telegram"].render(post, settings).calls[0].params["text"]
    wechat = CHANNELS["wechat"].render(post, settings).content
    for output in (telegram, wechat):
        assert "今日はいい天気です。明日も晴れ。中文第一行第二行 wrapped words" in output
        assert "한국어 문장 다음 줄" in output


def test_a_line_break_after_japanese_punctuation_joins_even_before_latin_text():
    from channels.registry import CHANNELS
    from publisher.config import load_settings
    from publisher.post import parse_post

    settings = load_settings(env={})
    post = parse_post("---\ntitle: 改行\n---\n開示と、\nrawtr() の説明。\nBitcoin と\nLightning、\n`code()`です。\n",
                      name="b.md", settings=settings)
    telegram = CHANNELS["telegram"].render(post, settings).calls[0].params["text"]
    assert "開示と、rawtr() の説明。Bitcoin と Lightning、<code>code()</code>です。" in telegram
