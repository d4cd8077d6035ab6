"""Markdown beyond CommonMark that newsletters are written in, parsed once (mdit-py-plugins and
markdown-it's linkify) and handed to the channels in forms they already render, so no channel
loses the text of a construct it has no special handling for:

- footnotes `[^1]`: a reference becomes `<sup>[1]</sup>` (plain "[1]" where a channel has no
  superscript), the notes a rule and a tight numbered list at the end; a note never referenced is
  kept after the referenced ones instead of vanishing;
- task lists `- [ ]` / `- [x]`: ☐ / ☑ in the item's text (the item is marked `task-list-item`);
- definition lists (`Term` then `: definition`): dl/dt/dd, each term's text in a paragraph of its own;
- bare URLs (`https://…`, `www.…`, `name@host`): links. A name that only looks like a domain
  (`README.md`, `setup.py`) stays text, and a link ends before CJK punctuation (`https://a.b/x，见`);
- Docusaurus admonitions `:::note Title` … `:::` (also `:::tip[Title]`, and any `:::word`): an
  `admonition` node (meta: kind, title) whose first child is its title as a bold paragraph
  (the kind's name when no title is written), then its body;
- Zenn's `:::message` / `:::message alert` (info / warning admonitions) and `@[tweet](url)` embeds (links);
- a line break inside Chinese or Japanese text joins the lines without a space;
- CJK emphasis `**注意：**文字` (publisher.markdown_cjk).
"""
from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

from publisher.language import detect
from publisher.markdown_cjk import use_cjk_emphasis

# Docusaurus's titles for its admonition kinds (https://docusaurus.io/docs/markdown-features/admonitions),
# in the languages the channels speak; another kind is titled by its own name.
ADMONITION_TITLES = {
    "en": {"note": "Note", "tip": "Tip", "info": "Info", "warning": "Warning", "danger": "Danger",
           "caution": "Caution", "important": "Important"},
    "zh": {"note": "备注", "tip": "提示", "info": "信息", "warning": "警告", "danger": "危险", "caution": "注意",
           "important": "重要"},
    "ja": {"note": "注記", "tip": "ヒント", "info": "情報", "warning": "警告", "danger": "危険", "caution": "注意",
           "important": "重要"},
    "ko": {"note": "참고", "tip": "팁", "info": "정보", "warning": "경고", "danger": "위험", "caution": "주의",
           "important": "중요"},
}
# (border, background) of each kind's callout where a channel has colour: Docusaurus's own palette.
ADMONITION_COLOURS = {
    "note": ("#888", "#f4f5f6"), "tip": ("#009400", "#e6f6e6"), "info": ("#4cb3d4", "#eef9fd"),
    "warning": ("#e6a700", "#fff8e6"), "caution": ("#e6a700", "#fff8e6"), "danger": ("#e13238", "#ffebec"),
    "important": ("#4cb3d4", "#eef9fd"),
}
_ADMONITION_OPEN = re.compile(r"^\s*([A-Za-z][\w-]*)(.*)$", re.S)
_TITLE_ATTRIBUTE = re.compile(r"""^\{?\s*title\s*=\s*(["'])(.*)\1\s*\}?$""", re.S)
_TASK = re.compile(r"^\[([ xX])\](?=\s|$)\s*")
_KEPT_LINK = re.compile(r"^(?:https?://|www\.|mailto:)", re.I)
# Full-width and CJK punctuation never belongs to a bare URL written in CJK text.
_CJK_PUNCTUATION = re.compile("[\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")


def admonition_colours(kind: str | None) -> tuple[str, str]:
    """(border, background) of an admonition's callout; an unknown kind looks like a note."""
    return ADMONITION_COLOURS.get(kind or "", ADMONITION_COLOURS["note"])


def use_plugins(md: MarkdownIt) -> MarkdownIt:
    """Enable every extension on `md` (made with "linkify": True)."""
    md.enable(["linkify"])
    md.linkify.set({"fuzzy_link": True, "fuzzy_email": True, "fuzzy_ip": False})
    md.use(footnote_plugin).use(deflist_plugin)
    md.use(container_plugin, name="admonition", validate=lambda params, *_: bool(_ADMONITION_OPEN.match(params)))
    md.core.ruler.before("footnote_tail", "footnote_unreferenced", _footnote_unreferenced)
    md.core.ruler.push("publisher_plugins", _rewrite)
    return use_cjk_emphasis(md)


