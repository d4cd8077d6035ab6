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
# A digest we make ourselves stays within the 120 字 older versions of the doc gave: a margin, and
# about what the feed card shows.
DIGEST_TARGET = 120
# content, https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html: "必须少于2万字符,
# 小于1M". The doc does not say what is counted. We read the 20,000 as the article's visible text
# (what a reader sees: tags and attributes left out, character references decoded, whitespace runs
# as one; checks.visible_text) and the 1 MB as the size of the HTML string. Why not 20,000
# characters of HTML: those are at most 80 KB of UTF-8, so "<1 MB" would never matter under that
# reading; the two limits only mean something together if they measure different things. And
# inline-styled HTML, the only kind WeChat keeps, is commonly several times its text: drafts whose
# HTML runs far past 20,000 characters are reported accepted. Should draft/add still answer 45002
# for an article this check passed, the send stops there with WeChat's own error.
CONTENT_CHAR_LIMIT = 20_000  # visible text: fewer than 20,000 characters, else 45002
CONTENT_BYTE_LIMIT = 1_000_000  # content "<1 MB" (UTF-8 HTML); read conservatively as 10^6 bytes; else 45002
CONTENT_SOURCE_URL_BYTE_LIMIT = 1024  # content_source_url (阅读原文) ≤1 KB

# --- Images: uploadimg (body images) and add_material (the cover). ---
# The sender reads an image's format from its bytes and converts what WeChat does not take (Pillow
# reads all of the convertible formats below), so a URL without an extension is no problem here.
BODY_IMAGE_FORMATS = frozenset({"jpg", "jpeg", "png"})  # uploadimg takes jpg/png only, <1 MB
BODY_IMAGE_BYTE_LIMIT = 1_000_000  # uploadimg: <1 MB (checked at send time, from the bytes)
BODY_IMAGE_CONVERTIBLE_FORMATS = frozenset({"webp", "gif", "bmp", "tif", "tiff", "ico"})  # → png/jpg at send time
COVER_IMAGE_FORMATS = frozenset({"bmp", "png", "jpeg", "jpg", "gif"})  # add_material type=image
COVER_IMAGE_BYTE_LIMIT = 10_000_000  # add_material type=image ≤10 MB (older docs: 2 MB)
COVER_IMAGE_CONVERTIBLE_FORMATS = frozenset({"webp", "tif", "tiff", "ico"})
KNOWN_IMAGE_EXTENSIONS = frozenset({
    "jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "avif", "heic", "heif", "tif", "tiff", "ico",
})
IMAGE_FORMAT_QUERY_KEYS = ("wx_fmt", "format", "fm")  # WeChat's own CDN, common image CDNs
# Badge services answer SVG under URLs without an extension; the sender cannot convert SVG.
SVG_IMAGE_HOSTS = frozenset({"img.shields.io", "badgen.net", "badge.fury.io"})

# Links here stay clickable inside WeChat; links to any other site are not.
WECHAT_ARTICLE_HOST = "mp.weixin.qq.com"
