"""Email delivery: `send_batch` with the real smtplib against the SMTP stand-in (aiosmtpd) on loopback
and a real Store (SQLite file; PostgreSQL too when one is reachable). PLATFORMS.md 4.5, 4.8.

Throughput by hand (not a test): `.venv/bin/python tests/test_email_send.py [messages]` sends a
mailing to a minimal socket sink (FastSink below) and to the stand-in, with and without the ledger.
"""
from __future__ import annotations

import base64
import email.utils
import dataclasses
import smtplib
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, update

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script for the benchmark
    sys.path.insert(0, str(ROOT))

from channels.base import PermanentError, Receipt, SendContext, TransientError  # noqa: E402
from channels.email.channel import CHANNEL  # noqa: E402
from channels.email.errors import _is_unknown_mailbox  # noqa: E402
from channels.email.limits import SETTLE_EVERY, STALE_SENDING_SECONDS  # noqa: E402
from channels.email.message import EmailPayload  # noqa: E402
from channels.base import Recipient  # noqa: E402
from channels.email.parts import mailing_parts, recipient_part  # noqa: E402
from publisher.config import load_settings  # noqa: E402
from publisher.journal import Journal, journal_folder  # noqa: E402
from publisher.ledger import Ledger  # noqa: E402
from publisher.post import load_post, parse_post  # noqa: E402
from publisher.sandbox.smtp_server import UNKNOWN_RECIPIENT_REPLY, SandboxSMTP  # noqa: E402
from publisher.store import LedgerRow, Publication, Store, utcnow  # noqa: E402
from publisher.subscribers import Subscribers, smtp_address  # noqa: E402
from tests.conftest import claim_as_dead_worker  # noqa: E402

SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SENDER = "newsletter@example.com"  # the address in load_settings' default email_from
SECRET = "s3cret-Password!"

ENGLISH = """---
title: "Field Notes #7: Queues, Tables & Emoji 🚀"
date: 2026-03-02T07:15:00-05:00
summary:
  - Why our queue needed a ledger
  - A table of numbers
---
Hello **readers**, see [the docs](https://example.org/docs?a=1&b=2) and a very long link
https://example.org/a/very/long/path/that/goes/on/and/on/and/on/and/on/and/on/and/on?utm_source=newsletter&x=1

![A chart](https://cdn.example.org/chart.png)

1. First
   - nested *one*
   - nested `two`
2. Second

> Quoted wisdom about retries.

```python
print("exactly once")
```

| Queue | Rate |
|-------|-----:|
| email | 900/s |
"""


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_settings():
    return load_settings(env={})


@pytest.fixture(scope="module")
def payloads(base_settings) -> dict[str, EmailPayload]:
    chinese = CHANNEL.render(load_post(SAMPLE, base_settings), base_settings)
    english = CHANNEL.render(parse_post(ENGLISH, name="field-notes.md", settings=base_settings), base_settings)
    return {"zh": chinese, "en": english}


@pytest.fixture
def payload(payloads) -> EmailPayload:
    return payloads["zh"]


@pytest.fixture
def smtp():
    with SandboxSMTP() as server:
        yield server


@pytest.fixture
def settings(base_settings, smtp):
    return dataclasses.replace(base_settings, smtp_host=smtp.host, smtp_port=smtp.port)


@pytest.fixture
def store(tmp_path):
    sqlite = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
    yield sqlite
    sqlite.dispose()


def _postgres_store() -> Store:
    candidate = Store(POSTGRES_URL)
    if not candidate.ping():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    return candidate


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    """SQLite, and PostgreSQL when reachable (rows removed afterwards: publications are unique)."""
    if request.param == "sqlite":
        chosen = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
        yield chosen
        chosen.dispose()
        return
    chosen = _postgres_store()
    chosen.created_publications = []  # type: ignore[attr-defined]
    yield chosen
    with chosen.session() as session:
        for publication_id in chosen.created_publications:  # type: ignore[attr-defined]
            session.execute(delete(LedgerRow).where(LedgerRow.publication_id == publication_id))
            session.execute(delete(Publication).where(Publication.id == publication_id))
    chosen.dispose()


class Progress:
    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))


