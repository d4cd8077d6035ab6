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
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from publisher.config import Settings
from publisher.post import Post

if TYPE_CHECKING:
    from publisher.ledger import Ledger
    from publisher.store import Store


class DeliveryError(Exception):
    """Base of the three delivery outcomes that are not success."""


class TransientError(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    pass


class UncertainError(DeliveryError):
    pass


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
class Receipt:
    """The outcome of one `send`: state is sent | partial | failed | uncertain."""

    state: str
    sent: int
    total: int
    detail: str = ""
    remote_ids: tuple[str, ...] = ()
    url: str | None = None


class Channel(ABC):
    name: ClassVar[str]
    # False when the platform offers no record to check an uncertain part against (SMTP, the
    # Telegram Bot API): a person decides "sent" or "resend". True: send() reconciles by itself.
    reconciles_itself: ClassVar[bool] = True

    @abstractmethod
    def render(self, post: Post, settings: Settings) -> Any:
        """Build the payload: pure and deterministic."""

    @abstractmethod
    def checks(self, payload: Any, settings: Settings) -> list[str]:
        """Problems that would make the platform refuse or degrade the payload."""

    @abstractmethod
    def preview_json(self, payload: Any) -> dict:
        """The payload as JSON-ready data."""

    @abstractmethod
    def preview_files(self, payload: Any) -> dict[str, str]:
        """Files `publisher preview` writes for this channel: {file name: text}."""

    def configured(self, settings: Settings) -> bool:
        """True when credentials for the live (or sandbox) platform are set; else the outbox is used."""
        return False

    def send(self, payload: Any, ctx: SendContext) -> Receipt:
        """Deliver the payload, continuing from what ctx.ledger says earlier attempts finished."""
        raise NotImplementedError(f"{self.name}: sending is not built yet")
