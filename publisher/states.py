"""The state words, defined once; the CLI, `--json`, the desk, logs and docs all use these.

Ledger parts (one row per tweet, Telegram call, WeChat upload/draft, email recipient):
- planned:   written down before any attempt; nothing has left this machine for this part.
- sending:   claimed by one worker, whose request may be in flight right now. A part that stays
             in "sending" (a killed worker) may already have been accepted by the platform: it is
             reconciled, never simply sent again.
- sent:      the platform's API accepted it (returned success, usually with an id). Final.
- failed:    the platform refused it or we could not reach it. `retryable` says whether it may
             be claimed again (a transient failure) or is final (a permanent one).
- uncertain: the request may or may not have been accepted (read timeout, 5xx after sending, a
             worker killed mid-message). Reconciled against the platform's own record before any
             resend, or, where the platform keeps none (SMTP, Telegram), settled by a person with
             `publisher retry POST --resolve sent|resend`.

Deliveries (one row per publication and channel):
- queued:   created, no worker has started it.
- sending:  a worker is sending its parts.
- retrying: a transient error; another attempt is scheduled.
- sent:     every part is sent.
- drafted:  (WeChat in draft mode) every part is sent and the article waits in the account's
            draft box: nothing more is sent; a person publishes it there, or a press with
            PUBLISHER_WECHAT_PUBLISH=publish and --again does.
- partial:  some parts are sent, the others failed or are uncertain.
- failed:   nothing was sent and the channel gave up (or a permanent error stopped it).

Where a channel went in one press (ChannelOutcome.where):
- live: sent to the platform; queued: handed to the workers; outbox: written to files (no
  credentials); blocked: its checks found problems and the press was not forced; disabled: the post
  turns it off; skipped: an earlier press already sent it.

Schedules (one row per post an editor scheduled: publisher.schedule, pressed by publisher.scheduler):
- scheduled:   waiting for its due time; `publisher unschedule` or the desk can still cancel it.
- publishing:  one process claimed it at (or after) the due time and is pressing it now.
- published:   the press ran; what each channel did is its delivery's state (publisher status).
- failed:      the press could not start at the due time (the file was gone, it was a draft, or
               its checks found problems); nothing was sent for it. The row says why.
- unscheduled: an editor cancelled it before it was due; nothing was sent for it.

Subscribers (SUBSCRIBER_STATUSES):
- pending:      signed up (the public form or `subscribers add --confirm`) and mailed a link, not
                confirmed yet: gets no issue, and is deleted once the link expired unconfirmed.
- active:       receives the newsletter. unsubscribed: asked to stop. bounced: the address refused mail.

Words to avoid: "delivered" (we never know that a mailbox or a follower received anything;
"sent" means accepted by the platform API), "done"/"ok"/"success" for a state, "pending"
for a part or a delivery (say planned or queued; it is only a subscriber's status), "error" as a
state (say failed), "refused" for our own checks (say blocked).
"""
from __future__ import annotations

from enum import StrEnum


class PartState(StrEnum):
    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    DRAFTED = "drafted"
    PARTIAL = "partial"
    FAILED = "failed"


class Where(StrEnum):
    LIVE = "live"
    QUEUED = "queued"
    OUTBOX = "outbox"
    BLOCKED = "blocked"
    DISABLED = "disabled"
    SKIPPED = "skipped"


class ScheduleState(StrEnum):
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    UNSCHEDULED = "unscheduled"


LEDGER_STATES = tuple(PartState)
DELIVERY_STATES = tuple(DeliveryState)
# Nothing of the delivery is left to send: a plain press skips it.
DELIVERY_COMPLETE_STATES = frozenset({DeliveryState.SENT, DeliveryState.DRAFTED})
DELIVERY_FINISHED_STATES = DELIVERY_COMPLETE_STATES | {DeliveryState.PARTIAL, DeliveryState.FAILED}
SUBSCRIBER_STATUSES = ("active", "pending", "unsubscribed", "bounced")
