"""What WeChat accepts in a draft/add article and its images: the numbers the checks and the sender
share. WeChat counts 字; we count Unicode code points.

draft/add: https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html
uploadimg, add_material: https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html
"""
from __future__ import annotations

# --- Limits: draft/add. ---
TITLE_LIMIT = 32  # title ≤32 字, else 45003
AUTHOR_LIMIT = 16  # author ≤16 字
DIGEST_LIMIT = 128  # digest ≤128 字 (not 120), else 45004
CONTENT_CHAR_LIMIT = 20_000  # content "<20,000 chars", counted over the whole HTML string; else 45002
CONTENT_BYTE_LIMIT = 1_000_000  # content "<1 MB" (UTF-8); read conservatively as 10^6 bytes; else 45002
CONTENT_SOURCE_URL_BYTE_LIMIT = 1024  # content_source_url (阅读原文) ≤1 KB

# --- Images: uploadimg (body images) and add_material (the cover). ---
BODY_IMAGE_FORMATS = frozenset({"jpg", "jpeg", "png"})  # uploadimg takes jpg/png only, <1 MB
BODY_IMAGE_BYTE_LIMIT = 1_000_000  # uploadimg: <1 MB (checked at send time, from the bytes)
BODY_IMAGE_CONVERTIBLE_FORMATS = frozenset({"webp", "gif"})  # converted to png/jpg at send time
COVER_IMAGE_FORMATS = frozenset({"bmp", "png", "jpeg", "jpg", "gif"})  # add_material type=image
COVER_IMAGE_BYTE_LIMIT = 10_000_000  # add_material type=image ≤10 MB (older docs: 2 MB)
COVER_IMAGE_CONVERTIBLE_FORMATS = frozenset({"webp"})
KNOWN_IMAGE_EXTENSIONS = frozenset({
    "jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "avif", "heic", "heif", "tif", "tiff", "ico",
})
IMAGE_FORMAT_QUERY_KEYS = ("wx_fmt", "format", "fm")  # WeChat's own CDN, common image CDNs

# Links here stay clickable inside WeChat; links to any other site are not.
WECHAT_ARTICLE_HOST = "mp.weixin.qq.com"
