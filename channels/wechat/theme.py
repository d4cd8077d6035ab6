"""The article's look: inline styles modelled on doocs/md's default theme (https://github.com/doocs/md),
and which source tags become which WeChat tags. WeChat ignores class and <style> CSS, so every
style here is written inline by writer.py."""
from __future__ import annotations

ACCENT_COLOR = "#0F4C81"
TEXT_COLOR = "#3f3f3f"
LINK_COLOR = "#576b95"  # WeChat's own link blue
FONT_STACK = ("-apple-system,BlinkMacSystemFont,Helvetica Neue,PingFang SC,Hiragino Sans GB,"
              "Microsoft YaHei UI,Microsoft YaHei,Arial,sans-serif")
MONO_STACK = "Menlo,Monaco,Consolas,Courier New,monospace"

STYLES = {
    "article": (f"font-family:{FONT_STACK};font-size:16px;line-height:1.75;color:{TEXT_COLOR};"
                "letter-spacing:0.05em;text-align:left;word-break:break-word;overflow-wrap:break-word;"),
    "h1": (f"margin:2em 8px 1em;padding-bottom:0.3em;border-bottom:2px solid {ACCENT_COLOR};"
           f"font-size:20px;font-weight:bold;line-height:1.4;text-align:center;color:{TEXT_COLOR};"),
    "h2": (f"margin:2.5em 8px 1em;padding:0.1em 0 0.1em 10px;border-left:4px solid {ACCENT_COLOR};"
           "font-size:18px;font-weight:bold;line-height:1.5;color:#1f1f1f;"),
    "h3": f"margin:2em 8px 0.75em;font-size:17px;font-weight:bold;line-height:1.5;color:{ACCENT_COLOR};",
    "h4": f"margin:1.5em 8px 0.5em;font-size:16px;font-weight:bold;line-height:1.5;color:{TEXT_COLOR};",
    "p": f"margin:1.5em 8px;color:{TEXT_COLOR};",
    "p/tight": f"margin:0.5em 0;color:{TEXT_COLOR};",
    "section": "margin:1em 8px;",
    "section/nested": "margin:0.5em 0;",
    "strong": f"font-weight:bold;color:{ACCENT_COLOR};",
    "em": "font-style:italic;",
    "del": "text-decoration:line-through;",
    "u": "text-decoration:underline;",
    "plain": "",
    "mark": "background:#fff5b1;",
    "small": "font-size:0.85em;",
    "sub": "font-size:0.75em;",
    "sup": "font-size:0.75em;",
    "code": (f"font-family:{MONO_STACK};font-size:90%;color:#d14;background:rgba(27,31,35,0.05);"
             "padding:3px 5px;border-radius:4px;white-space:pre-wrap;word-break:break-all;"),
    "pre": (f"margin:1em 8px;padding:1em;border-radius:8px;background:#f6f8fa;color:#24292e;"
            f"font-family:{MONO_STACK};font-size:13px;line-height:1.5;letter-spacing:0;"
            "overflow-x:auto;white-space:pre;text-align:left;"),
    "pre/code": (f"font-family:{MONO_STACK};font-size:13px;color:#24292e;background:none;"
                 "white-space:pre;letter-spacing:0;"),
    "blockquote": (f"margin:1.5em 8px;padding:0.75em 1em;border-left:4px solid {ACCENT_COLOR};"
                   "border-radius:6px;background:#f7f7f7;color:rgba(0,0,0,0.6);font-style:normal;"),
    "list": "margin:1em 8px;",
    "ul": "list-style:none;margin:0;padding:0 0 0 {indent}em;",
    "ol": "list-style:none;margin:0;padding:0 0 0 {indent}em;",
    "li": f"display:block;margin:0.3em 0;color:{TEXT_COLOR};",
    "list-block": "margin:0.5em 0 0.5em {indent}em;",
    "marker": f"color:{ACCENT_COLOR};",
    "hr": "margin:2em 0;border:0;border-top:1px solid rgba(0,0,0,0.1);height:0;",
    "img": "max-width:100%;height:auto;display:block;margin:0.5em auto;border-radius:4px;",
    "figure": "margin:1.5em 8px;",
    "figure/nested": "margin:1em 0;",
    "figcaption": "margin-top:0.3em;font-size:13px;color:#888;text-align:center;",
    "table-wrap": "margin:1.5em 8px;overflow-x:auto;",
    "table": "border-collapse:collapse;width:100%;font-size:14px;line-height:1.5;",
    "thead": "background:rgba(0,0,0,0.05);",
    "tbody": "",
    "tr": "",
    "th": "border:1px solid #dfdfdf;padding:0.4em 0.6em;font-weight:bold;{align}",
    "td": "border:1px solid #dfdfdf;padding:0.4em 0.6em;{align}",
    "caption": "font-size:13px;color:#888;padding:0.3em;",
    "a": f"color:{LINK_COLOR};text-decoration:none;",
    "link-text": f"color:{LINK_COLOR};",
    "reference-mark": f"font-size:0.75em;line-height:0;color:{ACCENT_COLOR};",
    "references-title": f"margin:2.5em 8px 0.5em;font-size:15px;font-weight:bold;color:{ACCENT_COLOR};",
    "reference": f"margin:0.3em 8px;font-size:12px;line-height:1.6;color:{TEXT_COLOR};word-break:break-all;",
    "reference-number": "opacity:0.6;",
    "reference-url": "font-style:italic;word-break:break-all;",
    "summary": "font-weight:bold;",
}

REFERENCES_TITLE = {"cjk": "引用链接", "latin": "References"}
BULLETS = ("•", "◦", "▪")

# Source tags → the tag we emit. Anything not listed (and not handled specially) is unwrapped.
BLOCK_CONTAINERS = {"div": "section", "section": "section", "article": "section", "aside": "section",
                    "header": "section", "footer": "section", "nav": "section", "main": "section",
                    "details": "section", "center": "section", "hgroup": "section", "dl": "section",
                    "address": "section"}
INLINE_TAGS = {  # source tag → (tag we emit, its style)
    "strong": ("strong", "strong"), "b": ("strong", "strong"), "em": ("em", "em"), "i": ("em", "em"),
    "cite": ("em", "em"), "dfn": ("em", "em"), "var": ("em", "em"), "del": ("del", "del"),
    "s": ("del", "del"), "strike": ("del", "del"), "ins": ("u", "u"), "u": ("u", "u"),
    "code": ("code", "code"), "kbd": ("code", "code"), "samp": ("code", "code"), "tt": ("code", "code"),
    "sub": ("sub", "sub"), "sup": ("sup", "sup"), "mark": ("span", "mark"), "small": ("span", "small"),
    "span": ("span", "plain"), "abbr": ("span", "plain"), "q": ("span", "plain"),
    "time": ("span", "plain"), "data": ("span", "plain"), "bdi": ("span", "plain"),
    "bdo": ("span", "plain"), "ruby": ("span", "plain"), "rt": ("span", "plain"),
    "rp": ("span", "plain"), "rtc": ("span", "plain"),
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
