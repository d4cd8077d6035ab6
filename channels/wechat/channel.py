"""The WeChat channel as the publisher sees it: render, checks, preview. Delivery (send) lives in
deliver.py and is imported only when something is sent."""
from __future__ import annotations

import dataclasses
import json
from typing import Sequence

from markupsafe import Markup

from channels.base import Channel, PartView, PlanSummary, Receipt, SendContext
from channels.wechat.article import WechatArticle, render_article
from channels.wechat.checks import article_problems, visible_text
from channels.wechat.limits import AUTHOR_LIMIT, CONTENT_CHAR_LIMIT
from channels.wechat.parts import describe_part, planned_parts
from publisher.config import Settings
from publisher.post import Post
from publisher.utm import link_tagger
from templates import environment


def missing_wechat_settings(settings: Settings) -> list[str]:
    return [variable for variable, value in (("PUBLISHER_WECHAT_APP_ID", settings.wechat_app_id),
                                             ("PUBLISHER_WECHAT_APP_SECRET", settings.wechat_app_secret)) if not value]


def wechat_configured(settings: Settings) -> bool:
    return not missing_wechat_settings(settings)


def article_json(article: WechatArticle) -> dict:
    return {
        "title": article.title,
        "author": article.author,
        "digest": article.digest,
        "content": article.content,
        "content_source_url": article.content_source_url,
        "thumb": article.thumb,
        "images": list(article.images),
        **({"thumb_card": True} if article.thumb_card else {}),
        **({"shortened": dataclasses.asdict(article.shortened)} if article.shortened else {}),
    }


def article_page(article: WechatArticle) -> str:
    """A browser page showing the article at phone width, as WeChat would."""
    template = environment().get_template("wechat_page.html")
    return template.render(
        title=article.title,
        author=article.author,
        digest=article.digest,
        thumb=article.thumb,
        thumb_card=article.thumb_card,
        content=Markup(article.content),  # already escaped and styled by render_content
        content_source_url=article.content_source_url,
        text_chars=len(visible_text(article.content)),
        text_limit=CONTENT_CHAR_LIMIT,
    )


class WechatChannel(Channel):
    name = "wechat"
    title = "WeChat"
    options = frozenset({"enabled", "title", "author", "digest"})

    def __init__(self, timeouts: tuple[float, float] | None = None):
        # (connect, read) seconds for every HTTP call; None: client.DEFAULT_TIMEOUTS
        self.timeouts = timeouts

    def configured(self, settings: Settings) -> bool:
        return wechat_configured(settings)

    def missing_settings(self, settings: Settings) -> list[str]:
        return missing_wechat_settings(settings)

    def planned_parts(self, payload: WechatArticle, settings: Settings) -> list[tuple[str, str]]:
        return planned_parts(payload, settings)

    def describe_part(self, part: str, total: int) -> PartView:
        return describe_part(part)

    def plan_summary(self, payload: WechatArticle, settings: Settings, recipients: int = 0) -> PlanSummary:
        then = "published" if settings.wechat_publish == "publish" else "left in the draft box to publish by hand"
        return PlanSummary(1, f"one article, {then}")

    def complete_state(self, parts: Sequence[str]) -> str:
        return "sent" if "publish" in parts else "drafted"

    def send(self, payload: WechatArticle, ctx: SendContext) -> Receipt:
        # The delivery side (requests, PIL, the store) is imported only when something is sent.
        from channels.wechat.deliver import DEFAULT_TIMEOUTS, send_article

        return send_article(payload, ctx, timeouts=ctx.settings.timeouts(self.timeouts or DEFAULT_TIMEOUTS))

    def render(self, post: Post, settings: Settings) -> WechatArticle:
        return render_article(post, link_tagger(post, settings, self.name))

    def checks(self, payload: WechatArticle, settings: Settings) -> list[str]:
        return article_problems(payload)

    def notes(self, payload: WechatArticle, settings: Settings) -> list[str]:
        notes = []
        if payload.author_left_out:
            notes.append(f"The author {payload.author_left_out!r} is longer than WeChat's {AUTHOR_LIMIT} characters, so "
                         "the article names none (WeChat shows the account's name); set channels.wechat.author "
                         "to name one.")
        cut = payload.shortened
        if cut is None:
            return notes
        return notes + [f"The post has {cut.full_chars:,} characters of text; a WeChat article takes fewer than "
                f"{CONTENT_CHAR_LIMIT:,}. The article holds the first {cut.kept_blocks} of {cut.full_blocks} "
                f"blocks ({cut.kept_chars:,} characters) and a closing line sending readers to 阅读原文 "
                "(the post on the site) for the rest."]

    def preview_json(self, payload: WechatArticle) -> dict:
        return article_json(payload)

    def preview_files(self, payload: WechatArticle) -> dict[str, str]:
        return {
            "wechat.json": json.dumps(article_json(payload), ensure_ascii=False, indent=2) + "\n",
            "wechat.html": article_page(payload),
        }


CHANNEL = WechatChannel()
