"""The channel's front-matter options: a hand-written thread, and mode / link values."""
from __future__ import annotations

from typing import Any, Mapping

from channels.x.payload import Tweet


def hand_written_tweets(raw: object) -> tuple[list[Tweet], list[str]]:
    """Tweets of `channels.x.thread` (text, or {text, media}) as written, and what is wrong with it."""
    where = "channels.x.thread"
    if not isinstance(raw, list):
        return [], [f"{where} should be a list of tweets (text, or text + media); got {_kind(raw)}"]
    if not raw:
        return [], [f"{where} is empty; write at least one tweet or remove it"]
    tweets: list[Tweet] = []
    problems: list[str] = []
    for number, item in enumerate(raw, 1):
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            tweets.append(Tweet(str(item)))
            continue
        if not isinstance(item, Mapping):
            problems.append(f"{where} item {number} should be text or {{text, media}}; got {_kind(item)}")
            continue
        unknown = sorted(str(k) for k in item if k not in ("text", "media"))
        if unknown:
            problems.append(f"{where} item {number} has unknown key(s) {', '.join(unknown)}; "
                            "expected text and media")
        text = item.get("text")
        if text is None:  # an image-only post is allowed
            text = ""
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            problems.append(f"{where} item {number}: text should be text; got {_kind(text)}")
            text = ""
        media = item.get("media") or []
        if isinstance(media, str):
            media = [media]
        if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
            problems.append(f"{where} item {number}: media should be a list of image URLs")
            media = []
        tweets.append(Tweet(str(text), tuple(media)))
    return tweets, problems


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def _option(options: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str,
            problems: list[str]) -> str:
    value = options.get(key)
    if value is None:
        return default
    if value is False and "none" in allowed:
        return "none"
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    problems.append(f"channels.x.{key} is {value!r}; expected one of {', '.join(allowed)} "
                    f"(using {default!r})")
    return default
