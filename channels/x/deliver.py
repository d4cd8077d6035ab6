"""Delivery: the send sequence of one thread (plan, claim, post, settle, reconcile, receipt).

The thread is posted in order as one reply chain
(https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets): tweet k
replies to tweet k-1. Ledger parts, in sending order (parts.py): "media-<k>-<n>" (image n of
tweet k, uploaded just before tweet k) and "tweet-<k>". A tweet left "sending" by a killed worker,
or "uncertain" after a timeout or 5xx, is looked up on the account's timeline (GET /2/users/me,
then GET /2/users/:id/tweets, matched by text and parent) before anything else happens to it; it
is posted again only when it is not there; a read that fails is retried, never taken as "not
there". The claim → call → settle → reconcile protocol itself is channels/parts.py.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from channels.base import PermanentError, Receipt, SendContext, TransientError, UncertainError
from channels.parts import PartRun, Sent, in_flight_seconds
from channels.x.channel import describe_part, missing_x_settings
from channels.x.client import XAccount, XApi, comparable_text, replied_to
from channels.x.errors import (CREDENTIALS, DUPLICATE, PERMANENT, TRANSIENT, UNCERTAIN, XFailure, classify_failure,
                               failure_of, failure_text, retry_after_of, scrub)
from channels.x.limits import CONNECT_TIMEOUT, CREDENTIAL_VARIABLES, MEDIA_UPLOAD_API, READ_TIMEOUT
from channels.x.parts import MediaStep, TweetStep, ledger_parts, thread_steps
from channels.x.payload import Tweet, XThread
from publisher.image_fetch import fetch_image

if TYPE_CHECKING:
    from publisher.ledger import Ledger, LedgerEntry

# Media ids expire after expires_after_secs = 86400
# (https://docs.x.com/x-api/media/quickstart/media-upload-chunked); an older stored id is uploaded
# again rather than risking "Your media IDs are invalid" on a thread resumed the next day.
MEDIA_REUSE_MAX_AGE = timedelta(hours=20)
# Posts older than the publication (less this allowance for clock differences) cannot be ours.
CLOCK_SKEW = timedelta(minutes=10)
TWEET_URL = "https://x.com/{username}/status/{tweet_id}"


@dataclass
class ThreadRun:
    """One send(): the context, the client, the part protocol and what this run learned."""

    ctx: SendContext
    api: XApi
    protocol: PartRun
    since: datetime | None  # posts older than this are not ours
    posted: bool = False
    account: XAccount | None = None

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    def scrub(self, text: str) -> str:
        return scrub(text, self.api.secrets)

    def me(self) -> XAccount:
        if self.account is None:
            self.account = self.read("GET /2/users/me", self.api.me)
        return self.account

    def tweet_url(self, tweet_id: str) -> str:
        return TWEET_URL.format(username=self.me().username, tweet_id=tweet_id)

    def pace(self) -> None:
        """X's pause between two posts of one thread (settings.x_pause_seconds)."""
        pause = self.ctx.settings.x_pause_seconds
        if self.ctx.pace is not None:  # one post per pause per account, across all workers
            self.ctx.pace(f"x:{self.ctx.settings.x_access_token.split('-', 1)[0]}", pause)
        elif self.posted and pause > 0:
            self.ctx.sleep(pause)
        self.posted = True

    def read(self, what: str, call: Callable[[], Any]) -> Any:
        """A read changes nothing on X, so any failure but a refusal is simply transient."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified by the error table; anything else re-raised
            failure = failure_of(exc)
            if failure is None:
                raise
            outcome, text = classify_failure(failure), self.scrub(failure_text(failure))
        if outcome == CREDENTIALS:
            raise PermanentError(credentials_refused(text))
        if outcome in (PERMANENT, DUPLICATE):
            raise PermanentError(f"x: {what} refused by X: {text}")
        retry_after = retry_after_of(failure, time.time()) if outcome == TRANSIENT else None
        raise TransientError(f"x: {what} failed, try again later: {text}", retry_after=retry_after)

    def write_error(self, what: str, exc: BaseException) -> Exception:
        """The delivery error of a failed write (the protocol records it); a bug is re-raised."""
        failure = failure_of(exc)
        if failure is None:
            raise exc  # not about the request; the part stays "sending" and is reconciled next time
        outcome, text = classify_failure(failure), self.scrub(failure_text(failure))
        if outcome == TRANSIENT:
            return TransientError(f"{what} not sent, try again later: {text}",
                                  retry_after=retry_after_of(failure, time.time()))
        if outcome == UNCERTAIN:
            return UncertainError(f"{what} may or may not have been accepted: {text}")
        if outcome == CREDENTIALS:
            return PermanentError(credentials_refused(text))
        return PermanentError(f"{what} refused by X: {text}")


def credentials_refused(text: str) -> str:
    return f"x: X refused the credentials: {text}; check {CREDENTIAL_VARIABLES}"


def send_thread(payload: XThread, ctx: SendContext, timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
                media_api: str = MEDIA_UPLOAD_API) -> Receipt:
    missing = missing_x_settings(ctx.settings)
    if missing:
        raise PermanentError(f"x: not configured: set {', '.join(missing)}")
    steps = thread_steps(payload)
    if not steps:
        raise PermanentError("x: the thread has no tweets")
    ctx.ledger.plan(ledger_parts(steps))
    protocol = PartRun(ctx, "x", in_flight_seconds(ctx.settings, timeout),
                       lambda part: describe_part(part, len(steps)).label)
    protocol.refuse_changed([(step.part, step.sha) for step in steps])  # a changed image URL is uploaded anew
    run = ThreadRun(ctx, XApi(ctx.settings, timeout, media_api), protocol, earliest_own_post(ctx))
    try:
        parent_id: str | None = None
        for step in steps:
            parent_id = finish_tweet(run, step, parent_id)
            ctx.progress(step.number, len(steps))
    finally:
        run.api.close()
    return protocol.receipt([step.part for step in steps])


def earliest_own_post(ctx: SendContext) -> datetime | None:
    publication = ctx.store.publication(ctx.publication_id)
    return None if publication is None else publication.created_at - CLOCK_SKEW


def finish_tweet(run: ThreadRun, step: TweetStep, parent_id: str | None) -> str:
    """Make sure tweet `step` is on X as a reply to `parent_id`; its id."""
    entry = run.ledger.entry(step.part)
    assert entry is not None
    entry = run.protocol.reconcile(entry, lambda _: find_own_post(run, step.tweet, parent_id))
    if entry.state == "sent":
        return sent_tweet_id(run, step, entry)
    if not entry.claimable:
        raise PermanentError(f"x: tweet {step.number} was refused earlier: {entry.last_error}")
    run.pace()
    media_ids = [media_id_for(run, step, media) for media in step.media]
    run.me()  # the account name for the post's URL, known before anything is claimed or posted
    return run.protocol.send(step.part, lambda: post_tweet(run, step, parent_id, media_ids)).remote_id


def sent_tweet_id(run: ThreadRun, step: TweetStep, entry: LedgerEntry) -> str:
    if not entry.remote_id:
        raise PermanentError(f"x: tweet {step.number} is recorded as sent without its id, so the thread cannot "
                             "continue as replies to it")
    for media in step.media:  # a posted tweet carried its images: their uploads are finished too
        media_entry = run.ledger.entry(media.part)
        if media_entry is not None and media_entry.state != "sent":
            run.ledger.mark_sent(media.part, remote_id=media_entry.remote_id)
    return entry.remote_id


def find_own_post(run: ThreadRun, tweet: Tweet, parent_id: str | None) -> Sent | None:
    """Our post with this text replying to `parent_id` (none: not a reply), if X shows one."""
    account = run.me()
    wanted = comparable_text(tweet.text)

    def search() -> str | None:
        for post in run.api.recent_posts(account.id, run.since):
            if replied_to(post) == parent_id and comparable_text(post.text) == wanted:
                return str(post.id)
        return None

    found = run.read(f"GET /2/users/{account.id}/tweets", search)
    return None if found is None else Sent(found, run.tweet_url(found))


def media_id_for(run: ThreadRun, step: TweetStep, media: MediaStep) -> str:
    """A usable media id for one image of `step`: the stored one while fresh, else a new upload."""
    entry = run.ledger.entry(media.part)
    assert entry is not None
    if entry.state == "sent" and entry.remote_id and entry.content_sha256 == media.sha and \
            datetime.now(timezone.utc) - entry.updated_at < MEDIA_REUSE_MAX_AGE:
        return entry.remote_id
    if entry.state == "failed" and not entry.retryable:
        raise PermanentError(f"x: tweet {step.number}: image {media.url} was refused earlier: {entry.last_error}")
    what = f"x: tweet {step.number}: image {media.url}"
    try:
        image = fetch_image(media.url, run.ctx.settings)
    except (TransientError, PermanentError) as exc:
        run.ledger.mark_failed(media.part, str(exc), retryable=isinstance(exc, TransientError))
        raise type(exc)(f"x: tweet {step.number}: {exc}", **_retry_kwargs(exc)) from None
    # An upload no post uses is invisible and expires: uploading again is the reconciliation.
    entry = run.protocol.reconcile(entry, lambda _: None)

    def upload() -> Sent:
        try:
            return Sent(run.api.uploader.upload(image))
        except Exception as exc:  # noqa: BLE001 - write_error classifies it, or re-raises a bug
            raise run.write_error(what, exc) from None

    if entry.state == "sent":  # an expired id: replaced without a claim ("sent" is never claimed again)
        media_id = upload().remote_id
        run.ledger.mark_sent(media.part, remote_id=media_id)
        return media_id
    return run.protocol.send(media.part, upload).remote_id


def _retry_kwargs(exc: Exception) -> dict[str, Any]:
    return {"retry_after": exc.retry_after} if isinstance(exc, TransientError) else {}


def post_tweet(run: ThreadRun, step: TweetStep, parent_id: str | None, media_ids: list[str]) -> Sent:
    """Post one tweet (the protocol has claimed it and records what this returns or raises)."""
    what = f"x: tweet {step.number}"
    try:
        tweet_id = run.api.create_tweet(step.tweet.text, parent_id, media_ids)
    except Exception as exc:  # noqa: BLE001 - classified below, or re-raised as a bug
        failure = failure_of(exc)
        if failure is not None and classify_failure(failure) == DUPLICATE:
            return adopt_duplicate(run, step, parent_id, failure)
        raise run.write_error(what, exc) from None
    if tweet_id is None:
        raise UncertainError(f"{what} may or may not have been posted: X answered without the post's id")
    return Sent(tweet_id, run.tweet_url(tweet_id))


def adopt_duplicate(run: ThreadRun, step: TweetStep, parent_id: str | None, failure: XFailure) -> Sent:
    """X refused the text as a duplicate: if the post is ours (an earlier attempt that we could not
    confirm), it is this tweet; otherwise the text really is taken and the tweet is refused."""
    text = run.scrub(failure_text(failure))
    found = find_own_post(run, step.tweet, parent_id)
    if found is None:
        raise PermanentError(f"x: tweet {step.number} refused by X: {text} (no post of this thread has this text)")
    run.protocol.notes.append(f"tweet {step.number} was already on the account (posted by an earlier attempt)")
    return found
