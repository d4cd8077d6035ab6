"""A test send: the post's email to one address and, when asked, its Telegram messages to one
private chat, so an editor sees the real thing before pressing publish (`publisher test`, the
desk's "Send a test"). Drafts may be test-sent: that is what a test is for.

The same path as a press, with three differences:
- the email is rendered by the email channel with its subject prefixed "[Test] ", and its
  unsubscribe link (body and List-Unsubscribe) is the site's address with "#test-send": no real
  subscriber's token is ever signed for it, and a click or a one-click POST changes nothing;
- its ledger rows belong to a publication of its own (post_slug "test-send:<slug>", a prefix no
  slug can have: slugs are letters, digits and dashes), so the post's own publication, its
  counts and its status never include a test, and a later `publish` mails every subscriber once;
- transient failures are retried for TEST_RETRY_FOR_SECONDS at most: somebody is waiting.

Test sends are limited to PUBLISHER_TEST_SENDS_PER_HOUR (all posts together), counted in the
store within the same write transaction that records a new one, so several processes (CLI
presses, desk threads, desk servers) share one budget and the desk cannot become a relay.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from channels.base import BatchedChannel, Recipient
from channels.registry import CHANNELS
from publisher.addresses import InvalidAddress, normalize_email
from publisher.config import Settings
from publisher.errors import InputError
from publisher.jobs import ChannelOutcome, Job, attempt, settle
from publisher.post import Post, load_post
from publisher.secrets import redact
from publisher.models import Publication, TestSend, utcnow
from publisher.publish import deliver_with_retries, post_sha256
from publisher.store import Store
from publisher.test_send_status import TEST_SLUG_PREFIX

TEST_SUBJECT_PREFIX = "[Test] "
TEST_UNSUBSCRIBE_FRAGMENT = "#test-send"
# An editor waits for the answer (a terminal, a desk request): retry a flaky relay this long, not
# the half hour a mailing to thousands gets (PUBLISHER_RETRY_FOR_SECONDS).
TEST_RETRY_FOR_SECONDS = 60.0
RATE_WINDOW = timedelta(hours=1)
# Arbitrary constant naming the PostgreSQL advisory lock that serialises counting and recording.
TEST_SEND_LOCK_ID = 0x74657374  # "test"
# A chat id (a private chat's is the user's positive id) or a public @username: 5-32 letters,
# digits and underscores (https://core.telegram.org/bots/api#sendmessage, chat_id).
_CHAT = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}")


@dataclass
class TestSendResult:
    """What one test send did: its id, where it went, each channel's outcome, and the problems a
    real press would stop on (a test goes out anyway: seeing them is the point)."""

    __test__ = False  # not a pytest class, whatever its name

    test_id: int
    publication_id: int
    post: Post
    to_email: str
    telegram_chat: str | None
    subject: str
    outcomes: list[ChannelOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.state == "sent" for o in self.outcomes)


class TestSendsExhausted(InputError):
    """The hour's test sends are used up: nothing is sent (exit 2)."""

    __test__ = False


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 80 else raw[:79] + "…")


def checked_address(raw: str, settings: Settings, where: str = "--to") -> str:
    """The address in its stored form (publisher.addresses: the subscriber list's grammar), or one
    InputError naming it."""
    try:
        return normalize_email(raw, smtputf8=settings.smtp_utf8)
    except InvalidAddress as exc:
        raise InputError(where, f"{_shown(raw)} is not an address a test can be sent to: {exc}") from None


def checked_chat(raw: str, where: str = "--telegram-chat") -> str:
    chat = raw.strip()
    if not _CHAT.fullmatch(chat):
        raise InputError(where, f"{_shown(raw)} is not a Telegram chat: expected a chat id like 123456789 "
                         "(yours: message @userinfobot) or a public @username")
    return chat


def harmless_unsubscribe_url(settings: Settings) -> str:
    """The unsubscribe link of a test email: the site's own page, carrying no token."""
    return settings.site_url.split("#", 1)[0].rstrip("/") + "/" + TEST_UNSUBSCRIBE_FRAGMENT


def email_for_test(post: Post, settings: Settings):
    """The email channel's own render of the post, its subject prefixed TEST_SUBJECT_PREFIX."""
    options = dict(post.channel_options("email"))
    options["subject"] = TEST_SUBJECT_PREFIX + str(options.get("subject") or post.title)
    return CHANNELS["email"].render(dataclasses.replace(post, channels={**post.channels, "email": options}), settings)


def refuse_unsendable(post: Post, settings: Settings, chat: str | None) -> None:
    """A test that could not go where it is asked to stops here, before anything is counted."""
    if not post.channel_enabled("email"):
        raise InputError(post.source, "the email is turned off for this post (channels.email.enabled: false); "
                         "there is no email to test")
    if not CHANNELS["email"].configured(settings):
        raise InputError("PUBLISHER_SMTP_HOST", "not set: a test email goes out through the SMTP relay and none "
                         "is configured (`publisher test --sandbox` mails the loopback stand-in)")
    if chat is None:
        return
    if not post.channel_enabled("telegram"):
        raise InputError(post.source, "Telegram is turned off for this post (channels.telegram.enabled: false)")
    if not settings.telegram_bot_token:
        raise InputError("PUBLISHER_TELEGRAM_BOT_TOKEN", "not set: a Telegram test is sent by the channel's bot")


