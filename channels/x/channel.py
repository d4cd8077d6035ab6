"""The X channel as the publisher sees it: render, checks, preview. Delivery (send) lives in
deliver.py and is imported only when something is sent."""
from __future__ import annotations

import json
from dataclasses import replace

from channels.base import Channel, PartView, PlanSummary, Receipt, SendContext
from channels.x.front_matter import _option, hand_written_tweets
from channels.x.layout import thread_from_groups
from channels.x.limits import (CONNECT_TIMEOUT, LINK_POSITIONS, MAX_MEDIA, MAX_WEIGHTED, MEDIA_UPLOAD_API,
                               MEDIA_UPLOAD_APIS, MODES, READ_TIMEOUT)
from channels.x.modes import SUMMARY_MAX_TWEETS, full_groups, summary_groups
from channels.x.parts import ledger_parts, thread_steps
from channels.x.payload import Tweet, XThread
from channels.x.split import _parse
from publisher.config import Settings
from publisher.language import words
from publisher.post import Post
from publisher.utm import LinkTag, link_tagger


# Past this many posts a thread is an article few read to the end; checks() says so.
LONG_THREAD = 25


class XChannel(Channel):
    name = "x"
    title = "X"
    options = frozenset({"enabled", "mode", "link", "thread"})

    def __init__(self, timeout: tuple[float, float] | None = None, media_api: str | None = None):
        # Delivery knobs (see deliver.py and client.py); tests use short timeouts and both upload APIs.
        self.timeout = timeout or (CONNECT_TIMEOUT, READ_TIMEOUT)
        self.media_api = media_api or MEDIA_UPLOAD_API
        if self.media_api not in MEDIA_UPLOAD_APIS:
            raise ValueError(f"media_api must be one of {sorted(MEDIA_UPLOAD_APIS)}, got {self.media_api!r}")

    def render(self, post: Post, settings: Settings) -> XThread:
        thread = self._untagged_thread(post, settings)
        tag_link = link_tagger(post, settings, self.name)
        return _tagged_thread(thread, tag_link) if tag_link else thread

    def _untagged_thread(self, post: Post, settings: Settings) -> XThread:
        options = post.channel_options("x")
        problems: list[str] = []
        mode = _option(options, "mode", MODES, settings.x_mode, problems)
        link = _option(options, "link", LINK_POSITIONS, settings.x_link_position, problems)
        if "thread" in options:
            tweets, thread_problems = hand_written_tweets(options["thread"])
            problems += thread_problems
            if tweets:
                return XThread(tuple(tweets), mode, True, tuple(problems))
            problems.append("the hand-written thread could not be used; this is the generated one")
        budget = min(SUMMARY_MAX_TWEETS, settings.x_daily_budget)
        groups = summary_groups(post, link, budget) if mode == "summary" else full_groups(post, link, problems)
        # in full mode an image is never dropped: one that finds no room gets a tweet of its own
        tweets, cut_problems = thread_from_groups(groups, words(post.language)["image"] if mode == "full" else "")
        return XThread(tuple(tweets), mode, False, tuple(problems + cut_problems))

    def checks(self, payload: XThread, settings: Settings) -> list[str]:
        problems = list(payload.problems)
        if not payload.tweets:
            problems.append("the thread has no tweets")
        for k, tweet in enumerate(payload.tweets, 1):
            problems.extend(_tweet_problems(k, tweet))
        if len(payload.tweets) > LONG_THREAD:
            problems.append(f"the thread has {len(payload.tweets)} posts; past {LONG_THREAD} few readers follow a "
                            "thread to its end: use summary mode, or write a shorter thread by hand")
        if len(payload.tweets) > settings.x_daily_budget:
            problems.append(f"the thread has {len(payload.tweets)} posts but the daily X budget is "
                            f"{settings.x_daily_budget} (PUBLISHER_X_DAILY_BUDGET); use summary mode, "
                            "shorten it, or raise the budget")
        return problems

    def preview_view(self, payload: XThread) -> dict:
        """The tweets with their weighted length, as X counts it (twitter-text v3)."""
        from channels.x.split import weighted_length

        return {"tweets": [dict(t, weight=weighted_length(t["text"])) for t in self.preview_json(payload)["tweets"]]}

    def preview_json(self, payload: XThread) -> dict:
        return {"tweets": [{"text": t.text, "media": list(t.media)} for t in payload.tweets]}

    def preview_files(self, payload: XThread) -> dict[str, str]:
        return {"x_thread.json": json.dumps(self.preview_json(payload), ensure_ascii=False, indent=2) + "\n"}

    def configured(self, settings: Settings) -> bool:
        return is_configured(settings)

    def missing_settings(self, settings: Settings) -> list[str]:
        return missing_x_settings(settings)

    def planned_parts(self, payload: XThread, settings: Settings) -> list[tuple[str, str]]:
        return ledger_parts(thread_steps(payload))

    def describe_part(self, part: str, total: int) -> PartView:
        return describe_part(part, total)

    def plan_summary(self, payload: XThread, settings: Settings, recipients: int = 0) -> PlanSummary:
        n = len(payload.tweets)
        return PlanSummary(n, f"a thread of {n} {'post' if n == 1 else 'posts'} ({payload.mode} mode)")

    def send(self, payload: XThread, ctx: SendContext) -> Receipt:
        from channels.x.deliver import send_thread

        return send_thread(payload, ctx, timeout=ctx.settings.timeouts(self.timeout), media_api=self.media_api)


