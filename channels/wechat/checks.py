"""Checks: what draft/add would refuse, found before anything is sent.

draft/add: https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html
images: https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from channels.wechat.limits import (
    AUTHOR_LIMIT,
    BODY_IMAGE_CONVERTIBLE_FORMATS,
    BODY_IMAGE_FORMATS,
    CONTENT_BYTE_LIMIT,
    CONTENT_CHAR_LIMIT,
    CONTENT_SOURCE_URL_BYTE_LIMIT,
    COVER_IMAGE_CONVERTIBLE_FORMATS,
    COVER_IMAGE_FORMATS,
    DIGEST_LIMIT,
    IMAGE_FORMAT_QUERY_KEYS,
    KNOWN_IMAGE_EXTENSIONS,
    SVG_IMAGE_HOSTS,
    TITLE_LIMIT,
)
from channels.wechat.tree import _parse_html

if TYPE_CHECKING:  # article.py imports image_format from here
    from channels.wechat.article import WechatArticle

_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


def image_format(url: str) -> str | None:
    """The image format named by a URL (extension, or a CDN's format parameter); None if unknown."""
    parts = urlsplit(url)
    extension = PurePosixPath(unquote(parts.path)).suffix.lower().lstrip(".")
    if extension in KNOWN_IMAGE_EXTENSIONS:
        return "jpg" if extension == "jpeg" else extension
    query = parse_qs(parts.query)
    for key in IMAGE_FORMAT_QUERY_KEYS:
        value = (query.get(key) or [""])[0].lower()
        if value in KNOWN_IMAGE_EXTENSIONS:
            return "jpg" if value == "jpeg" else value
    return "svg" if (parts.hostname or "") in SVG_IMAGE_HOSTS else None


def visible_text(content: str) -> str:
    """The article's text as a reader sees it, the measure of WeChat's 20,000-character limit
    (limits.CONTENT_CHAR_LIMIT says why): text nodes only, character references decoded, each run
    of HTML whitespace one space, <br> a line break."""
    parts: list[str] = []

    def walk(node) -> None:
        if isinstance(node, str):
            parts.append(_HTML_SPACE.sub(" ", node))
        elif node.tag == "br":
            parts.append("\n")
        else:
            for child in node.children:
                walk(child)

    walk(_parse_html(content))
    return "".join(parts).strip()


def article_problems(article: WechatArticle) -> list[str]:
    problems = []
    if len(article.title) > TITLE_LIMIT:
        problems.append(f"The title is {len(article.title)} characters; WeChat allows at most {TITLE_LIMIT} "
                        "(draft/add answers 45003). Shorten it or set channels.wechat.title.")
    if len(article.author) > AUTHOR_LIMIT:
        problems.append(f"The author is {len(article.author)} characters; WeChat allows at most "
                        f"{AUTHOR_LIMIT}. Shorten it or set channels.wechat.author.")
    if len(article.digest) > DIGEST_LIMIT:
        problems.append(f"The digest is {len(article.digest)} characters; WeChat allows at most "
                        f"{DIGEST_LIMIT} (draft/add answers 45004). Shorten channels.wechat.digest.")
    size = len(article.content.encode("utf-8"))
    # the text is never longer than its markup: only a long article is parsed to count it
    chars = len(visible_text(article.content)) if len(article.content) >= CONTENT_CHAR_LIMIT else 0
    if chars >= CONTENT_CHAR_LIMIT:
        problems.append(f"The article text is {chars:,} characters; WeChat takes fewer than "
                        f"{CONTENT_CHAR_LIMIT:,} (draft/add answers 45002). Shorten the post.")
    if size >= CONTENT_BYTE_LIMIT:
        problems.append(f"The article HTML is {size:,} bytes; WeChat takes less than "
                        f"{CONTENT_BYTE_LIMIT:,} (draft/add answers 45002). Shorten the post.")
    if not article.thumb and not article.thumb_card:
        problems.append("There is no cover image and no body image to use as one; WeChat requires a cover "
                        "for a news article (thumb_media_id). Set coverImage in the front matter.")
    elif article.thumb:
        problems.extend(_cover_problems(article.thumb))
    for url in article.images:
        problems.extend(_body_image_problems(url))
    url_size = len(article.content_source_url.encode("utf-8"))
    if url_size > CONTENT_SOURCE_URL_BYTE_LIMIT:
        problems.append(f"The 阅读原文 link (content_source_url) is {url_size:,} bytes; WeChat allows at "
                        f"most {CONTENT_SOURCE_URL_BYTE_LIMIT:,}.")
    return problems


# A URL naming no format (a CDN's /photo/123?w=800) is fine: the sender reads the format from the
# image's bytes and converts it. Only formats it cannot convert are named here.

def _body_image_problems(url: str) -> list[str]:
    if urlsplit(url).scheme not in ("http", "https"):
        return [f"Body image {_short(url)} is not an http(s) URL, so it cannot be fetched and uploaded "
                "to WeChat."]
    fmt = image_format(url)
    if fmt is None or fmt in BODY_IMAGE_FORMATS or fmt in BODY_IMAGE_CONVERTIBLE_FORMATS:
        return []
    return [f"Body image {_short(url)} is {fmt.upper()}; WeChat's uploadimg takes only JPG or PNG under 1 MB "
            "(WebP, GIF, BMP and TIFF are converted). Use a .jpg or .png image."]


def _cover_problems(url: str) -> list[str]:
    fmt = image_format(url)
    if fmt is None or fmt in COVER_IMAGE_FORMATS or fmt in COVER_IMAGE_CONVERTIBLE_FORMATS:
        return []
    return [f"The cover image {_short(url)} is {fmt.upper()}; WeChat covers must be JPG, PNG, GIF or BMP up to "
            "10 MB. Use a .jpg or .png cover."]


def _short(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
