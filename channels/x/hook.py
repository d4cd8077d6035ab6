"""What a summary tweet may say: the hook of tweet 1 and the one line of an item or section.

A line a reader skips is never chosen: a lead-in ending on a colon ("Here's what happened this
week:", "今日精选 5 篇 AI 行业重要资讯："), the site's own boilerplate (greetings, "subscribe",
"view in browser", "原文链接", "点击关注", "目次"), a bare link or label, or the title again.
"""
from __future__ import annotations

import re
from typing import Iterable

from channels.x.limits import SECTION_TEASER_WEIGHT
from channels.x.split import ends_sentence, sentences, weighted_length
from channels.x.text import _CJK, Block, join_lines

PROSE_KINDS = ("text", "quote", "html")
_LEAD_IN = re.compile(r"[:：]\s*$")
_URL = re.compile(r"https?://\S+|\bwww\.\S+")
_EDGE_URLS = re.compile(r"^(?:\s*(?:https?://\S+|www\.\S+))+|(?:\s*(?:https?://|www\.)[^\s。，]+?)+[\s.,;:!?。，；！？)）]*$")
# a link's label that is its address without the scheme ("nodeflare.dev/blog/3.0"): no line
_ADDRESS = re.compile(r"^(?:[\w-]+\.)+[a-z]{2,}(?::\d+)?/\S*$", re.I)
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f0-9]+(?:['’-][A-Za-z0-9]+)*")
_BOILERPLATE = re.compile("|".join([
    # greetings and sign-offs
    (r"^(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening)|happy \w+day)\b(?:[\s,!]+(?:and )?"
     r"(?:welcome|everyone|all|friends|folks|there|readers|team)\b)?[^.?!]{0,60}[,!.]?$"),
    r"^(?:hi|hello|hey)\b.{0,20}$",
    r"^welcome (?:back )?to (?:(?:another|the|this|our) )?(?:issue|edition|episode|week|newsletter|\S+ (?:weekly|daily))",
    r"\b(?:thanks|thank you) for (?:reading|subscribing|being a subscriber)\b",
    # the site and the mailing list talking about themselves
    (r"^subscribe\b|\bsubscribe (?:here|now|today|for free|at)\b|\bunsubscribe\b|"
     r"\bsubscribe to (?:our|this|the|my) (?:newsletter|blog|channel|feed|list)|\bsign up for (?:our|the|this)\b"),
    (r"\bview (?:it |this )?(?:email )?(?:in|on) (?:your|a|the) browser|\bview (?:it|this) online|"
     r"\bforwarded this (?:email|newsletter)|\bshare this (?:post|issue|newsletter)\b"),
    r"^(?:this (?:post|article|piece) (?:was|is) )?(?:originally )?(?:published|posted|cross-?posted) (?:on|at|in|by)\b",
    r"^(?:posted|published|updated|last updated|written) (?:on|by|at)\b|^(?:reading time|table of contents|contents)\b",
    r"^\d+\s*min(?:ute)?s? read\b|^photo (?:by|credit)\b|^(?:image|cover) (?:credit|source)\b|^edit this page\b",
    r"\b(?:this|the|our) newsletter is\b|^you(?:'re| are) receiving this\b",
    r"^(?:read more|read on|continue reading|source|link|more|here|via|comments?|discussion)\W*$",
    r"^\S{0,24}\s?(?:official (?:web)?site|homepage|官网|官方网站|主页|公式サイト)\W*$",  # "Acme homepage"
    # Chinese
    r"^(?:大家好|各位(?:读者|朋友)|亲爱的)", r"欢迎(?:来到|阅读|关注|订阅|收看|收听)", r"点击(?:上方|下方|关注|阅读原文|蓝字)",
    r"关注(?:我们|公众号|本号)", r"本文(?:首发|转载|作者|字数|约\d|来源)", r"转载请|版权(?:声明|所有)|免责声明",
    r"^(?:原文|文章)(?:链接|地址)|^阅读(?:原文|全文)|^(?:预计)?阅读时间|^目录$|^(?:图片|封面)来源",
    r"扫码(?:关注|订阅|加入)|(?:扫描|长按)(?:下方)?二维码|(?:点击|欢迎)订阅|订阅(?:我们|本号|本刊|本频道)",
    # Japanese
    r"^(?:こんにちは|こんばんは|おはようございます)", r"(?:お読み|ご覧)いただき(?:ありがとう|まして)",
    r"ご購読|購読(?:登録|はこちら)|登録はこちら", r"^目次$", r"^(?:続きを読む|元記事|詳細はこちら|リンク)",
    r"(?:今週|今回|今日|本日)も.{0,12}お届けします",
]), re.I)


def clean(sentence: str) -> str:
    """A sentence without the raw URLs at its start or end (an item's link has a line of its own);
    one inside the sentence stays, or "reach us at <url> any day" would read "reach us at any day".
    A mail link shows its address without "mailto:"."""
    sentence = re.sub(r"\bmailto:(?=[^\s@]+@)", "", sentence)
    sentence = _EDGE_URLS.sub("", sentence).rstrip(" (（")
    if _URL.fullmatch(sentence.strip()):
        return ""
    return _EDGE_SEPARATORS.sub("", " ".join(sentence.split()))  # "— text", "text |"; not "--flag"


_EDGE_SEPARATORS = re.compile(r"^(?:[·|–—-]+(?:\s+|$))+|(?:(?:^|\s+)[·|–—-]+)+$")


def lead_in(text: str) -> bool:
    """"Here's what happened:" introduces something and says nothing by itself."""
    return bool(_LEAD_IN.search(text))


def boilerplate(text: str) -> bool:
    return bool(_BOILERPLATE.search(text.strip()))


def substantive(text: str) -> bool:
    """Says something: four words, or eight CJK characters, besides links."""
    text = clean(text)
    return len(_WORD.findall(text)) >= 4 or len(_CJK.findall(text)) >= 8 or \
        (len(_WORD.findall(text)) >= 2 and len(_CJK.findall(text)) >= 4)


def title_like(text: str) -> bool:
    """Long enough to be a headline ("Fuzzing parsers for fun") rather than a name ("OpenAI")."""
    text = clean(text)
    return len(_WORD.findall(text)) >= 3 or len(_CJK.findall(text)) >= 6


def same_text(a: str, b: str) -> bool:
    return _key(a) == _key(b)


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text).casefold()


def usable(sentence: str, title: str = "") -> bool:
    """Good enough to hook a reader: substantive, no lead-in, no boilerplate, not the title again."""
    text = clean(sentence)
    return bool(text) and substantive(text) and not lead_in(text) and not boilerplate(text) and \
        not (_key(text) and _key(text) in _key(title))  # the title again, or a part of it ("A｜B" then "B")


def block_sentences(block: Block) -> list[str]:
    if block.kind == "quote":
        return [block.text]  # a quote is kept whole, with who said it
    return sentences(block.text[block.lead:])


def body_hook(blocks: Iterable[Block], title: str, strict: bool = True) -> str:
    """The first substantive sentence of the body's paragraphs (not headings, lists or quotes).
    Not `strict`: the first sentence of any text that is not a lead-in (a post of two words)."""
    for block in blocks:
        if strict and (block.kind not in ("text", "html") or block.lead):
            continue
        if block.kind in ("heading", "code", "image"):
            continue
        for sentence in block_sentences(block):
            text = sentence if block.kind == "quote" else clean(sentence)
            if usable(sentence, title) if strict else (text and not lead_in(text) and not same_text(text, title)):
                return text
    return ""


_SHORT_ITEM = 40  # list items this short (weighted) read well inline: "skilled workers, water, power"


def _listed(blocks: list[Block]) -> str:
    """The list right after a lead-in, inline, when its items are short; else ""."""
    items = []
    for block in blocks:
        if not block.lead:
            break
        items.append(block.text[block.lead:].strip())
    if len(items) < 2 or any(weighted_length(item) > _SHORT_ITEM for item in items):
        return ""
    joiner = "、" if any(_CJK.match(item[-1:]) for item in items) else ", "
    return joiner.join(items[:6]) + (joiner + "…" if len(items) > 6 else "")


def pick_line(blocks: Iterable[Block], used: set[str], title: str = "") -> str:
    """The first sentence(s) of the first prose block that says something; lead-ins (unless a list of
    short items follows, which then comes inline), boilerplate, bare links and what tweet 1 already
    said are passed over."""
    blocks = list(blocks)
    for index, block in enumerate(blocks):
        if block.kind not in PROSE_KINDS or (block.kind == "html" and (not substantive(block.text) or " · " in block.text)):
            continue  # an HTML block of tags or badges ("node.js ReleaseNote") or a table row is not a line
        if _labels_a_sublist(block, blocks[index + 1] if index + 1 < len(blocks) else None):
            continue  # "• Command-line options" over "◦ --mem-size limits ...": the items say it
        chosen: list[str] = []
        found = block_sentences(block)
        for number, sentence in enumerate(found):
            text = sentence if block.kind == "quote" else clean(sentence)
            if lead_in(text) and number == len(found) - 1 and _listed(blocks[index + 1:]):
                listed = _listed(blocks[index + 1:])
                chosen.append(f"{text}{'' if text.endswith('：') else ' '}{listed}")
                break
            if lead_in(text) and weighted_length(text) >= _SAYS_SOMETHING:  # a sentence that goes on below
                text = text.rstrip(" :：") + "…"
            if not text or lead_in(text) or boilerplate(text) or _key(text) in used or same_text(text, title) \
                    or _ADDRESS.match(text):
                if chosen:
                    break
                continue
            if chosen and weighted_length(join_lines(chosen)) >= SECTION_TEASER_WEIGHT:
                break
            chosen.append(text)
        if chosen:
            return join_lines(chosen)
    return ""


def _labels_a_sublist(block: Block, following: Block | None) -> bool:
    return bool(block.lead and following is not None and following.text.startswith("◦ ")
                and not block.text.startswith("◦ ") and not ends_sentence(block.text)
                and weighted_length(block.text) < _LABEL_WEIGHT)


_LABEL_WEIGHT = 60  # a list item this short, with items under it and no sentence of its own, names them
_SAYS_SOMETHING = 100  # a line ending in ":" this long says something itself ("QUERY is a safe method that…")


def used_key(text: str) -> str:
    return _key(text)