def _footnote_unreferenced(state: StateCore) -> None:
    """Give every footnote defined but never referenced a number after the referenced ones, so
    footnote_tail keeps its text."""
    notes = state.env.get("footnotes")
    if not isinstance(notes, dict) or not isinstance(notes.get("list"), dict):
        return
    for label, number in list(notes.get("refs", {}).items()):
        if number < 0:
            new = len(notes["list"])
            notes["list"][new] = {"label": label[1:], "count": 0}
            notes["refs"][label] = new


def _rewrite(state: StateCore) -> None:
    tokens: list[Token] = []
    language: list[str] = []  # detected once, when an admonition without a title needs it
    note_start = 0  # where the footnote being rewritten starts in `tokens`
    for index, token in enumerate(state.tokens):
        kind = token.type
        if kind == "inline" and token.children:
            token.children = _inline(token.children, state.md)
            tokens.append(token)
        elif kind == "list_item_open":
            tokens.append(token)
            _task(state.tokens, index)
        elif kind == "dt_open":
            tokens += [token, _block("paragraph_open", "p", 1, hidden=True)]
        elif kind == "dt_close":
            tokens += [_block("paragraph_close", "p", -1, hidden=True), token]
        elif kind.startswith("container_admonition_"):
            tokens += _admonition(token, state, language)
        elif kind == "footnote_block_open":
            tokens += [_block("hr", "hr", 0, markup="---"), _block("ordered_list_open", "ol", 1, attrs={"class": "footnotes"})]
        elif kind == "footnote_block_close":
            tokens.append(_block("ordered_list_close", "ol", -1))
        elif kind == "footnote_open":
            note_start = len(tokens)
            tokens.append(_block("list_item_open", "li", 1, markup="."))
        elif kind == "footnote_close":
            _tighten_footnote(tokens[note_start + 1:])
            tokens.append(_block("list_item_close", "li", -1, markup="."))
        elif kind != "footnote_anchor":
            tokens.append(token)
    state.tokens = tokens


def _block(kind: str, tag: str, nesting: int, *, hidden: bool = False, markup: str = "",
           attrs: dict | None = None) -> Token:
    token = Token(kind, tag, nesting, attrs=attrs or {}, markup=markup, block=True, hidden=hidden)
    return token


def _tighten_footnote(inner: list[Token]) -> None:
    """A note of one paragraph is a tight list item (no blank line between notes)."""
    if len(inner) == 3 and inner[0].type == "paragraph_open":
        inner[0].hidden = inner[2].hidden = True


def _task(tokens: list[Token], index: int) -> None:
    """`- [ ] text` / `- [x] text`: the marker becomes ☐ / ☑ text."""
    if index + 2 >= len(tokens) or tokens[index + 1].type != "paragraph_open":
        return
    inline = tokens[index + 2]
    first = inline.children[0] if inline.type == "inline" and inline.children else None
    match = _TASK.match(first.content) if first is not None and first.type == "text" else None
    if not match:
        return
    done = match.group(1) != " "
    first.content = ("☑ " if done else "☐ ") + first.content[match.end():]
    inline.content = ("☑ " if done else "☐ ") + inline.content[match.end():].lstrip()
    tokens[index].attrSet("class", "task-list-item")
    tokens[index].meta = {**(tokens[index].meta or {}), "task": "done" if done else "open"}


def _inline(children: list[Token], md: MarkdownIt) -> list[Token]:
    out: list[Token] = []
    index = 0
    while index < len(children):
        token = children[index]
        index += 1
        if token.type == "softbreak" and out and out[-1].type in _WORDS and index < len(children) \
                and children[index].type in _WORDS and _joins(out[-1].content[-1:], children[index].content[:1]):
            continue  # a line break written inside Chinese or Japanese text is no space at all
        while token.type == "text" and index < len(children) and children[index].type == "text":
            token.content += children[index].content  # "[", "Core", "]": markdown-it's pieces of a failed link
            index += 1
        if token.type == "text" and "][" in token.content:
            # `[text][ref]` whose definition the site keeps elsewhere (an include): the text, not the brackets
            token.content = _UNRESOLVED_REFERENCE.sub(r"\1", token.content)
        if token.type == "footnote_ref":
            number = f"[{token.meta['id'] + 1}]"
            out += [Token("html_inline", "", 0, content="<sup>"), Token("text", "", 0, content=number),
                    Token("html_inline", "", 0, content="</sup>")]
        elif token.type == "link_open" and token.markup == "linkify" and index + 1 < len(children):
            label, close = children[index], children[index + 1]
            index += 2
            out += _bare_link(token, label, close, md)
        elif token.type == "text" and token.content.endswith("@") and _is_embed(children[index:index + 3]):
            opening, label = children[index], children[index + 1]
            index += 3
            href = str(opening.attrGet("href") or "")
            if label.content == "youtube" and "://" not in href:
                href = f"https://www.youtube.com/watch?v={href}"
                opening.attrSet("href", href)
            label.content = href if "://" in href else label.content
            out += [Token("text", "", 0, content=token.content[:-1]), opening, label, children[index - 1]]
        else:
            out.append(token)
    return out