def send_test(post_path: str | Path, settings: Settings, to: str, *, telegram_chat: str | None = None,
              requested_by: str = "cli", where_to: str = "--to", store: Store | None = None) -> TestSendResult:
    """Validate, count against the hour's limit, render and send one test. Raises InputError
    (nothing sent) for a bad address or chat, a post that does not load, a missing setting, or
    the limit reached."""
    address = checked_address(to, settings, where_to)
    chat = checked_chat(telegram_chat) if telegram_chat is not None else None
    post_path = Path(post_path)
    post = load_post(post_path, settings)
    refuse_unsendable(post, settings, chat)
    settings = dataclasses.replace(settings, retry_for_seconds=min(settings.retry_for_seconds, TEST_RETRY_FOR_SECONDS))
    email = CHANNELS["email"]
    email.learn(post, settings)  # the image sizes, as a press learns them
    channel_settings = {"email": settings}
    payloads = {"email": email_for_test(post, settings)}
    if chat is not None:
        channel_settings["telegram"] = dataclasses.replace(settings, telegram_chat_id=chat)
        payloads["telegram"] = CHANNELS["telegram"].render(post, channel_settings["telegram"])
    problems = [f"{name}: {problem}" for name, payload in payloads.items()
                for problem in CHANNELS[name].checks(payload, channel_settings[name])]
    problems += [f"{name}: set {variable} before a live send" for name in payloads
                 for variable in CHANNELS[name].missing_settings(channel_settings[name])]
    store = store or Store(settings.db_url)
    sha = post_sha256(post_path)
    test_id, publication_id = record_test_send(store, settings, post, sha, address, chat, requested_by)
    result = TestSendResult(test_id, publication_id, post, address, chat, payloads["email"].subject, [], problems)
    recipients = [Recipient(address, "", harmless_unsubscribe_url(settings))]
    for name, payload in payloads.items():
        job = Job(channel_settings[name], store, publication_id, CHANNELS[name], post, payload)
        result.outcomes.append(deliver_test(job, recipients))
    return result


def deliver_test(job: Job, recipients: list[Recipient]) -> ChannelOutcome:
    """One channel of a test through the press's own attempt, retry loop and settle."""
    ctx = job.context()
    if isinstance(job.channel, BatchedChannel):
        def send_once():
            return job.channel.send_batch(job.payload, ctx, recipients)
    else:
        def send_once():
            return attempt(job, ctx)
    error = deliver_with_retries(job, send_once, ctx.sleep, ctx.ledger)
    outcome = settle(job, redact(error, job.settings))
    outcome.detail = redact(outcome.detail, job.settings)
    return outcome


def record_test_send(store: Store, settings: Settings, post: Post, sha: str, address: str, chat: str | None,
                     requested_by: str) -> tuple[int, int]:
    """Count the last hour's test sends and, under the limit, record this one and its own
    publication, in one write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock),
    so two processes cannot both take the last one. Returns (test send id, publication id)."""
    limit = max(0, settings.test_sends_per_hour)
    now = utcnow()
    with store.session() as session:
        if store.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": TEST_SEND_LOCK_ID})
        count, oldest = session.execute(select(func.count(TestSend.id), func.min(TestSend.created_at))
                                        .where(TestSend.created_at > now - RATE_WINDOW)).one()
        if count >= limit:
            raise TestSendsExhausted("test send", exhausted_text(count, limit, oldest, settings))
        test_slug = TEST_SLUG_PREFIX + post.slug
        generation = (session.scalar(select(func.max(Publication.generation))
                                     .where(Publication.post_slug == test_slug)) or 0) + 1
        publication = Publication(post_slug=test_slug, post_sha256=sha, key=f"{test_slug}:{generation}",
                                  generation=generation, title=post.title, created_at=now)
        session.add(publication)
        session.flush()
        row = TestSend(publication_id=publication.id, post_slug=post.slug, to_email=address, telegram_chat=chat,
                       requested_by=requested_by, created_at=now)
        session.add(row)
        session.flush()
        return row.id, publication.id


def exhausted_text(count: int, limit: int, oldest: datetime | None, settings: Settings) -> str:
    if limit == 0:
        return "test sends are turned off (PUBLISHER_TEST_SENDS_PER_HOUR is 0); nothing was sent"
    sends = "test send" if count == 1 else "test sends"
    when = ""
    if oldest is not None:
        free = (oldest + RATE_WINDOW).astimezone(settings.tz)
        when = f"; the next one can go at {free:%H:%M:%S} ({settings.timezone})"
    return (f"{count} {sends} in the last hour already, the most PUBLISHER_TEST_SENDS_PER_HOUR allows "
            f"({limit}); nothing was sent{when}")
