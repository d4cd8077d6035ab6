"""The article's look: inline styles modelled on doocs/md's default theme (https://github.com/doocs/md),
and which source tags become which WeChat tags.

WeChat ignores class and <style> CSS, so every style is written inline by writer.py; but ordinary
CSS inheritance still works inside the article. So the text's font stack, size, colour, line
height and the page's side margins are written once, on the one <section> that wraps the article,
and each element carries only what differs from that (its margins, a heading's size and border).
Tags whose browser defaults are what we want (<strong>, <em>, <del>, <li>...) carry no style at
all: a text-heavy issue's HTML stays within about twice its visible text, which keeps it far from
the 1 MB draft/add bound and fast to load
(https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html).
"""
from __future__ import annotations

ACCENT_COLOR = "#0F4C81"
TEXT_COLOR = "#3f3f3f"
LINK_COLOR = "#576b95"  # WeChat's own link blue
# Phones first (WeChat is read on them), then desktop WeChat's Windows and macOS fonts.
FONT_STACK = "-apple-system,PingFang SC,Hiragino Sans GB,Microsoft YaHei,Helvetica Neue,Arial,sans-serif"
MONO_STACK = "Menlo,Consolas,monospace"

# Written once, on the wrapping <section>; every element below inherits it.
ARTICLE_STYLE = (f"font-family:{FONT_STACK};font-size:16px;line-height:1.75;color:{TEXT_COLOR};"
                 # break-word: a long URL breaks where it stands instead of leaving its line half empty
                 "letter-spacing:0.05em;text-align:left;word-break:break-word;overflow-wrap:break-word;"
                 "padding:0 8px;")

STYLES = {
    "article": ARTICLE_STYLE,
    "h1": (f"margin:2em 0 1em;padding-bottom:0.3em;border-bottom:2px solid {ACCENT_COLOR};"
           "font-size:20px;font-weight:bold;text-align:center;"),
    # h2-h4 are bold by the browser's default; h4, the size of the text, says so itself in case a
    # reader's stylesheet resets headings
    "h2": f"margin:2em 0 1em;padding-left:8px;border-left:4px solid {ACCENT_COLOR};font-size:18px;",
    "h3": f"margin:1.75em 0 0.75em;font-size:17px;color:{ACCENT_COLOR};",
    "h4": "margin:1.5em 0 0.5em;font-size:1em;font-weight:bold;",
    "p": "margin:24px 0;",
    "p/tight": "margin:8px 0;",
    "section": "margin:1em 0;",
    "section/nested": "margin:0.5em 0;",
    "plain": "",  # <strong>, <em>, <del>, <u>, <sub>, <sup>: the browser's defaults are the style
    "mark": "background:#fff5b1;",
    "small": "font-size:0.85em;",
    "code": f"font-family:{MONO_STACK};font-size:90%;color:#d14;background:#f3f4f4;padding:2px 4px;border-radius:4px;",
    "pre": (f"margin:1em 0;padding:1em;border-radius:8px;background:#f6f8fa;color:#24292e;"
            f"font-family:{MONO_STACK};font-size:13px;line-height:1.5;letter-spacing:0;"
            "overflow-x:auto;white-space:pre;word-break:normal;overflow-wrap:normal;"),
    "pre/code": "font-family:inherit;white-space:pre;",
    "callout": "margin:1.5em 0;padding:0.5em 1em;border-left:4px solid {border};border-radius:6px;background:{background};",
    "blockquote": (f"margin:1.5em 0;padding:0.75em 1em;border-left:4px solid {ACCENT_COLOR};"
                   "border-radius:6px;background:#f7f7f7;color:#666;"),
    # A list: text markers (WeChat mangles list styles), so no list-style and no item style; the
    # items inherit a hanging indent from the list.
    "list": "list-style:none;margin:1em 0;padding-left:{pad}em;text-indent:-{hang}em;",
    "list/group": "margin:1em 0;",
    "ul": "list-style:none;margin:0;padding-left:{pad}em;text-indent:-{hang}em;",
    "ol": "list-style:none;margin:0;padding-left:{pad}em;text-indent:-{hang}em;",
    "list-block": "margin:0.5em 0 0.5em {indent}em;",
    "hr": "margin:2em 0;border:0;border-top:1px solid #e5e5e5;",
    "img": "max-width:100%;display:block;margin:0.5em auto;border-radius:4px;",
    "figure": "margin:1.5em 0;",
    "figure/nested": "margin:1em 0;",
    "figcaption": "margin-top:0.3em;font-size:13px;color:#888;text-align:center;",
    "img/cell": "max-width:6em;display:block;",  # a thumbnail: tree.TABLE_IMAGE_EM
    # Wide tables scroll sideways inside their wrapper instead of squeezing words (doocs/md does the
    # same): the table keeps the inherited break-word out of its cells, short CJK cells stay on one
    # line and the table gets a min-width (tree.table_width_em).
    "table-wrap": "margin:1.5em 0;overflow-x:auto;",
    "table": "border-collapse:collapse;{width}font-size:14px;line-height:1.5;word-break:normal;overflow-wrap:normal;",
    "thead": "background:#f2f2f2;",
    "th": "border:1px solid #ddd;padding:5px 8px;{align}{wrap}",
    "td": "border:1px solid #ddd;padding:5px 8px;{align}{wrap}",
    "caption": "font-size:13px;color:#888;padding:0.3em;",
    "a": f"color:{LINK_COLOR};text-decoration:none;",
    "link-text": f"color:{LINK_COLOR};",
    "continued": f"margin:2em 0;padding:0.75em 1em;border-left:4px solid {ACCENT_COLOR};background:#f7f7f7;font-size:15px;",
    "references-title": f"margin:2.5em 0 0.5em;font-size:15px;font-weight:bold;color:{ACCENT_COLOR};",
    "references": "margin:8px 0;font-size:12px;line-height:1.8;word-break:break-all;",
}

