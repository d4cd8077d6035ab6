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
from typing import Any, ClassVar

from publisher.config import Settings
from publisher.post import Post


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


class Channel(ABC):
    name: ClassVar[str]

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
