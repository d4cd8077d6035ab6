"""The channel contract.

- `render(post, settings) -> payload`: pure. Same post, same settings, same bytes. No network, no
  clock (the post's date is the clock). Everything the platform will receive is in the payload.
- `checks(payload, settings) -> [str]`: problems that would make the platform refuse or degrade
  the payload, one line a person understands each. Publishing refuses a channel with problems
  unless forced.
- `preview_files(payload) -> {filename: text}`: what `publisher preview` writes for this channel.
- `preview_json(payload) -> dict`: the JSON shape of the payload (also written by preview).

Delivery errors (used by `send`):
- TransientError(retry_after): could not connect, 429, WeChat -1/45011... retried.
- PermanentError: bad credentials, content rejected, too long... fails the delivery at once with
  the platform's own message.
- UncertainError: a timeout or 5xx after a request that may have been accepted; reconciled,
  never blindly resent.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Sequence

from channels.errors import DeliveryError, PermanentError, TransientError, UncertainError  # noqa: F401 (re-exported)
from publisher.config import Settings
from publisher.post import Post

if TYPE_CHECKING:
    from publisher.ledger import Ledger
    from publisher.store import Store


@dataclass
class SendContext:
    """What `send` may use: settings, the store, this channel's ledger (what earlier attempts
    finished), and a progress callback (parts done, parts total)."""

    settings: Settings
    store: "Store"
    ledger: "Ledger"
    publication_id: int
    progress: Callable[[int, int], None] = lambda done, total: None
    sleep: Callable[[float], None] = field(default=__import__("time").sleep)
    # Global turns (publisher.rate_limit): pace(key, interval) waits until this key's turn. None
    # when one sender is all there is (the embedded default): channels pace with `sleep` then.
    pace: Callable[[str, float], None] | None = None


@dataclass(frozen=True)
class Recipient:
    """One addressee of a batched channel, as read at send time."""

    email: str
    name: str
    unsubscribe_url: str


@dataclass(frozen=True)
class Receipt:
    """The outcome of one `send`: state is sent | partial | failed | uncertain."""

    state: str
    sent: int
    total: int
    detail: str = ""
    remote_ids: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True)
class PartView:
    """One ledger part as a person reads it. `counted`: it is one of the things the channel sends
    (a tweet, a message, a recipient), as opposed to a step (an image upload). `listed_when_sent`:
    worth a row of its own once sent (a tweet yes, one of 10,000 recipients no)."""

    label: str
    counted: bool = True
    listed_when_sent: bool = True
    id_label: str = ""  # how the remote id is named ("message id"), if shown


@dataclass(frozen=True)
class PlanSummary:
    """What a press will send on this channel, before anything is sent."""

    count: int
    words: str


class Channel(ABC):
    name: ClassVar[str]
    title: ClassVar[str] = ""  # as people name the platform: "X", "Telegram", "WeChat", "Email"
    # False when the platform offers no record to check an uncertain part against (SMTP, the
    # Telegram Bot API): a person decides "sent" or "resend". True: send() reconciles by itself.
    reconciles_itself: ClassVar[bool] = True
    # The queue its tasks run on: a long mailing must never delay the thread.
    queue: ClassVar[str] = "social"
    # Keys a post may set under `channels.<name>:`; any other key is a mistake the editor is told of.
    options: ClassVar[frozenset[str]] = frozenset({"enabled"})

    @abstractmethod
    def render(self, post: Post, settings: Settings) -> Any:
        """Build the payload: pure and deterministic."""

    @abstractmethod
    def checks(self, payload: Any, settings: Settings) -> list[str]:
        """Problems that would make the platform refuse or degrade the payload."""

    def learn(self, post: Post, settings: Settings) -> None:
        """Called once per press before render, for a channel that will send: learn and cache what
        render needs from the outside world (render itself stays offline and pure)."""

    def notes(self, payload: Any, settings: Settings) -> list[str]:
        """Advice that degrades the result without stopping a press (an image Outlook will not
        show, a size the press could not learn): shown in previews and plans, never blocking."""
        return []

    @abstractmethod
    def preview_json(self, payload: Any) -> dict:
        """The payload as JSON-ready data."""

    @abstractmethod
    def preview_files(self, payload: Any) -> dict[str, str]:
        """Files `publisher preview` writes for this channel: {file name: text}."""

    def preview_view(self, payload: Any) -> dict:
        """What the preview page and the desk show of this channel (JSON-ready)."""
        return self.preview_json(payload)

    def planned_parts(self, payload: Any, settings: Settings) -> list[tuple[str, str]]:
        """(part, content sha256) that send() plans before anything is sent; revisions it adds
        later (a changed cover, a draft update) are not listed."""
        return []

    def describe_part(self, part: str, total: int) -> PartView:
        """A ledger part of this channel in words; `total` counted parts in the delivery."""
        return PartView(part)

    def plan_summary(self, payload: Any, settings: Settings, recipients: int = 0) -> PlanSummary:
        """What pressing publish would send here: a count and a phrase."""
        return PlanSummary(1, "one post")

    def complete_state(self, parts: Sequence[str]) -> str:
        """The delivery's word once every one of its ledger `parts` is sent: "sent", or "drafted"
        where the platform holds only a draft that a person still publishes."""
        return "sent"

    def configured(self, settings: Settings) -> bool:
        """True when credentials for the live (or sandbox) platform are set; else the outbox is used."""
        return False

    def missing_settings(self, settings: Settings) -> list[str]:
        """The PUBLISHER_* variables still to set before this channel can send."""
        return []

    def write_outbox(self, payload: Any, folder: Path, settings: Settings, store: "Store") -> None:
        """Write what would be sent into `folder` (no credentials). Files of preview_files by default."""
        for name, text in self.preview_files(payload).items():
            (folder / name).write_text(text, encoding="utf-8", newline="")

    def send(self, payload: Any, ctx: SendContext) -> Receipt:
        """Deliver the payload, continuing from what ctx.ledger says earlier attempts finished."""
        raise NotImplementedError(f"{self.name}: sending is not built yet")


class BatchedChannel(Channel):
    """A channel that sends one payload to many recipients (email): the press plans one part per
    recipient and sends them in batches, one task and one connection each."""

    queue: ClassVar[str] = "email"
    # A recipient's part is this prefix + the address in lower case: the press plans a whole
    # mailing in the database with it (Ledger.plan_recipients).
    part_prefix: ClassVar[str] = "to:"

    @abstractmethod
    def recipient_parts(self, payload: Any, addresses: Iterable[str]) -> list[tuple[str, str]]:
        """(part, content sha256) per address, for Ledger.plan."""

    @abstractmethod
    def send_batch(self, payload: Any, ctx: SendContext, recipients: Sequence[Any]) -> Receipt:
        """Send to these recipients, each at most once."""

    def send(self, payload: Any, ctx: SendContext) -> Receipt:
        raise TypeError(f"{self.name} sends in batches: call send_batch")
