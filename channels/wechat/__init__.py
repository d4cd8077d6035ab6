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

Importing this package loads the render side only; import submodules by their names.
"""
from __future__ import annotations

from channels.wechat.channel import CHANNEL, WechatChannel

__all__ = ["CHANNEL", "WechatChannel"]
