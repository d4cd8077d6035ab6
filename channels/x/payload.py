"""What the X channel renders: a thread of tweets (text + image URLs)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tweet:
    text: str
    media: tuple[str, ...] = ()  # image URLs


@dataclass(frozen=True)
class XThread:
    tweets: tuple[Tweet, ...]
    mode: str
    hand_written: bool
    problems: tuple[str, ...] = ()  # found while rendering (bad options, cut words); see checks()
