"""The stand-in's defaults and the X API's limits it enforces, with the pages they come from:
  POST /2/tweets  https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets
  media upload    https://developer.x.com/en/docs/x-api/v1/media/upload-media/api-reference/post-media-upload
  rate limits     https://developer.x.com/en/docs/x-api/rate-limits
"""
from __future__ import annotations

DEFAULT_CONSUMER_KEY = "sandbox-consumer-key"
DEFAULT_CONSUMER_SECRET = "sandbox-consumer-secret"
DEFAULT_USER_ID = "1500000000000000001"
DEFAULT_ACCESS_TOKEN = f"{DEFAULT_USER_ID}-sandbox-access-token"
DEFAULT_ACCESS_TOKEN_SECRET = "sandbox-access-token-secret"
DEFAULT_USER_NAME = "Sandbox Newsletter"
DEFAULT_USERNAME = "sandbox_news"
# Real POST /2/tweets allows 100 per 15 min per user on paid tiers (rate limits); the default is generous
# so tests never trip it by accident. Both are per user token and per endpoint.
DEFAULT_RATE_LIMIT = 1000
DEFAULT_RATE_WINDOW_SECS = 900
MEDIA_EXPIRES_AFTER_SECS = 86400  # media upload: simple-upload "expires_after_secs"
MAX_MEDIA_PER_POST = 4  # POST /2/tweets: at most 4 photos per post
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # v1.1 simple upload: images up to 5 MB
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
TIMELINE_MAX_RESULTS = (5, 100)  # GET /2/users/:id/tweets max_results bounds, default 10
FIRST_TWEET_ID = 1_881_000_000_000_000_000  # 19-digit snowflake-like ids, as X issues
FIRST_MEDIA_ID = 1_880_000_000_000_000_000
SNOWFLAKE_MS = 1 << 22  # one millisecond in a snowflake: ids increase like real ones
X_HOSTS = ("https://api.twitter.com", "https://upload.twitter.com", "https://api.x.com", "https://upload.x.com")
PROBLEMS = "https://api.twitter.com/2/problems/"