def make_ctx(store: Store, settings, progress=None) -> SendContext:
    publication = store.get_or_create_publication(f"post-{uuid.uuid4().hex[:12]}", "0" * 64, "A post")
    if hasattr(store, "created_publications"):
        store.created_publications.append(publication.id)
    ledger = Ledger(store, publication.id, "email")
    return SendContext(settings, store, ledger, publication.id, progress=progress or Progress())


def readers(count: int, start: int = 0, domain: str = "example.org") -> list[Recipient]:
    names = ["Reader {}", "读者 {}", "O'Brien, Ann {}", "Zoë {} 🚀"]
    return [Recipient(f"reader{i}@{domain}", names[i % len(names)].format(i), f"https://example.com/unsubscribe/tok-{i}")
            for i in range(start, start + count)]


def mailed(smtp: SandboxSMTP) -> Counter:
    """How many messages the server took for each envelope recipient."""
    return Counter(address.lower() for message in smtp.messages for address in message["rcpt_tos"])


def states(ctx: SendContext) -> dict[str, tuple[str, bool]]:
    return {entry.part: (entry.state, entry.retryable) for entry in ctx.ledger.entries()}


def add_subscribers(store: Store, settings, addresses: list[str]) -> Subscribers:
    subscribers = Subscribers(store, settings)
    for address in addresses:
        subscribers.add(address)
    return subscribers


def age_claims(store: Store, ctx: SendContext, seconds: float) -> None:
    """Pretend the claims in "sending" were made `seconds` ago (a worker that died back then)."""
    with store.session() as session:
        session.execute(update(LedgerRow).where(LedgerRow.publication_id == ctx.publication_id,
                                                LedgerRow.state == "sending")
                        .values(updated_at=utcnow() - timedelta(seconds=seconds)))


# --- the contract -------------------------------------------------------------------------------
def test_configured_by_smtp_host_and_send_points_to_send_batch(base_settings, store, payload):
    assert not CHANNEL.configured(base_settings)
    assert CHANNEL.configured(dataclasses.replace(base_settings, smtp_host="smtp.example.com"))
    with pytest.raises(TypeError, match="send_batch"):
        CHANNEL.send(payload, make_ctx(store, base_settings))


def test_mailing_parts_are_lower_case_unique_and_share_the_post_hash(payload, payloads):
    parts = mailing_parts(payload, [Recipient("A@Example.org", "", "https://x.test/u"),
                                    Recipient("a@example.org", "", "https://x.test/u"),
                                    Recipient("b@example.org", "", "https://x.test/u")])
    assert [part for part, _ in parts] == ["to:a@example.org", "to:b@example.org"]
    assert len({sha for _, sha in parts}) == 1
    assert parts[0][1] != mailing_parts(payloads["en"], [Recipient("a@example.org", "", "https://x.test/u")])[0][1]


# --- happy path ---------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_recipient_gets_exactly_its_own_message_over_one_connection(language, payloads, smtp, settings,
                                                                           store):
    payload = payloads[language]
    recipients = readers(2 * SETTLE_EVERY + 7)
    ctx = make_ctx(store, settings)

    receipt = CHANNEL.send_batch(payload, ctx, recipients)

    assert receipt == Receipt(state="sent", sent=len(recipients), total=len(recipients),
                              detail=f"{len(recipients)}/{len(recipients)} sent")
    stored = smtp.messages
    assert [m["rcpt_tos"] for m in stored] == [[r.email] for r in recipients]  # in order
    assert {m["connection"] for m in stored} == {stored[0]["connection"]}  # one connection
    for recipient, entry in zip(recipients, stored):
        message = entry["message"]
        assert entry["mail_from"] == SENDER
        sent_at = email.utils.parsedate_to_datetime(str(message["Date"]))
        assert abs((sent_at - utcnow()).total_seconds()) < 60  # Date: is the moment of sending
        assert entry["raw"] == payload.personalize(to_email=recipient.email, to_name=recipient.name,
                                                   unsubscribe_url=recipient.unsubscribe_url, date=sent_at)
        assert recipient.email in str(message["To"]) and recipient.name.split()[0] in str(message["To"])
        assert str(message["List-Unsubscribe"]) == f"<{recipient.unsubscribe_url}>"
        assert recipient.unsubscribe_url in message.get_body(("plain",)).get_content()
        assert recipient.unsubscribe_url in message.get_body(("html",)).get_content()
    assert len({str(m["message"]["Message-ID"]) for m in stored}) == len(recipients)
    assert set(states(ctx).values()) == {("sent", False)}
    assert ctx.progress.calls[-1] == (len(recipients), len(recipients))
    assert [done for done, _ in ctx.progress.calls] == sorted(done for done, _ in ctx.progress.calls)