REFERENCES_TITLE = {"cjk": "引用链接", "latin": "References"}  # kept for importers: the article says
# publisher.language.words(post.language)["references"], so a Japanese post gets 参考リンク
BULLETS = ("•", "◦", "▪")

# Source tags → the tag we emit. Anything not listed (and not handled specially) is unwrapped.
BLOCK_CONTAINERS = {"div": "section", "section": "section", "article": "section", "aside": "section",
                    "header": "section", "footer": "section", "nav": "section", "main": "section",
                    "details": "section", "center": "section", "hgroup": "section", "dl": "section",
                    "address": "section"}
INLINE_TAGS = {  # source tag → (tag we emit, its style); None: the content alone, unwrapped
    "strong": ("strong", "plain"), "b": ("strong", "plain"), "em": ("em", "plain"), "i": ("em", "plain"),
    "cite": ("em", "plain"), "dfn": ("em", "plain"), "var": ("em", "plain"), "del": ("del", "plain"),
    "s": ("del", "plain"), "strike": ("del", "plain"), "ins": ("u", "plain"), "u": ("u", "plain"),
    "code": ("code", "code"), "kbd": ("code", "code"), "samp": ("code", "code"), "tt": ("code", "code"),
    "sub": ("sub", "plain"), "sup": ("sup", "plain"), "mark": ("span", "mark"), "small": ("span", "small"),
    "span": None, "abbr": None, "q": None, "time": None, "data": None, "bdi": None, "bdo": None,
    "ruby": None, "rt": None, "rp": None, "rtc": None,
}
HEADINGS = {"h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h4", "h6": "h4"}
PARAGRAPH_LIKE = {"p": "p", "dt": "p", "dd": "p", "summary": "p", "figcaption": "figcaption"}
TABLE_PARTS = {"thead", "tbody", "tfoot", "tr", "th", "td", "caption"}
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "noscript",
                                  "template", "head", "title", "link", "meta", "svg", "math"})
VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                       "param", "source", "track", "wbr"})
BLOCK_SOURCE_TAGS = (set(BLOCK_CONTAINERS) | set(HEADINGS) | set(PARAGRAPH_LIKE) | TABLE_PARTS
                     | {"ul", "ol", "li", "pre", "blockquote", "table", "figure", "hr"})