def _tagged_thread(thread: XThread, tag_link: LinkTag) -> XThread:
    """Every URL of every tweet (as X finds them: twitter-text) through `tag_link`. X counts each URL
    as 23 characters whatever its length (https://docs.x.com/fundamentals/counting-characters), so
    tagging after the layout leaves every tweet's weight as the layout measured it."""
    from channels.x.twitter_text_import import extract_urls_with_indices

    tweets = []
    for tweet in thread.tweets:
        text = tweet.text
        for found in reversed(extract_urls_with_indices(text)):
            start, end = found["indices"]
            text = text[:start] + tag_link(text[start:end]) + text[end:]
        tweets.append(replace(tweet, text=text))
    return replace(thread, tweets=tuple(tweets))


def _tweet_problems(k: int, tweet: Tweet) -> list[str]:
    problems: list[str] = []
    if not tweet.text.strip():
        if not tweet.media:
            problems.append(f"tweet {k} is empty")
    else:
        parsed = _parse(tweet.text)
        if parsed.weightedLength > MAX_WEIGHTED:
            problems.append(f"tweet {k} is {parsed.weightedLength} weighted characters; X allows {MAX_WEIGHTED}")
        elif not parsed.valid:
            problems.append(f"tweet {k} contains a character X refuses (U+FFFE, U+FEFF or U+FFFF)")
    if len(tweet.media) > MAX_MEDIA:
        problems.append(f"tweet {k} has {len(tweet.media)} images; X allows {MAX_MEDIA} per post")
    for url in tweet.media:
        if not url.startswith(("http://", "https://")):
            problems.append(f"tweet {k} has an image that is not an http(s) URL: {url!r}")
    return problems


def missing_x_settings(settings: Settings) -> list[str]:
    return [variable for variable, value in (
        ("PUBLISHER_X_CONSUMER_KEY", settings.x_consumer_key), ("PUBLISHER_X_CONSUMER_SECRET", settings.x_consumer_secret),
        ("PUBLISHER_X_ACCESS_TOKEN", settings.x_access_token),
        ("PUBLISHER_X_ACCESS_TOKEN_SECRET", settings.x_access_token_secret)) if not value]


def is_configured(settings: Settings) -> bool:
    return not missing_x_settings(settings)


def describe_part(part: str, total_parts: int) -> PartView:
    """"tweet-3" → "tweet 3/N"; "media-3-1" → an image upload for tweet 3 (a step, not counted)."""
    if part.startswith("tweet-"):
        return PartView(f"tweet {part.removeprefix('tweet-')}", id_label="post id")
    if part.startswith("media-"):
        return PartView(f"image for tweet {part.split('-')[1]}", counted=False, listed_when_sent=False)
    return PartView(part)


CHANNEL = XChannel()
