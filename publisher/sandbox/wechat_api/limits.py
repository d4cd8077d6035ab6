"""The platform's numbers the stand-in enforces: defaults, token timings, image and article
limits, and the errmsg of each errcode. The comments name the page each number comes from, under
https://developers.weixin.qq.com/doc/offiaccount/:
  tokens      Basic_Information/Get_access_token.html, Basic_Information/getStableAccessToken.html
  images      Asset_Management/Adding_Permanent_Assets.html (uploadimg and add_material)
  drafts      Draft_Box/Add_draft.html (limits of an article; scripts removed, outside images filtered)
  publishing  Publish/Publish.html, Publish/Get_status.html, Publish/Callback_on_finish.html
  errcodes    Getting_Started/Global_Return_Code.html
"""
from __future__ import annotations

DEFAULT_APP_ID = "wx-sandbox-appid"
DEFAULT_APP_SECRET = "wx-sandbox-secret"
DEFAULT_TOKEN_TTL = 7200  # seconds; tokens: "expires_in":7200
DEFAULT_PUBLISH_POLLS = 1  # freepublish/get answers "publishing" (1) this many times first
DEFAULT_PUBLISH_STATUS = 0  # final publish_status: 0 success; 2/3/4 failures; 5/6 (publishing)
FOREIGN_IMAGE_MODES = ("reject", "strip")  # drafts: WeChat filters external <img src>; "reject" is stricter

TOKEN_OVERLAP_SECONDS = 300  # tokens: an old token stays valid 5 min after a new one is issued
STABLE_TOKEN_ROTATE_EARLY = 300  # tokens: stable_token rotates 5 min before expiry
FORCE_REFRESH_MIN_GAP = 30  # tokens: force_refresh at least 30 s apart...
FORCE_REFRESH_PER_DAY = 20  # ...and at most 20 a day
BEIJING_OFFSET = 8 * 3600  # daily quotas reset at midnight Beijing time

BODY_IMAGE_FORMATS = frozenset({"JPEG", "PNG"})  # images, uploadimg: jpg/png only
BODY_IMAGE_MAX_BYTES = 1024 * 1024  # images, uploadimg: "<1 MB"
MATERIAL_IMAGE_FORMATS = frozenset({"BMP", "PNG", "JPEG", "GIF"})  # images, add_material type=image
MATERIAL_IMAGE_MAX_BYTES = 10 * 1024 * 1024  # images: ≤10 MB (older docs: 2 MB)
THUMB_FORMATS = frozenset({"JPEG"})  # images, type=thumb: JPG
THUMB_MAX_BYTES = 64 * 1024  # images, type=thumb: ≤64 KB

TITLE_MAX_CHARS = 32  # drafts: title ≤32 字
AUTHOR_MAX_CHARS = 16  # drafts: author ≤16 字
DIGEST_MAX_CHARS = 128  # drafts: digest ≤128 (not 120)
DIGEST_DEFAULT_CHARS = 54  # drafts: default digest = first 54 chars of the content
CONTENT_MAX_CHARS = 20_000  # drafts: "<20,000 chars" of text (the editor counts 正文字数, not markup)
CONTENT_MAX_BYTES = 1024 * 1024  # drafts: "<1 MB"
SOURCE_URL_MAX_BYTES = 1024  # drafts: content_source_url ≤1 KB
ARTICLES_MAX = 8  # a news message holds at most 8 articles (45008); UNVERIFIED for draft/add
BATCHGET_MAX_COUNT = 20  # draft/batchget and freepublish/batchget: count 1..20

ERRMSG = {  # tokens and errcodes
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40004: "invalid media type",
    40005: "invalid file type",
    40007: "invalid media_id",
    40009: "invalid image size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    41005: "media data missing",
    42001: "access_token expired",
    44002: "empty post data",
    44004: "empty content",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45005: "link size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    45110: "author size out of limit",
    45166: "invalid content",
    47001: "data format error",
    48001: "api unauthorized",
}