def test_a_second_send_batch_sends_nothing(payload, smtp, settings, store):
    recipients = readers(12)
    ctx = make_ctx(store, settings)
    CHANNEL.send_batch(payload, ctx, recipients)

    again = CHANNEL.send_batch(payload, ctx, recipients)

    assert again.state == "sent" and again.sent == 12
    assert mailed(smtp) == Counter(r.email for r in recipients)


def test_duplicate_addresses_in_a_batch_are_mailed_once(payload, smtp, settings, store):
    recipients = [Recipient("Reader@Example.org", "First", "https://example.com/u/1"),
                  Recipient("reader@example.org", "Second", "https://example.com/u/2")]
    receipt = CHANNEL.send_batch(payload, make_ctx(store, settings), recipients)
    assert (receipt.sent, receipt.total) == (1, 1)
    assert [m["rcpt_tos"] for m in smtp.messages] == [["Reader@Example.org"]]
    assert "First" in str(smtp.messages[0]["message"]["To"])


def test_a_recipient_with_a_bad_address_or_url_fails_alone(payload, smtp, settings, store):
    recipients = readers(3) + [Recipient("not an address", "", "https://example.com/u/x"),
                               Recipient("ok@example.org", "", "javascript:alert(1)")]
    ctx = make_ctx(store, settings)
    receipt = CHANNEL.send_batch(payload, ctx, recipients)
    assert (receipt.state, receipt.sent, receipt.total) == ("partial", 3, 5)
    assert states(ctx)["to:not an address"] == ("failed", False)
    assert states(ctx)["to:ok@example.org"] == ("failed", False)
    assert "refused 2" in receipt.detail and "no @ in the address" in receipt.detail
    assert len(smtp.messages) == 3


# --- temporary and permanent refusals -----------------------------------------------------------
def test_451_for_some_recipients_raises_transient_and_the_retry_sends_only_those(payload, smtp, settings, store):
    recipients = readers(10)
    slow = [recipients[2].email, recipients[7].email]
    smtp.set_faults(temporary_recipients=slow)
    ctx = make_ctx(store, settings)

    with pytest.raises(TransientError, match="to retry 2") as caught:
        CHANNEL.send_batch(payload, ctx, recipients)
    assert "451 4.7.1" in str(caught.value)
    assert {part for part, state in states(ctx).items() if state == ("failed", True)} == {recipient_part(a) for a in slow}
    assert len(smtp.messages) == 8

    smtp.set_faults()
    receipt = CHANNEL.send_batch(payload, ctx, recipients)
    assert receipt.state == "sent"
    assert [m["rcpt_tos"] for m in smtp.messages[8:]] == [[a] for a in slow]
    assert mailed(smtp) == Counter(r.email for r in recipients)


def test_451_at_end_of_data_is_retried_without_duplicates(payload, smtp, settings, store):
    recipients = readers(6)
    smtp.set_faults(temporary_next=2)  # the first two messages are refused after DATA
    ctx = make_ctx(store, settings)
    with pytest.raises(TransientError, match="451 4.3.0"):
        CHANNEL.send_batch(payload, ctx, recipients)
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"
    assert mailed(smtp) == Counter(r.email for r in recipients)


def test_421_closing_stops_the_batch_and_releases_the_rest(payload, smtp, settings, store):
    recipients = readers(SETTLE_EVERY + 5)
    smtp.set_faults(temporary_next=1, temporary_code=421)
    ctx = make_ctx(store, settings)
    with pytest.raises(TransientError, match="closing the connection: 421"):
        CHANNEL.send_batch(payload, ctx, recipients)
    assert smtp.messages == []
    assert "sending" not in {state for state, _ in states(ctx).values()}  # nothing left claimed
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"
    assert mailed(smtp) == Counter(r.email for r in recipients)


