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
