"""Delivery: the send sequence of one article (plan, claim, call, settle, reconcile, receipt).
API references: https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html (drafts),
https://developers.weixin.qq.com/doc/offiaccount/Publish/Publish.html (publishing).

Parts of one delivery, in this order: channels/wechat/parts.py. The claim → call → settle →
reconcile protocol is channels/parts.py; this module says what each part is and how to find it.

Reconciling parts found "uncertain" (timeout / 5xx) or "sending" (a killed worker):
- uploads are simply uploaded again: uploadimg and add_material publish nothing a reader sees,
  an extra copy in the media library is harmless, and the upload cache (store.upload_*, keyed
  by the bytes' sha256) makes every later use of the same image a cache hit.
- draft: draft/batchget; a draft with our title, content_source_url and thumb_media_id that no
  other publication recorded is ours (sent); none → not sent, draft/add again.
- draft-update: done again; updating a draft to the same content twice changes nothing.
- publish: a published draft leaves the draft box, so draft/get; gone → our article is
  looked up in freepublish/batchget. Still in the box, or not found: we cannot tell whether a
  submission is running, so the part stays uncertain for a person to settle: a second submit
  could publish the article twice.
A part another worker is sending right now (its claim younger than the in-flight window) is left
alone: this attempt retries later instead of reconciling a call that has not finished.
A permanent refusal is final for the publication (ledger rule); fix the post and publish again.
"""
from __future__ import annotations

from typing import Callable, Iterator

from sqlalchemy import select

from channels.base import PermanentError, Receipt, SendContext
from channels.parts import PartRun, Sent, in_flight_seconds
from channels.wechat.article import WechatArticle
from channels.wechat.channel import missing_wechat_settings
from channels.wechat.client import DEFAULT_TIMEOUTS, WechatClient, sendable_text
from channels.wechat.errors import _errcode
from channels.wechat.parts import article_sha256, describe_part, image_part, planned_parts, sha256_of
from channels.wechat.steps import _DeliverySteps, draft_article
from publisher.ledger import LedgerEntry
from publisher.store import LedgerRow

# draft/batchget, freepublish/batchget: count 1..20
# (https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Get_draft_list.html)
BATCHGET_PAGE_SIZE = 20
RECONCILE_PAGES = 3  # the newest 60 drafts/articles are searched for an uncertain part


