"""X (Twitter): one post becomes a thread that reads naturally and fits X's weighted 280.

Rendering rules:
- summary mode: tweet 1 is the title plus the point that matters, with the cover image; then one
  tweet per summary point, or per section (heading + first sentence(s)) when there is no summary.
- full mode: the whole article as plain text (headings, paragraphs, lists, quotes, code, table rows,
  raw HTML as text), packed greedily: short paragraphs share a tweet, long ones are split.
- The canonical link appears once: in the last tweet (default), the first, or not at all.
- An over-long piece is split at sentence ends, then clauses, then whitespace, then between two CJK
  characters; never inside a URL, number, @mention, #hashtag or emoji. A word longer than a tweet is
  cut as a last resort and reported by `checks`.
- Numbering " k/N" is a suffix on its own line and counted in the 280.
- A hand-written thread (front matter `channels.x.thread`) is used as is, then checked.

Render side (pure; imports no HTTP, image or database library):
  limits.py        platform facts (weighted 280, 4 images, twitter-text v3 config), modes, delivery knobs
  payload.py       Tweet, XThread
  text.py          Markdown tree -> plain-text blocks (article_blocks)
  split.py         weighted_length, where a text may be cut (levels), split_text, sentences
  layout.py        blocks -> drafts -> numbered tweets, images spread at most 4 per tweet
  modes.py         summary_groups / full_groups, the link line
  front_matter.py  the hand-written thread and the mode / link options
  parts.py         ledger parts of a thread (media-<k>-<n>, tweet-<k>) and their sha256
  channel.py       XChannel (CHANNEL): render, checks, preview
Delivery side (imported only by XChannel.send): the thread is posted through tweepy as one reply
chain, each tweet and each media upload a ledger part, reconciled against the account's timeline
after a crash or an uncertain answer.
  client.py        BaseUrlAdapter, XApi (tweepy.Client), the v1.1 / v2 media uploaders, timeline matching
  errors.py        XFailure, the error table (failure -> outcome), retry_after_of, scrub
  deliver.py       ThreadRun, send_thread: plan, claim, post, settle, reconcile (find_own_post), receipt

Names the single module `channels/x.py` used to hold stay importable from `channels.x`, loaded on
first use (PEP 562), so importing this package never pulls in the delivery side.
"""
from __future__ import annotations

import importlib
from typing import Any

from channels.x.channel import CHANNEL, XChannel

__all__ = ["CHANNEL", "XChannel"]

_HOMES = {
    "limits": ("CONNECT_TIMEOUT", "CREDENTIAL_VARIABLES", "LINE_SEP", "LINK_POSITIONS", "MAX_MEDIA", "MAX_WEIGHTED",
               "MEDIA_UPLOAD_API", "MEDIA_UPLOAD_APIS", "MODES", "PARAGRAPH_SEP", "READ_TIMEOUT",
               "SECTION_TEASER_WEIGHT", "TWITTER_TEXT_V3"),
    "payload": ("Tweet", "XThread"),
    "text": ("Block", "article_blocks"),
    "split": ("ESTIMATE_CEILING", "FORCED_LEVELS", "Fits", "LEVELS", "sentences", "split_text", "weighted_length"),
    "layout": ("HEADING_KINDS", "numbering", "thread_from_groups"),
    "modes": ("full_groups", "link_line", "summary_groups"),
    "front_matter": ("hand_written_tweets",),
    "parts": ("MediaStep", "TweetStep", "ledger_parts", "thread_steps"),
    "channel": ("is_configured",),
    "client": ("BaseUrlAdapter", "MEDIA_UPLOADERS", "MediaUploader", "TIMELINE_FIELDS", "TIMELINE_MAX_PAGES",
               "TIMELINE_PAGE_SIZE", "UPLOAD_FORMATS", "V1MediaUploader", "V2MediaUploader", "XAccount", "XApi",
               "X_API_HOSTS", "X_UPLOAD_HOSTS", "comparable_text", "credentials", "media_category", "replied_to",
               "route_x_hosts", "upload_file"),
    "errors": ("CREDENTIALS", "DUPLICATE", "DUPLICATE_MARK", "ERROR_TABLE", "ErrorRule", "PERMANENT", "TRANSIENT",
               "UNCERTAIN", "XFailure", "classify_failure", "failure_of", "failure_text", "retry_after_of", "scrub"),
    "deliver": ("CLOCK_SKEW", "MEDIA_REUSE_MAX_AGE", "TWEET_URL", "ThreadRun", "adopt_duplicate",
                "credentials_refused", "earliest_own_post", "find_own_post", "finish_tweet", "media_id_for",
                "post_tweet", "send_thread", "sent_tweet_id"),
}
_MOVED = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MOVED})