# Han, kana, CJK punctuation and full-width forms: scripts written without spaces (not Hangul, which has them).
_JOINS_LINES = re.compile("[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31f0-\u31ff\u3400-\u4dbf"
                          "\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

_WORDS = ("text", "code_inline")
_UNRESOLVED_REFERENCE = re.compile(r"\[([^\[\]\n]{1,300})\]\[[^\[\]\n]{0,300}\]")


def _joins(before: str, after: str) -> bool:
    """Two lines meet without a space: between Chinese or Japanese characters, and after or before
    their punctuation (`、` then `rawtr()`)."""
    return bool(_JOINS_LINES.match(before) and _JOINS_LINES.match(after)
                or _CJK_PUNCTUATION.match(before) and after.isalnum()  # not before "—— 作者", a quote's source
                or _CJK_PUNCTUATION.match(after) and before.isalnum())


# Zenn's embeds, `@[tweet](url)`, `@[youtube](id)`, `@[card](url)` (https://zenn.dev/zenn/articles/markdown-guide):
# the page they show, as a link.
_ZENN_EMBEDS = frozenset({"tweet", "card", "github", "gist", "youtube", "speakerdeck", "slideshare", "docswell",
                          "codepen", "codesandbox", "stackblitz", "figma", "jsfiddle", "blueprintue"})


def _is_embed(tokens: list[Token]) -> bool:
    return (len(tokens) == 3 and tokens[0].type == "link_open" and tokens[1].type == "text"
            and tokens[1].content in _ZENN_EMBEDS and tokens[2].type == "link_close")


def _bare_link(opening: Token, label: Token, closing: Token, md: MarkdownIt) -> list[Token]:
    text = label.content
    if not _KEPT_LINK.match(text) and not str(opening.attrGet("href") or "").startswith("mailto:"):
        return [label]  # README.md, setup.py: names that only look like domains
    cut = _CJK_PUNCTUATION.search(text)
    if not cut or cut.start() == 0:
        return [opening, label, closing]
    url, rest = text[:cut.start()], text[cut.start():]
    label.content = url
    opening.attrSet("href", md.normalizeLink(url if "://" in url or url.startswith("mailto:") else "http://" + url))
    return [opening, label, closing, Token("text", "", 0, content=rest)]


def _admonition(token: Token, state: StateCore, language: list[str]) -> list[Token]:
    if token.nesting == -1:
        return [_block("admonition_close", "div", -1, markup=token.markup)]
    match = _ADMONITION_OPEN.match(token.info)
    kind, rest = (match.group(1).lower(), match.group(2).strip()) if match else ("note", "")
    if kind == "message":  # Zenn's `:::message` (a note) and `:::message alert` (a warning)
        kind, rest = ("warning", "") if rest == "alert" else ("info", rest)
    if rest.startswith("[") and rest.endswith("]"):
        title = rest[1:-1].strip()
    elif attribute := _TITLE_ATTRIBUTE.match(rest):
        title = attribute.group(2).strip()
    else:
        title = "" if rest.startswith("{") else rest
    if not title:
        if not language:
            language.append(detect(state.src))
        title = ADMONITION_TITLES.get(language[0], ADMONITION_TITLES["en"]).get(kind, kind.replace("-", " ").title())
    opening = _block("admonition_open", "div", 1, markup=token.markup,
                     attrs={"class": f"admonition admonition-{kind}"})
    opening.meta = {"kind": kind, "title": title}
    opening.map = token.map
    heading = Token("inline", "", 0, content=title, map=token.map)
    heading.children = ([Token("strong_open", "strong", 1, markup="**")] + _title_inline(title, state)
                        + [Token("strong_close", "strong", -1, markup="**")])
    title_open = _block("paragraph_open", "p", 1)
    title_open.meta = {"admonition_title": True}
    return [opening, title_open, heading, _block("paragraph_close", "p", -1)]


def _title_inline(title: str, state: StateCore) -> list[Token]:
    """The title's own inline Markdown (`:::tip[Use **this**]`), parsed like any text."""
    parsed = state.md.parseInline(title, {})  # its own env: the post's footnotes are numbered already
    children = parsed[0].children if parsed and parsed[0].children else []
    return children or [Token("text", "", 0, content=title)]
