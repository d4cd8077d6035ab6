"""One article of draft/add or draft/update, checked as the platform does: the limits, the cover,
scripts removed and images this account did not upload refused or stripped,
https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html"""
from __future__ import annotations

import html
import re
from typing import Any

from publisher.sandbox.wechat_api.limits import (
    AUTHOR_MAX_CHARS,
    CONTENT_MAX_BYTES,
    CONTENT_MAX_CHARS,
    DIGEST_DEFAULT_CHARS,
    DIGEST_MAX_CHARS,
    SOURCE_URL_MAX_BYTES,
    TITLE_MAX_CHARS,
)
from publisher.sandbox.wechat_api.state import WeChatError, WeChatState

SCRIPT_ELEMENT = re.compile(r"<script\b[^>]*>.*?(?:</script\s*>|$)", re.IGNORECASE | re.DOTALL)
START_TAG = re.compile(r"<[a-zA-Z][^>]*>")
EVENT_ATTRIBUTE = re.compile(r"""\s+on[a-zA-Z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""")
JAVASCRIPT_HREF = re.compile(r"""\s+href\s*=\s*(["']?)\s*javascript:[^"'>]*\1""", re.IGNORECASE)
IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
IMG_SOURCE = re.compile(r"""\b(?:data-)?src\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
ANY_TAG = re.compile(r"<[^>]+>")
WHITESPACE = re.compile(r"\s+")


def _accept_article(state: WeChatState, article: Any, index: int) -> dict[str, Any]:
    """Validate one article like draft/add does and return what the draft box keeps."""
    if not isinstance(article, dict):
        raise WeChatError(47001, f"article {index} is not an object")
    article_type = article.get("article_type", "news")
    title, content = article.get("title"), article.get("content")
    if article_type not in ("news", "newspic") or not isinstance(title, str) or not title:
        raise WeChatError(47001, f"article {index}: title and article_type news|newspic required")
    if not isinstance(content, str) or not content.strip():
        raise WeChatError(44004, f"article {index}")
    author, digest = article.get("author", "") or "", article.get("digest", "") or ""
    source_url = article.get("content_source_url", "") or ""
    _check_limits(index, title, author, digest, content, source_url, state.options.content_count)
    thumb_url = _check_cover(state, article, article_type, index)
    cleaned = _clean_content(state, content, index)
    return {
        "article_type": article_type,
        "title": title,
        "author": author,
        "digest": digest or _plain_text(cleaned)[:DIGEST_DEFAULT_CHARS],
        "content": cleaned,
        "content_source_url": source_url,
        "thumb_media_id": article.get("thumb_media_id", ""),
        "thumb_url": thumb_url,
        "need_open_comment": _flag(article, "need_open_comment", index),
        "only_fans_can_comment": _flag(article, "only_fans_can_comment", index),
        **{k: article[k] for k in ("pic_crop_235_1", "pic_crop_1_1", "image_info") if k in article},
    }


def _flag(article: dict[str, Any], name: str, index: int) -> int:
    value = article.get(name, 0)
    if value not in (0, 1):
        raise WeChatError(47001, f"article {index}: {name} must be 0 or 1")
    return int(value)


def content_chars(content: str) -> int:
    """The article's characters as the editor counts them (正文字数): the text, not the markup; the
    megabyte is what bounds the HTML."""
    return len(WHITESPACE.sub(" ", html.unescape(ANY_TAG.sub("", content))).strip())


def _check_limits(index: int, title: str, author: Any, digest: Any, content: str, source_url: Any,
                  content_count: str = "text") -> None:
    if len(title) > TITLE_MAX_CHARS:
        raise WeChatError(45003, f"article {index}: title has {len(title)} chars, limit {TITLE_MAX_CHARS}")
    if not isinstance(author, str) or len(author) > AUTHOR_MAX_CHARS:
        raise WeChatError(45110, f"article {index}: author limit {AUTHOR_MAX_CHARS} chars")
    if not isinstance(digest, str) or len(digest) > DIGEST_MAX_CHARS:
        raise WeChatError(45004, f"article {index}: digest limit {DIGEST_MAX_CHARS} chars")
    chars = len(content) if content_count == "markup" else content_chars(content)
    if chars >= CONTENT_MAX_CHARS or len(content.encode("utf-8")) >= CONTENT_MAX_BYTES:
        raise WeChatError(45002, f"article {index}: content has {chars} chars, must be < {CONTENT_MAX_CHARS}")
    if not isinstance(source_url, str) or len(source_url.encode("utf-8")) > SOURCE_URL_MAX_BYTES:
        raise WeChatError(45005, f"article {index}: content_source_url limit {SOURCE_URL_MAX_BYTES} bytes")


def _check_cover(state: WeChatState, article: dict[str, Any], article_type: str, index: int) -> str:
    """News needs a permanent thumb_media_id; newspic needs permanent image_media_ids (40007)."""
    with state.lock:
        if article_type == "newspic":
            images = (article.get("image_info") or {}).get("image_list") or []
            wanted = [item.get("image_media_id") for item in images if isinstance(item, dict)]
            if not wanted or any(media_id not in state.materials for media_id in wanted):
                raise WeChatError(40007, f"article {index}: image_info needs permanent image media ids")
            return state.materials[wanted[0]]["url"]
        material = state.materials.get(article.get("thumb_media_id") or "")
        if material is None:
            raise WeChatError(40007, f"article {index}: thumb_media_id {article.get('thumb_media_id')!r}")
        return material["url"]


def _clean_content(state: WeChatState, content: str, index: int) -> str:
    """Remove JS (the platform does) and handle <img> whose source this stand-in's uploadimg did not issue."""
    content = SCRIPT_ELEMENT.sub("", content)
    content = START_TAG.sub(lambda tag: JAVASCRIPT_HREF.sub("", EVENT_ATTRIBUTE.sub("", tag.group(0))), content)
    with state.lock:
        issued = {_without_scheme(url) for url in state.uploads}
        mode = state.options.foreign_images

    def check_image(tag: re.Match[str]) -> str:
        sources = [html.unescape(next(v for v in found.groups() if v is not None))
                   for found in IMG_SOURCE.finditer(tag.group(0))]
        foreign = [src for src in sources if _without_scheme(src) not in issued]
        if not foreign and sources:
            return tag.group(0)
        if mode == "strip":
            return ""
        first = (foreign or ["(no src)"])[0]
        raise WeChatError(45166, f"article {index}: image {first!r} was not uploaded with uploadimg")

    return IMG_TAG.sub(check_image, content)


def _without_scheme(url: str) -> str:
    return re.sub(r"^(?:https?:)?//", "", url.strip())


def _plain_text(fragment: str) -> str:
    return " ".join(html.unescape(ANY_TAG.sub(" ", fragment)).split())
