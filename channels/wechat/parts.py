"""The ledger parts of a WeChat delivery, named and hashed (pure: no HTTP, no database).

  image:<sha256 of the source URL>  a body image → uploadimg URL (remote_url)
  cover | cover:<sha16>             the cover → add_material type=image media_id (remote_id); a
                                    changed cover URL on a re-run gets its own part
  draft                             draft/add → the draft's media_id (remote_id)
  draft-update:<sha16>:<n>          draft/update after the post was edited (same media_id)
  publish                           only when wechat_publish = "publish": freepublish/submit →
                                    publish_id (remote_id), then the article URL (remote_url)
"""
from __future__ import annotations

import hashlib
import json

from channels.base import PartView
from channels.wechat.article import WechatArticle
from publisher.config import Settings


def sha256_of(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def article_sha256(article: WechatArticle) -> str:
    """Identifies the article's content: an edit of the post changes it."""
    from channels.wechat.channel import article_json

    return sha256_of(json.dumps(article_json(article), ensure_ascii=False, sort_keys=True))


def image_part(url: str) -> str:
    return f"image:{sha256_of(url)}"


def planned_parts(article: WechatArticle, settings: Settings) -> list[tuple[str, str]]:
    """The (part, content sha256) pairs planned before anything is sent; revisions (a changed
    cover, a draft update) are added by send() once it has read the ledger."""
    draft_sha = article_sha256(article)
    parts = [(image_part(url), sha256_of(url)) for url in article.images]
    parts.append(("cover", sha256_of(article.thumb or "")))
    parts.append(("draft", draft_sha))
    if settings.wechat_publish == "publish":
        parts.append(("publish", draft_sha))
    return parts


def describe_part(part: str) -> PartView:
    if part.startswith("image:"):
        return PartView("body image upload", counted=False, listed_when_sent=False)
    if part.startswith("cover"):
        return PartView("cover image upload", counted=False, listed_when_sent=False)
    if part.startswith("draft-update"):
        return PartView("draft update", counted=False)
    return {"draft": PartView("the draft in the draft box", id_label="media id"),
            "publish": PartView("the published article", id_label="publish id")}.get(part, PartView(part))
