"""The post's language, decided once for every channel (front matter `lang` wins), and the few
words the channels add to a post in that language."""
from __future__ import annotations

import re
from typing import Mapping

# Han, kana, Hangul and CJK punctuation: the scripts that change how text is split and labelled.
CJK_CHARS = ("\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f"
             "\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff"
             "\uff00-\uffef")
CJK = re.compile(f"[{CJK_CHARS}]")
KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff]")
HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
CJK_SHARE = 0.3  # of the letters: from this share on, a text reads as CJK (Chinese posts quote English names)
SAMPLE_CHARS = 20_000
CJK_LANGUAGES = ("zh", "ja", "ko")

WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {"read_more": "Read on the web", "read_full": "Read the full post: ", "image": "Image", "references": "References",
           "summary": "In this issue", "more": "More in the full post",
           "continued": "This issue is longer than a WeChat article may be; the rest is on the site: tap 阅读原文 (Read more) below."},
    "zh": {"read_more": "阅读原文", "read_full": "阅读全文：", "image": "图片", "references": "引用链接",
           "summary": "本期要点", "more": "更多内容见原文",
           "continued": "本期内容超出微信文章的篇幅上限，其余部分请点击文末“阅读原文”查看。"},
    "ja": {"read_more": "ウェブで読む", "read_full": "全文を読む：", "image": "画像", "references": "参考リンク",
           "summary": "今号のポイント", "more": "続きは本文で",
           "continued": "この号は WeChat の記事の長さの上限を超えるため、続きは下の「阅读原文」からお読みください。"},
    "ko": {"read_more": "웹에서 읽기", "read_full": "전문 읽기: ", "image": "이미지", "references": "참고 링크",
           "summary": "이번 호 요약", "more": "전체 글에서 더 보기",
           "continued": "이번 호는 WeChat 글 길이 제한을 넘어, 나머지는 아래 ‘阅读原文’에서 읽을 수 있습니다."},
}


def primary(tag: str) -> str:
    """The primary subtag of a language tag: "zh-Hans-CN" → "zh", "EN_us" → "en"."""
    return re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]


_LINKS = re.compile(r"(?:https?://|www\.)\S+|\]\([^)]*\)")  # URLs are Latin letters in any language


def is_cjk_text(text: str) -> bool:
    sample = _LINKS.sub(" ", text[:SAMPLE_CHARS])
    cjk = len(CJK.findall(sample))
    latin = len(LATIN.findall(sample))
    return cjk > 0 and cjk >= CJK_SHARE * (cjk + latin)


def detect(text: str) -> str:
    """"zh", "ja", "ko" or "en" from the letters of `text` (no front matter said)."""
    sample = _LINKS.sub(" ", text[:SAMPLE_CHARS])
    if not is_cjk_text(sample):
        return "en"
    if KANA.search(sample):
        return "ja"
    if len(HANGUL.findall(sample)) > len(CJK.findall(sample)) / 2:
        return "ko"
    return "zh"


def is_cjk(language: str) -> bool:
    return primary(language) in CJK_LANGUAGES


def words(language: str) -> Mapping[str, str]:
    """The channel words for this language (English for a language we have no words for)."""
    return WORDS.get(primary(language), WORDS["en"])