def test_550_unknown_recipient_fails_bounces_and_the_others_continue(payload, smtp, settings, store):
    listed = [f"reader{i}@example.org" for i in range(5)] + ["leser@bücher.example"]
    subscribers = add_subscribers(store, settings, listed)
    recipients = [Recipient(smtp_address(a), "", f"https://example.com/u/{i}") for i, a in enumerate(listed)]
    gone = [recipients[1].email, recipients[5].email]  # the second one is leser@xn--bcher-kva.example
    smtp.set_faults(permanent_recipients=gone)
    ctx = make_ctx(store, settings)

    receipt = CHANNEL.send_batch(payload, ctx, recipients)

    assert (receipt.state, receipt.sent, receipt.total) == ("partial", 4, 6)
    assert f"refused 2 ({gone[0]}: {UNKNOWN_RECIPIENT_REPLY}" in receipt.detail
    assert states(ctx)[recipient_part(gone[0])] == ("failed", False)
    assert ctx.ledger.entry(recipient_part(gone[1])).last_error == UNKNOWN_RECIPIENT_REPLY
    assert [subscribers.get(a).status for a in listed] == ["active", "bounced", "active", "active", "active",
                                                           "bounced"]
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "partial"  # not retried, not resent
    assert len(smtp.messages) == 4


@pytest.mark.parametrize("reply, bounced", [
    (UNKNOWN_RECIPIENT_REPLY, True),
    ("550 User unknown", True),
    ("553 5.1.3 Bad recipient address syntax", True),
    ("550 5.7.1 Message rejected as spam", False),
    ("552 5.2.2 Mailbox full", False),
    ("554 5.1.1 no such user", False),  # 554 is a transaction failure, not a mailbox verdict
    ("451 4.1.1 user unknown, try later", False),
])
def test_only_unknown_mailbox_replies_bounce(reply, bounced):
    assert _is_unknown_mailbox(reply) is bounced


# --- dropped connections ------------------------------------------------------------------------
def test_drop_after_data_marks_the_in_flight_message_uncertain_and_never_resends_it(payload, smtp, settings,
                                                                                    store):
    recipients = readers(8)
    smtp.set_faults(disconnect_after=3, disconnect_stage="data")  # 4th message stored, reply lost
    ctx = make_ctx(store, settings)

    receipt = CHANNEL.send_batch(payload, ctx, recipients)

    in_flight = recipients[3].email
    assert (receipt.state, receipt.sent, receipt.total) == ("partial", 7, 8)
    assert f"uncertain 1 ({in_flight}: connection lost after the message's final '.'" in receipt.detail
    assert "publisher retry POST --channel email --resolve sent|resend" in receipt.detail
    assert states(ctx)[recipient_part(in_flight)] == ("uncertain", False)
    assert len({m["connection"] for m in smtp.messages}) == 2  # reconnected once
    assert mailed(smtp) == Counter(r.email for r in recipients)  # the server did take it: once

    assert CHANNEL.send_batch(payload, ctx, recipients).state == "partial"  # still not resent
    assert mailed(smtp)[in_flight] == 1

    assert ctx.ledger.settle_uncertain("sent") == [recipient_part(in_flight)]
    assert CHANNEL.send_batch(payload, ctx, recipients) == Receipt("sent", 8, 8, "8/8 sent")
    assert mailed(smtp) == Counter(r.email for r in recipients)


def test_resend_decision_mails_again_with_the_same_message_id(payload, smtp, settings, store):
    recipients = readers(4)
    smtp.set_faults(disconnect_after=1, disconnect_stage="data")
    ctx = make_ctx(store, settings)
    CHANNEL.send_batch(payload, ctx, recipients)
    uncertain = recipients[1].email

    with pytest.raises(ValueError, match="decision"):
        ctx.ledger.settle_uncertain("maybe")
    assert ctx.ledger.settle_uncertain("resend") == [recipient_part(uncertain)]
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"

    copies = [m["message"] for m in smtp.messages if m["rcpt_tos"] == [uncertain]]
    assert len(copies) == 2 and copies[0]["Message-ID"] == copies[1]["Message-ID"]


