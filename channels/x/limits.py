"""Platform facts and layout constants of the X channel (pure: no I/O).

References: weighted counting https://docs.x.com/fundamentals/counting-characters (twitter-text
config https://github.com/twitter/twitter-text/blob/30e2430/config/v3.json); posting
https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets.
"""
from __future__ import annotations

MAX_WEIGHTED = 280  # twitter-text v3 maxWeightedTweetLength; https://docs.x.com/fundamentals/counting-characters
# at most 4 photos per post; https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets
MAX_MEDIA = 4
# twitter-text v3 counting config (https://docs.x.com/fundamentals/counting-characters,
# https://github.com/twitter/twitter-text/blob/30e2430/config/v3.json): code points weigh 2 (CJK, full-width
# punctuation) except the Latin/general ranges below (1); every URL 23; every emoji 2.
TWITTER_TEXT_V3 = {
    "version": 3,
    "max_weighted_tweet_length": MAX_WEIGHTED,
    "scale": 100,
    "default_weight": 200,
    "emoji_parsing_enabled": True,
    "transformed_url_length": 23,
    "ranges": [
        {"start": 0, "end": 4351, "weight": 100},
        {"start": 8192, "end": 8205, "weight": 100},
        {"start": 8208, "end": 8223, "weight": 100},
        {"start": 8242, "end": 8247, "weight": 100},
    ],
}
MODES = ("summary", "full")
LINK_POSITIONS = ("first", "last", "none")
SECTION_TEASER_WEIGHT = 140  # a section tweet takes more sentences only while shorter than this
PARAGRAPH_SEP = "\n\n"
LINE_SEP = "\n"

# --- Delivery knobs: pure values, here so the channel can default to them without importing the
# delivery side (client.py, deliver.py).

# Connect timeout: a request that never connected is safely retried (TransientError).
CONNECT_TIMEOUT = 5.0
# Read timeout: after it the tweet may or may not be posted (UncertainError).
READ_TIMEOUT = 30.0
# "v1.1": tweepy.API.media_upload; "v2": POST /2/media/upload with requests (tweepy has no v2
# upload, https://github.com/tweepy/tweepy/issues/2217). X deprecated v1.1 upload for self-serve
# tiers; whether it still answers is unverified
# (https://developer.x.com/en/docs/twitter-api/v1/media/upload-media/api-reference/post-media-upload,
# https://docs.x.com/x-api/media/quickstart/media-upload-chunked), so the switch is one constant
# (or XChannel(media_api=...)).
MEDIA_UPLOAD_API = "v1.1"
# The values XChannel(media_api=...) accepts: the keys of client.MEDIA_UPLOADERS.
MEDIA_UPLOAD_APIS = ("v1.1", "v2")
CREDENTIAL_VARIABLES = ("PUBLISHER_X_CONSUMER_KEY, PUBLISHER_X_CONSUMER_SECRET, PUBLISHER_X_ACCESS_TOKEN "
                        "and PUBLISHER_X_ACCESS_TOKEN_SECRET")
