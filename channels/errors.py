"""The three outcomes of a delivery call that is not a success, shared by every channel.

- TransientError(retry_after): nothing was accepted; try again later (could not connect, 429, a 5xx
  the platform says it did not act on, WeChat -1/45011). Retried with backoff until the retry budget
  runs out; a platform's retry-after always wins.
- PermanentError: refused for good (bad credentials, content rejected, chat not found, too long).
  Fails at once with the platform's own words.
- UncertainError: the request may have been accepted (a read timeout, a 5xx after sending). The part
  is reconciled with the platform's own record before anything is sent again; never resent on a guess.

Each channel maps its platform's answers onto these in one explicit table (its `errors.py`), not by
exception ancestry.
"""
from __future__ import annotations


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

