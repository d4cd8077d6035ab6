"""The platform calls of one delivery: the article as draft/add takes it, and each step (upload,
draft, publish) returning what the ledger records for its part.

uploadimg, add_material: https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html
draft/add, draft/update: https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html
freepublish/submit: https://developers.weixin.qq.com/doc/offiaccount/Publish/Publish.html
freepublish/get: https://developers.weixin.qq.com/doc/offiaccount/Publish/Get_status.html
"""
from __future__ import annotations

import html
import re

from channels.base import PermanentError, SendContext, TransientError, UncertainError
from channels.wechat.article import WechatArticle
from channels.wechat.checks import _short
from channels.wechat.client import WechatClient, _sha256, sendable_text
from channels.wechat.cover_card import cover_card_png
from channels.wechat.images import _multipart, upload_ready_image
from channels.wechat.errors import _errcode
from channels.wechat.limits import BODY_IMAGE_BYTE_LIMIT, CONTENT_CHAR_LIMIT, COVER_IMAGE_BYTE_LIMIT
from channels.wechat.parts import article_sha256  # noqa: F401 (re-exported)
from channels.wechat.shorten import within_markup
from publisher.image_fetch import fetch_image

PUBLISH_POLL_SECONDS = 5.0  # freepublish/get is polled; the job usually ends in seconds
PUBLISH_MAX_POLLS = 12  # then TransientError: the next send() resumes polling, never resubmits
PUBLISH_FAILURES = {  # freepublish/get publish_status
    2: "the original-content claim failed (publish_status 2)",
    3: "publishing failed; WeChat gives no reason (publish_status 3)",
    4: "rejected by WeChat's review (publish_status 4)",
    5: "published, then deleted by the account (publish_status 5)",
    6: "published, then blocked by WeChat (publish_status 6)",
}
CONTENT_SIZE_ERRCODES = frozenset({45002})  # content size out of limit
_IMG_SRC = re.compile(r'(<img\b[^>]*?\ssrc=")([^"]*)(")', re.IGNORECASE)

# --- the article as draft/add takes it ----------------------------------------------------------


def rewrite_image_sources(content: str, uploaded: dict[str, str]) -> str:
    """Every <img src> replaced by its uploadimg URL (WeChat filters any other source)."""
    def swap(match: re.Match[str]) -> str:
        original = html.unescape(match.group(2))
        if original not in uploaded:
            raise PermanentError(f"body image {_short(original)} has no uploaded copy")
        return match.group(1) + html.escape(uploaded[original]) + match.group(3)

    return _IMG_SRC.sub(swap, content)


def draft_article(article: WechatArticle, thumb_media_id: str, uploaded: dict[str, str]) -> dict:
    """One entry of draft/add's `articles` (and draft/update's `articles`)."""
    return sendable_text({
        "title": article.title,
        "author": article.author,
        "digest": article.digest,
        "content": rewrite_image_sources(article.content, uploaded),
        "content_source_url": article.content_source_url,
        "thumb_media_id": thumb_media_id,
        "need_open_comment": 0,
        "only_fans_can_comment": 0,
    })


