"""WeChat Official Account (公众号) article: one Markdown post → one draft/add article, optionally
published (https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html).

Render side (pure; imports no HTTP, imaging or database library):
  limits.py   what draft/add, uploadimg and add_material accept
  theme.py    inline styles and the source-tag → WeChat-tag maps
  tree.py     the forgiving HTML tree the rendered post is re-parsed into
  writer.py   _ArticleWriter: WeChat HTML, links as numbered references, flattened lists
  article.py  WechatArticle, render_article, the digest and its truncation, the language test
  checks.py   what draft/add would refuse (article_problems, image_format)
  channel.py  WechatChannel (CHANNEL), article_json / article_page previews
Delivery side (imported only by WechatChannel.send):
  errors.py   transport / HTTP status / errcode → Transient / Permanent / Uncertain
  client.py   WechatClient: access-token cache, raw UTF-8 JSON calls
  images.py   images made acceptable to uploadimg / add_material
  steps.py    the draft/add body and the platform calls (upload, draft, publish, poll)
  deliver.py  the part sequence: plan, claim, call, settle, reconcile, receipt (send_article)

Names the single module `channels/wechat.py` used to hold stay importable from `channels.wechat`,
loaded on first use (PEP 562), so importing this package never pulls in the delivery side.
"""
from __future__ import annotations

import importlib
from typing import Any

from channels.wechat.channel import CHANNEL, WechatChannel

__all__ = ["CHANNEL", "WechatChannel"]

_HOMES = {
    "limits": ("AUTHOR_LIMIT", "BODY_IMAGE_BYTE_LIMIT", "BODY_IMAGE_CONVERTIBLE_FORMATS", "BODY_IMAGE_FORMATS",
               "CONTENT_BYTE_LIMIT", "CONTENT_CHAR_LIMIT", "CONTENT_SOURCE_URL_BYTE_LIMIT", "COVER_IMAGE_BYTE_LIMIT",
               "COVER_IMAGE_CONVERTIBLE_FORMATS", "COVER_IMAGE_FORMATS", "DIGEST_LIMIT", "IMAGE_FORMAT_QUERY_KEYS",
               "KNOWN_IMAGE_EXTENSIONS", "TITLE_LIMIT", "WECHAT_ARTICLE_HOST"),
    "theme": ("ACCENT_COLOR", "BLOCK_CONTAINERS", "BLOCK_SOURCE_TAGS", "BULLETS", "DROPPED_WITH_CONTENT",
              "FONT_STACK", "HEADINGS", "INLINE_TAGS", "LINK_COLOR", "MONO_STACK", "PARAGRAPH_LIKE",
              "REFERENCES_TITLE", "STYLES", "TABLE_PARTS", "TEXT_COLOR", "VOID_TAGS"),
    "article": ("WechatArticle", "article_digest", "is_mostly_cjk", "render_article", "render_content",
                "truncate_at_boundary"),
    "checks": ("article_problems", "image_format"),
    "channel": ("article_json", "article_page", "wechat_configured"),
    "errors": ("BEIJING", "ERRCODE_OUTCOMES", "MAX_CAUSE_DEPTH", "MINUTE_QUOTA_RETRY_SECONDS",
               "MIN_DAILY_QUOTA_RETRY_SECONDS", "TOKEN_ERRCODES"),
    "client": ("CONNECT_TIMEOUT_SECONDS", "DEFAULT_TIMEOUTS", "READ_TIMEOUT_SECONDS", "TOKEN_EXPIRY_MARGIN_SECONDS",
               "WechatClient", "json_body_bytes", "sendable_text"),
    "images": ("JPEG_QUALITIES", "MAX_SHRINK_STEPS", "SHRINK_FACTOR", "UPLOAD_FORMATS", "upload_ready_image"),
    "steps": ("PUBLISH_FAILURES", "PUBLISH_MAX_POLLS", "PUBLISH_POLL_SECONDS", "article_sha256", "draft_article",
              "rewrite_image_sources"),
    "deliver": ("BATCHGET_PAGE_SIZE", "RECONCILE_PAGES", "image_part", "planned_parts", "send_article"),
}
_MOVED = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MOVED})
