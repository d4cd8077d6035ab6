"""Ledger parts of a thread, in sending order: "media-<k>-<n>" (image n of tweet k) and "tweet-<k>",
each with the sha256 of its content (pure: no I/O)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from channels.x.payload import Tweet, XThread


@dataclass(frozen=True)
class MediaStep:
    part: str
    sha: str
    url: str


@dataclass(frozen=True)
class TweetStep:
    number: int  # 1-based, as in "tweet 3"
    tweet: Tweet
    part: str
    sha: str
    media: tuple[MediaStep, ...]


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def thread_steps(payload: XThread) -> list[TweetStep]:
    return [TweetStep(number, tweet, f"tweet-{number}", _sha({"text": tweet.text, "media": list(tweet.media)}),
                      tuple(MediaStep(f"media-{number}-{n}", _sha({"url": url}), url)
                            for n, url in enumerate(tweet.media, 1)))
            for number, tweet in enumerate(payload.tweets, 1)]


def ledger_parts(steps: list[TweetStep]) -> list[tuple[str, str]]:
    """(part, content sha256) in sending order: a tweet's images, then the tweet."""
    return [pair for step in steps for pair in [*((m.part, m.sha) for m in step.media), (step.part, step.sha)]]