class _DeliverySteps:
    """The calls, each answering (remote_id, remote_url) or raising the outcome. Mixed into
    deliver._Delivery, which provides these attributes."""

    article: WechatArticle
    ctx: SendContext
    client: WechatClient
    namespace: str  # the upload cache's namespace: the app id
    shortened_for_markup: bool = False  # draft/add counted the markup: the article went out cut to fit

    def upload_body_image(self, url: str) -> tuple[str, str]:
        data, image_format = upload_ready_image(fetch_image(url, self.client.settings).data, BODY_IMAGE_BYTE_LIMIT,
                                                f"body image {_short(url)}")
        sha = _sha256(data)
        cached = self.ctx.store.upload_get(self.namespace, sha, "uploadimg")
        if cached is not None and cached.url:
            return sha, cached.url
        answer = self.client.call("/cgi-bin/media/uploadimg", files=_multipart(data, image_format))
        uploaded = answer.get("url")
        if not isinstance(uploaded, str) or not uploaded:
            raise PermanentError(f"WeChat uploadimg answered without a url: {str(answer)[:200]}")
        self.ctx.store.upload_put(self.namespace, sha, "uploadimg", media_id=uploaded, url=uploaded)
        return sha, uploaded

    def upload_cover(self) -> tuple[str, str | None]:
        url = self.article.thumb or ""
        if url:
            data, image_format = upload_ready_image(fetch_image(url, self.client.settings).data,
                                                    COVER_IMAGE_BYTE_LIMIT, f"cover image {_short(url)}")
        else:  # no image in the post: the theme's plain card
            data, image_format = cover_card_png(), "PNG"
        sha = _sha256(data)
        cached = self.ctx.store.upload_get(self.namespace, sha, "cover")
        if cached is not None:
            return cached.media_id, cached.url
        answer = self.client.call("/cgi-bin/material/add_material", params={"type": "image"},
                                  files=_multipart(data, image_format))
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise PermanentError(f"WeChat add_material answered without a media_id: {str(answer)[:200]}")
        self.ctx.store.upload_put(self.namespace, sha, "cover", media_id=media_id, url=answer.get("url"))
        return media_id, answer.get("url")

    def add_draft(self, body: dict) -> tuple[str, None]:
        answer = self.within_limit("/cgi-bin/draft/add", body, lambda article: {"articles": [article]})
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise PermanentError(f"WeChat draft/add answered without a media_id: {str(answer)[:200]}")
        return media_id, None

    def update_draft(self, media_id: str, body: dict) -> tuple[str, None]:
        self.within_limit("/cgi-bin/draft/update", body,
                          lambda article: {"media_id": media_id, "index": 0, "articles": article})
        return media_id, None

    def within_limit(self, path: str, article: dict, request) -> dict:
        """The call; if WeChat answers 45002 (content size) for an article our checks passed, which
        happens when it counts the 20,000 on the HTML rather than the text, once more with the
        article cut to fit that count (shorten.within_markup). No draft exists after a 45002, so
        the second call cannot make two."""
        answer = self.client.call(path, request(article), accept=CONTENT_SIZE_ERRCODES)
        if not _errcode(answer):
            return answer
        shorter = within_markup(article["content"], CONTENT_CHAR_LIMIT, self.article.continued)
        if shorter is None:
            raise self.client.refusal_error(path, answer)  # not even the first block fits: WeChat's own error
        self.shortened_for_markup = True
        return self.client.call(path, request({**article, "content": sendable_text(shorter)}))

    def submit(self, media_id: str) -> tuple[str, None]:
        answer = self.client.call("/cgi-bin/freepublish/submit", {"media_id": media_id})
        publish_id = answer.get("publish_id")
        if publish_id in (None, ""):
            raise PermanentError(f"WeChat freepublish/submit answered without a publish_id: {str(answer)[:200]}")
        return str(publish_id), None

    def poll_publish(self, publish_id: str) -> str:
        """The article URL once the publish job succeeded; failures are permanent with the reason."""
        for poll in range(PUBLISH_MAX_POLLS):
            if poll:
                self.ctx.sleep(PUBLISH_POLL_SECONDS)
            try:
                answer = self.client.call("/cgi-bin/freepublish/get", {"publish_id": publish_id})
            except UncertainError as exc:  # a status query changes nothing: retry it later
                raise TransientError(str(exc)) from None
            status = answer.get("publish_status")
            if status == 0:
                items = (answer.get("article_detail") or {}).get("item") or []
                return str(items[0].get("article_url") or "") if items else ""
            if status in PUBLISH_FAILURES:
                failed = answer.get("fail_idx") or []
                raise PermanentError(f"WeChat publish job {publish_id}: {PUBLISH_FAILURES[status]}"
                                     + (f"; failed articles {failed}" if failed else ""))
            if status != 1:
                raise PermanentError(f"WeChat publish job {publish_id}: unknown publish_status {status!r}")
        raise TransientError(f"WeChat publish job {publish_id} is still publishing after {PUBLISH_MAX_POLLS} "
                             "polls; polling resumes on the next attempt",
                             retry_after=PUBLISH_POLL_SECONDS * PUBLISH_MAX_POLLS)