def test_drop_before_data_resends_that_message_on_the_new_connection(payload, smtp, settings, store):
    recipients = readers(8)
    smtp.set_faults(disconnect_after=3, disconnect_stage="mail")  # the 4th MAIL gets no reply
    ctx = make_ctx(store, settings)
    receipt = CHANNEL.send_batch(payload, ctx, recipients)
    assert receipt.state == "sent"
    assert mailed(smtp) == Counter(r.email for r in recipients)
    assert len({m["connection"] for m in smtp.messages}) == 2


def test_a_server_that_keeps_dropping_gets_the_batch_back_as_transient(payload, smtp, settings, store):
    recipients = readers(SETTLE_EVERY + 10)
    smtp.set_faults(disconnect_after=2, disconnect_stage="mail", disconnect_times=0)  # every connection
    ctx = make_ctx(store, settings)
    with pytest.raises(TransientError, match="dropped the connection again"):
        CHANNEL.send_batch(payload, ctx, recipients)
    assert len(smtp.messages) == 4  # two per connection, one reconnect
    assert "sending" not in {state for state, _ in states(ctx).values()}

    smtp.set_faults()
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"
    assert mailed(smtp) == Counter(r.email for r in recipients)


# --- leftovers of a killed worker and concurrent workers ----------------------------------------
def test_a_dead_workers_claims_are_settled_from_its_journal(payload, smtp, settings, store):
    """Killed mid-group: the message it had acknowledged is never sent again, the one cut after its
    final "." is held uncertain, and the ones it never completed are sent now."""
    recipients = readers(5)
    ctx = make_ctx(store, settings)
    ctx.ledger.plan(mailing_parts(payload, recipients))
    acked, cut, never = (recipient_part(r.email) for r in recipients[:3])
    dead = claim_as_dead_worker(ctx.ledger, acked, cut, never)
    journal = Journal(journal_folder(settings), ctx.publication_id, "email")
    for mark, part in (("dot", acked), ("ok", acked), ("dot", cut)):
        journal.mark(dead, mark, part)
    journal.close()

    receipt = CHANNEL.send_batch(payload, ctx, recipients)

    assert (receipt.state, receipt.sent) == ("partial", 4)
    assert states(ctx)[acked] == ("sent", False) and states(ctx)[cut] == ("uncertain", False)
    assert "1 left mid-message by an interrupted attempt" in receipt.detail
    assert mailed(smtp) == Counter(r.email for r in recipients[2:])  # never-completed + untouched, once
    assert ctx.ledger.settle_uncertain("resend") == [cut]
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"
    assert mailed(smtp)[recipients[1].email] == 1 and recipients[0].email not in mailed(smtp)


def test_a_part_another_worker_holds_right_now_is_left_to_it(payload, smtp, settings, store):
    recipients = readers(5)
    ctx = make_ctx(store, settings)
    ctx.ledger.plan(mailing_parts(payload, recipients))
    held = recipient_part(recipients[0].email)
    ctx.ledger.claim(held)

    with pytest.raises(TransientError, match="held by another worker 1") as caught:
        CHANNEL.send_batch(payload, ctx, recipients)
    assert 0 < caught.value.retry_after <= STALE_SENDING_SECONDS
    assert recipients[0].email not in mailed(smtp) and len(smtp.messages) == 4
    assert ctx.ledger.settle_uncertain("sent") == []  # a live worker's claim is not a leftover

    ctx.ledger.mark_sent(held)  # the other worker finishes
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"


