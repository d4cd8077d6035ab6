"""Emphasis as Chinese and Japanese writers type it. CommonMark's flanking rules refuse `**注意：**文字`
and `**“引号”**之后` (a run after punctuation and before a letter cannot close), so the asterisks
reach readers on every channel. Next to a CJK character (ideograph, kana, hangul, CJK or full-width
punctuation) a `*`/`~` run opens unless whitespace follows it and closes unless whitespace precedes
it: the relaxation proposed for CJK text (https://github.com/tats-u/markdown-cjk-friendly). Elsewhere,
and for `_` (which stays within-word strict), CommonMark's rules are unchanged."""
from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_inline.state_inline import Scanned, StateInline

_CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
                  r"\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]")


class _CjkState(StateInline):
    def scanDelims(self, start: int, canSplitWord: bool) -> Scanned:  # noqa: N802 - markdown-it's name
        scanned = super().scanDelims(start, canSplitWord)
        if not canSplitWord:
            return scanned
        end = start + scanned.length
        last = self.src[start - 1] if start > 0 else " "
        nxt = self.src[end] if end < self.posMax else " "
        if not (_CJK.match(last) or _CJK.match(nxt)):
            return scanned
        return Scanned(scanned.can_open or not nxt.isspace(), scanned.can_close or not last.isspace(), scanned.length)


def use_cjk_emphasis(md: MarkdownIt) -> MarkdownIt:
    """Make `md`'s inline parser scan emphasis with the CJK relaxation."""
    inline = md.inline

    def parse(src, md, env, tokens):
        state = _CjkState(src, md, env, tokens)
        inline.tokenize(state)
        for rule in inline.ruler2.getRules(""):
            rule(state)
        return state.tokens

    inline.parse = parse
    return md