class _Delivery(_DeliverySteps):
    """One send(): the article, the client, the ledger, and the parts used in this run."""

    def __init__(self, article: WechatArticle, ctx: SendContext, client: WechatClient):
        self.article = article
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.client = client
        self.namespace = ctx.settings.wechat_app_id
        self.draft_sha = article_sha256(article)
        self.parts: list[str] = []  # in order, as counted for progress and the receipt
        self.done = 0
        self.protocol = PartRun(ctx, "wechat", in_flight_seconds(ctx.settings, client.timeouts),
                                lambda part: describe_part(part).label)

    # bookkeeping

    def finished(self, part: str) -> None:
        """`part` is settled. Progress counts what people count (the draft, the published article),
        as status and the desk do, not the image uploads on the way."""
        self.done += 1
        counted = [p for p in self.parts if describe_part(p).counted]
        if part in counted:
            self.ctx.progress(counted.index(part) + 1, len(counted))

    def settle(self, part: str, action: Callable[[], tuple[str | None, str | None]]) -> Sent:
        """The part once sent: skipped when sent already, else claimed, sent by `action`, recorded."""
        return self.protocol.send(part, lambda: Sent(*action()))

    # reconciliation of leftovers

    def reconcile(self) -> None:
        for entry in self.ledger.entries():
            if entry.part.startswith(("image:", "cover", "draft-update:")):
                self.protocol.reconcile(entry, lambda e: None)  # repeating these changes nothing readers see
            elif entry.part == "draft":
                self.protocol.reconcile(entry, lambda e: self.find_draft())
            elif entry.part == "publish":
                self.protocol.reconcile(entry, self.find_published)

    def find_draft(self) -> Sent | None:
        """The media_id of a draft in the draft box that is this article and no other
        publication's: same title, 阅读原文 link and cover."""
        known = self.recorded_elsewhere("draft")
        wanted = sendable_text({"title": self.article.title, "content_source_url": self.article.content_source_url})
        thumb = self.cover_media_id()
        for item in self.batchget("/cgi-bin/draft/batchget"):
            news = (item.get("content") or {}).get("news_item") or []
            if item.get("media_id") in known or not news:
                continue
            first = news[0]
            if (first.get("title") == wanted["title"]
                    and first.get("content_source_url") == wanted["content_source_url"]
                    and (thumb is None or first.get("thumb_media_id") in (thumb, None))):
                return Sent(item["media_id"])
        return None

    def find_published(self, entry: LedgerEntry) -> Sent | None:
        draft = self.ledger.entry("draft")
        media_id = draft.remote_id if draft is not None else None
        if media_id:
            answer = self.client.call("/cgi-bin/draft/get", {"media_id": media_id}, accept=frozenset({40007}))
            if _errcode(answer) == 0:
                raise self.person_decides(
                    f"WeChat publish of draft {media_id} is unconfirmed ({entry.last_error or 'a worker stopped'}) "
                    "and the draft is still in the draft box: it may be publishing now or may never have been "
                    "submitted. Check 发表记录 on mp.weixin.qq.com; it is not submitted again on a guess")
        known = self.recorded_elsewhere("publish")
        for item in self.batchget("/cgi-bin/freepublish/batchget"):
            for news in (item.get("content") or {}).get("news_item") or []:
                if (news.get("title") == sendable_text(self.article.title)
                        and news.get("content_source_url") == self.article.content_source_url
                        and news.get("url") not in known and item.get("article_id") not in known):
                    return Sent(item.get("article_id"), news.get("url"))
        raise self.person_decides(f"WeChat publish of draft {media_id} is unconfirmed: the draft left the draft box "
                                  "but no published article matches it; look at mp.weixin.qq.com")

    def shortened_detail(self) -> str:
        return (" (WeChat counted the article's HTML against its 20,000 limit, so it went out cut to fit, "
                "with a line pointing to 阅读原文)") if self.shortened_for_markup else ""

    def person_decides(self, why: str) -> PermanentError:
        return PermanentError(f"{why}, then run `publisher retry POST --channel wechat --resolve sent|resend`")

    def batchget(self, path: str) -> Iterator[dict]:
        for page in range(RECONCILE_PAGES):
            answer = self.client.call(path, {"offset": page * BATCHGET_PAGE_SIZE, "count": BATCHGET_PAGE_SIZE,
                                             "no_content": 1})
            items = answer.get("item") or []
            yield from items
            if len(items) < BATCHGET_PAGE_SIZE:
                return

    def recorded_elsewhere(self, part: str) -> set[str]:
        """Remote ids and URLs other publications recorded for `part`: a draft or an article of an
        earlier generation of the same post looks just like ours."""
        query = select(LedgerRow.remote_id, LedgerRow.remote_url).where(
            LedgerRow.channel == self.ledger.channel, LedgerRow.part == part, LedgerRow.state == "sent",
            LedgerRow.publication_id != self.ledger.publication_id)
        with self.ctx.store.read_session() as session:
            return {value for row in session.execute(query) for value in row if value}

    # revisions

    def cover_part(self) -> str:
        """"cover", or a part of its own when the post's cover URL changed since "cover" was planned."""
        sha = sha256_of(self.article.thumb or "")
        entry = self.ledger.entry("cover")
        if entry is None or entry.content_sha256 == sha:
            return "cover"
        part = f"cover:{sha[:16]}"
        self.ledger.plan([(part, sha)])
        return part

    def cover_media_id(self) -> str | None:
        entry = self.ledger.entry(self.cover_part())
        return entry.remote_id if entry is not None and entry.state == "sent" else None

    def sent_drafts(self) -> list[LedgerEntry]:
        return [e for e in self.ledger.entries()
                if e.state == "sent" and (e.part == "draft" or e.part.startswith("draft-update:"))]

    def draft_is_stale(self) -> bool:
        """True when the draft on the platform holds other content than this article (the post was
        edited since): the last sent draft/add or draft/update tells what it holds."""
        drafts = self.sent_drafts()
        return bool(drafts) and max(drafts, key=lambda e: e.updated_at).content_sha256 != self.draft_sha

    def draft_update_part(self) -> str | None:
        """A draft-update part when the draft is stale, unless the article was published already
        (a published article left the draft box and cannot be edited through draft/update)."""
        if not self.draft_is_stale() or self.published_entry() is not None:
            return None
        for revision in range(1, len(self.sent_drafts()) + 2):
            part = f"draft-update:{self.draft_sha[:16]}:{revision}"
            entry = self.ledger.entry(part)
            if entry is None or entry.state != "sent":
                self.ledger.plan([(part, self.draft_sha)])
                return part
        raise AssertionError("unreachable: one revision number is always free")

    def published_entry(self) -> LedgerEntry | None:
        entry = self.ledger.entry("publish")
        return entry if entry is not None and entry.state == "sent" else None

    # the sequence (the calls themselves are in steps.py)

    def run(self) -> Receipt:
        self.ledger.plan(planned_parts(self.article, self.ctx.settings))
        self.reconcile()
        image_parts = [image_part(url) for url in self.article.images]
        cover = self.cover_part()
        update = self.draft_update_part()
        publishing = self.ctx.settings.wechat_publish == "publish" or self.published_entry() is not None
        self.parts = [*image_parts, cover, "draft", *([update] if update else []),
                      *(["publish"] if publishing else [])]

        uploaded = {}
        for url, part in zip(self.article.images, image_parts):
            entry = self.settle(part, lambda url=url: self.upload_body_image(url))
            uploaded[url] = entry.remote_url
            self.finished(part)
        thumb_media_id = self.settle(cover, self.upload_cover).remote_id
        self.finished(cover)
        body = draft_article(self.article, thumb_media_id, uploaded)
        draft_id = self.settle("draft", lambda: self.add_draft(body)).remote_id
        self.finished("draft")
        if update:
            self.settle(update, lambda: self.update_draft(draft_id, body))
            self.finished(update)
        if not publishing:
            return Receipt("sent", self.done, len(self.parts), detail=f"draft {draft_id} is in the WeChat draft box"
                           + self.shortened_detail(), remote_ids=(draft_id,))
        return self.publish(draft_id)

    def publish(self, draft_id: str) -> Receipt:
        stale = self.draft_is_stale()  # only possible here when published before the edit
        entry = self.settle("publish", lambda: self.submit(draft_id))
        url = entry.remote_url
        if not url:
            url = self.poll_publish(entry.remote_id) or None
            self.ledger.mark_sent("publish", remote_id=entry.remote_id, remote_url=url)  # the URL, once known
        self.finished("publish")
        detail = f"published: {url}" + self.shortened_detail()
        if stale:
            detail += " (published before the post was last edited; publish again to send the edit)"
        return Receipt("sent", self.done, len(self.parts), detail=detail, remote_ids=(draft_id, entry.remote_id),
                       url=url)


def send_article(article: WechatArticle, ctx: SendContext,
                 timeouts: tuple[float, float] = DEFAULT_TIMEOUTS) -> Receipt:
    """Deliver the article as a draft (and publish it when wechat_publish = "publish"), resuming
    from the ledger: finished parts are never repeated, leftovers are reconciled first."""
    missing = missing_wechat_settings(ctx.settings)
    if missing:
        raise PermanentError(f"wechat: not configured: set {' and '.join(missing)}")
    if not article.thumb and not article.thumb_card:
        raise PermanentError("WeChat needs a cover image for a news article (thumb_media_id); set coverImage")
    client = WechatClient(ctx.settings, ctx.store, timeouts)
    try:
        return _Delivery(article, ctx, client).run()
    finally:
        client.close()
