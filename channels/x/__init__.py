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
  weight.py        the weighted length and validity parse_tweet gives, without its per-character loop
  emoji.py         emoji found from twitter-text's own data file (no compiled emoji regex)
  twitter_text_import.py  twitter-text loaded only when a text needs it, without setuptools
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

Importing this package loads the render side only; import submodules by their names.
"""
from __future__ import annotations

from channels.x.channel import CHANNEL, XChannel

__all__ = ["CHANNEL", "XChannel"]