def test_two_workers_with_overlapping_batches_mail_each_recipient_once(payload, smtp, settings, any_store):
    everyone = readers(3 * SETTLE_EVERY)
    batches = [everyone[: 2 * SETTLE_EVERY], everyone[SETTLE_EVERY:]]
    contexts = [make_ctx(any_store, settings)]
    contexts.append(SendContext(settings, any_store, Ledger(any_store, contexts[0].publication_id, "email"),
                                contexts[0].publication_id))
    start = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def worker(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = CHANNEL.send_batch(payload, contexts[index], batches[index])
        except TransientError as exc:  # the other worker still held some of ours
            outcomes[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(o, (Receipt, TransientError)) for o in outcomes), outcomes
    assert len({m["connection"] for m in smtp.messages}) == 2  # both workers mailed their own part
    assert CHANNEL.send_batch(payload, contexts[0], everyone).state == "sent"
    assert mailed(smtp) == Counter(r.email for r in everyone)


# --- connecting and credentials -----------------------------------------------------------------
def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_connection_refused_releases_the_claims_and_raises_transient(payload, smtp, settings, store):
    recipients = readers(SETTLE_EVERY + 3)
    ctx = make_ctx(store, dataclasses.replace(settings, smtp_port=_closed_port()))
    with pytest.raises(TransientError, match="ConnectionRefusedError"):
        CHANNEL.send_batch(payload, ctx, recipients)
    assert {state for state, _ in states(ctx).values()} <= {"planned", "failed"}
    assert all(entry.claimable for entry in ctx.ledger.entries())

    ctx.settings = settings
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"
    assert mailed(smtp) == Counter(r.email for r in recipients)


@pytest.fixture
def auth_smtp():
    with SandboxSMTP(username="mailer", password=SECRET) as server:
        yield server


def test_bad_password_is_permanent_and_never_shown(payload, auth_smtp, base_settings, store):
    settings = dataclasses.replace(base_settings, smtp_host=auth_smtp.host, smtp_port=auth_smtp.port,
                                   smtp_user="mailer", smtp_password=SECRET + "-wrong")
    recipients = readers(4)
    ctx = make_ctx(store, settings)
    with pytest.raises(PermanentError, match="535") as caught:
        CHANNEL.send_batch(payload, ctx, recipients)
    texts = [str(caught.value)] + [entry.last_error or "" for entry in ctx.ledger.entries()]
    for secret in (settings.smtp_password, base64.b64encode(settings.smtp_password.encode()).decode()):
        assert not any(secret in text for text in texts)
    assert all(entry.claimable for entry in ctx.ledger.entries())  # a run after the fix resumes
    assert auth_smtp.messages == []

    ctx.settings = dataclasses.replace(settings, smtp_password=SECRET)
    assert CHANNEL.send_batch(payload, ctx, recipients).state == "sent"
    assert {m["auth_user"] for m in auth_smtp.messages} == {"mailer"}


def test_server_requiring_auth_refuses_a_client_without_credentials(payload, auth_smtp, base_settings, store):
    settings = dataclasses.replace(base_settings, smtp_host=auth_smtp.host, smtp_port=auth_smtp.port)
    with pytest.raises(PermanentError, match="the server refused the sender: 530"):
        CHANNEL.send_batch(payload, make_ctx(store, settings), readers(2))


def test_unusable_settings_fail_before_anything_is_claimed(payload, base_settings, store):
    with pytest.raises(PermanentError, match="PUBLISHER_SMTP_HOST"):
        CHANNEL.send_batch(payload, make_ctx(store, base_settings), readers(1))
    settings = dataclasses.replace(base_settings, smtp_host="127.0.0.1", email_from="Nobody")
    ctx = make_ctx(store, settings)
    with pytest.raises(PermanentError, match="PUBLISHER_EMAIL_FROM"):
        CHANNEL.send_batch(payload, ctx, readers(1))
    ctx.settings = dataclasses.replace(settings, email_from=SENDER, smtp_user="mailer", smtp_password="Pässwort")
    with pytest.raises(PermanentError, match="non-ASCII") as caught:
        CHANNEL.send_batch(payload, ctx, readers(1))
    assert "Pässwort" not in str(caught.value)
    assert ctx.ledger.entries() == []


# --- a minimal SMTP sink for the throughput measurement -----------------------------------------
class FastSink:
    """The least an SMTP server can do: answer every command at once and count messages. Measures
    our per-message cost without aiosmtpd's parsing (which costs more than our whole send)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self.listener.getsockname()[:2]
        self.messages = 0
        self.recipients: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.sendall(b"220 sink ESMTP\r\n")
            buffer, in_data, scanned = bytearray(), False, 0
            while chunk := connection.recv(1 << 18):
                buffer += chunk
                while True:
                    if in_data:
                        end = buffer.find(b"\r\n.\r\n", max(0, scanned - 4))
                        if end < 0:
                            scanned = len(buffer)
                            break
                        del buffer[:end + 5]
                        in_data, scanned = False, 0
                        self.messages += 1
                        connection.sendall(b"250 2.0.0 queued\r\n")
                        continue
                    line_end = buffer.find(b"\r\n")
                    if line_end < 0:
                        break
                    verb = bytes(buffer[:4]).upper()
                    if verb == b"RCPT":
                        self.recipients.append(bytes(buffer[8:line_end]))
                    del buffer[:line_end + 2]
                    if verb == b"EHLO":
                        connection.sendall(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 33554432\r\n")
                    elif verb == b"DATA":
                        in_data, scanned = True, 0
                        connection.sendall(b"354 go ahead\r\n")
                    elif verb == b"QUIT":
                        connection.sendall(b"221 bye\r\n")
                        return
                    else:
                        connection.sendall(b"250 OK\r\n")

    def close(self) -> None:
        self.listener.close()


def test_fast_sink_counts_a_batch(payload, base_settings, store):
    sink = FastSink()
    try:
        settings = dataclasses.replace(base_settings, smtp_host=sink.host, smtp_port=sink.port)
        recipients = readers(SETTLE_EVERY + 1)
        assert CHANNEL.send_batch(payload, make_ctx(store, settings), recipients).state == "sent"
        assert sink.messages == len(recipients)
        assert sink.recipients == [f"<{r.email}>".encode() for r in recipients]
    finally:
        sink.close()


# --- throughput, by hand ------------------------------------------------------------------------
def _bench(count: int) -> None:
    import tempfile

    settings0 = load_settings(env={})
    payload = CHANNEL.render(load_post(SAMPLE, settings0), settings0)
    recipients = readers(count)
    print(f"{count} messages of {len(payload.template):,} bytes (the reference post)")

    def rate(label: str, seconds: float) -> None:
        print(f"  {label:<58} {count / seconds:8.0f} msgs/s  ({seconds * 1e6 / count:6.0f} µs/msg)")

    def bare_loop(host: str, port: int, personalize: bool) -> float:
        fixed = payload.example_message()
        began = time.perf_counter()
        with smtplib.SMTP(host, port) as client:
            for r in recipients:
                message = (payload.personalize(to_email=r.email, to_name=r.name, unsubscribe_url=r.unsubscribe_url)
                           if personalize else fixed)
                client.sendmail(SENDER, [r.email], message)
        return time.perf_counter() - began

    def with_ledger(host: str, port: int) -> float:
        store = Store(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
        ctx = make_ctx(store, dataclasses.replace(settings0, smtp_host=host, smtp_port=port))
        ctx.ledger.plan(mailing_parts(payload, recipients))  # the orchestrator plans up front
        began = time.perf_counter()
        receipt = CHANNEL.send_batch(payload, ctx, recipients)
        seconds = time.perf_counter() - began
        assert receipt.state == "sent", receipt
        return seconds

    sink = FastSink()
    rate("fast sink: bare smtplib loop, one fixed message", bare_loop(sink.host, sink.port, False))
    rate("fast sink: smtplib loop + personalize, no ledger", bare_loop(sink.host, sink.port, True))
    rate("fast sink: send_batch (personalize + ledger, SQLite)", with_ledger(sink.host, sink.port))
    assert sink.messages == 3 * count
    sink.close()
    with SandboxSMTP() as sandbox:
        rate("aiosmtpd stand-in: smtplib loop + personalize, no ledger", bare_loop(sandbox.host, sandbox.port, True))
        rate("aiosmtpd stand-in: send_batch (personalize + ledger, SQLite)", with_ledger(sandbox.host, sandbox.port))


if __name__ == "__main__":
    _bench(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)


def test_an_idn_domain_goes_on_the_envelope_in_punycode(payload, smtp, settings, store):
    # a relay without SMTPUTF8 takes it: only a non-ASCII local part needs the extension
    recipients = [Recipient("leser@bücher.example", "", "https://example.com/u/1")]
    receipt = CHANNEL.send_batch(payload, make_ctx(store, settings), recipients)
    assert receipt.state == "sent"
    assert [m["rcpt_tos"] for m in smtp.messages] == [["leser@xn--bcher-kva.example"]]
