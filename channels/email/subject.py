"""Subject, preheader and language of the email, the words of its fixed labels, and the refusal of
text that would collide with the per-recipient placeholders."""
from __future__ import annotations

import re
import unicodedata

from channels.email.headers import HeaderError, unstructured
from channels.email.limits import MAX_LINE_OCTETS, PREHEADER_MAX_CHARS
from channels.email.message import RESERVED
from channels.email.text import _has_cjk
from publisher.config import Settings
from publisher.errors import PostError
from publisher.markdown import inline_text
from publisher.post import Post

# The words of the fixed parts of the email, by language of the post.
LABELS = {
    "en": {
        "in_this_issue": "In this issue", "read_on_web": "Read on the web", "view_in_browser": "View in browser",
        "unsubscribe": "Unsubscribe", "image": "Image", "colon": ": ",
        "footer": "You are receiving this email because you subscribed to {site}.",
        "sent_to": "Sent to", "months": ("January", "February", "March", "April", "May", "June", "July",
                                         "August", "September", "October", "November", "December"),
    },
    "zh": {
        "in_this_issue": "本期要点", "read_on_web": "在网页中阅读", "view_in_browser": "在浏览器中查看",
        "unsubscribe": "退订", "image": "图片", "colon": "：",
        "footer": "你收到这封邮件，是因为订阅了 {site}。", "sent_to": "收件地址", "months": None,
    },
}


# Control characters left once whitespace (tab, CR, LF, U+2028…) is folded into single spaces,
# and lone surrogates (a YAML "\\ud800" escape), which no encoding can carry.
_SUBJECT_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


# --- subject, preheader, language ---------------------------------------------------------------
def _subject(post: Post, options) -> tuple[str, bytes]:
    """The subject text and its encoded `Subject:` field (headers.py), or one PostError line.

    Runs of whitespace, line breaks included, become one space (a title folded over two YAML lines
    is one line of text). Any other control character is refused rather than stripped: in a title
    it is a paste or encoding accident the editor should see, and the same title reaches the other
    channels. The field, unfolded, must fit one 998-octet line (RFC 5322 2.1.1); the raw length is
    checked before any encoding, so a megabyte of title is refused at once."""
    where = "channels.email.subject" if options.get("subject") else "title"
    raw = str(options.get("subject") or post.title)
    subject = " ".join(raw.split())
    bad = _SUBJECT_CONTROL.search(subject)
    if bad:
        kind = "lone surrogate" if unicodedata.category(bad.group()) == "Cs" else "control character"
        raise PostError(post.source, f"the email subject ({where}) contains the {kind} U+{ord(bad.group()):04X} "
                        f"at character {bad.start() + 1}; remove it")
    try:
        return subject, unstructured("Subject", subject)
    except HeaderError as exc:
        raise PostError(post.source, f"the email subject ({where}) is too long for its header: {exc} "
                        f"(RFC 5322 2.1.1: a Subject header holds at most {MAX_LINE_OCTETS} octets); "
                        "shorten it") from None


def _preheader(post: Post, options, lang: str) -> str:
    """The inbox preview line: channels.email.preheader, else the front matter description, else
    the summary points, else the first paragraph."""
    chosen = options.get("preheader")
    if chosen:
        text = str(chosen)
    elif post.description:
        text = post.description
    elif post.summary:
        text = ("；" if lang.startswith("zh") else "; ").join(post.summary)
    else:
        first = next((b for b in post.tree.children if b.type == "paragraph"), None)
        text = inline_text(first.children[0]) if first else ""
    return _shorten(" ".join(text.split()), PREHEADER_MAX_CHARS)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:] and not _has_cjk(cut[-10:]):
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;，；、") + "…"


def _refuse_reserved(post: Post, settings: Settings, *texts: str) -> None:
    fields = [post.body, post.title, post.url, post.category or "", post.author or "", post.cover_image or "",
              *post.summary, *texts, settings.email_from, settings.email_reply_to, settings.email_list_id,
              settings.email_unsubscribe_mailto, settings.site_url]
    if any(RESERVED in f for f in fields):
        raise PostError(post.source, f"the text {RESERVED!r} is reserved for the email's per-recipient "
                        "placeholders; write it another way")
