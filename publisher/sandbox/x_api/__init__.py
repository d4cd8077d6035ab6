"""Loopback stand-in of the X API v2 (posts, users) and of the media upload endpoints
(https://developer.x.com/en/docs/x-api), served on one address.

Routes: POST /2/tweets, DELETE /2/tweets/<id>, GET /2/users/me, GET /2/users/<id>/tweets,
POST /1.1/media/upload.json (simple upload), POST /2/media/upload (simple upload);
GET /_sandbox/tweets plus the control routes of common.py.

Clients reach it through `route_session_to(session, base_url)`: tweepy hard-codes
https://api.twitter.com, so an adapter rewrites the URL and keeps the signed one in
`X-Original-URL`, over which the OAuth 1.0a signature is verified.

Faults (common.py rules) hit every platform route: "429" (X's problem body and x-rate-limit-*
headers), "500"/"502"/"503" (problem body), "expire_token" (401), "drop" (connection closed),
"timeout" (sleeps `delay`, then answers 504 without processing; with "after" the request is
processed, then the normal answer comes `delay` seconds late). With "after": true the request is
processed and stored first, then the fault answers.

Modules: limits (defaults and the API's limits), errors (X's error bodies), state (account and
store), client (route_session_to), oauth (OAuth 1.0a), posts (post and media checks, the
timeline), app (make_app: the routes, rate windows and faults).
"""
from __future__ import annotations

from publisher.sandbox.x_api.app import make_app
from publisher.sandbox.x_api.client import SandboxAdapter, route_session_to
from publisher.sandbox.x_api.errors import (
    APP_ONLY_DETAIL, DUPLICATE_DETAIL, UNAUTHORIZED, XApiError, invalid_request, problem,
)
from publisher.sandbox.x_api.limits import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_ACCESS_TOKEN_SECRET,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_WINDOW_SECS,
    DEFAULT_USERNAME,
    DEFAULT_USER_ID,
    DEFAULT_USER_NAME,
    FIRST_MEDIA_ID,
    FIRST_TWEET_ID,
    IMAGE_FORMATS,
    MAX_IMAGE_BYTES,
    MAX_MEDIA_PER_POST,
    MEDIA_EXPIRES_AFTER_SECS,
    PROBLEMS,
    SNOWFLAKE_MS,
    TIMELINE_MAX_RESULTS,
    X_HOSTS,
)
from publisher.sandbox.x_api.oauth import authenticate, oauth1_signature
from publisher.sandbox.x_api.state import XAccount, XStore

# What was importable from publisher.sandbox.x_api when it was one module.
__all__ = [
    "APP_ONLY_DETAIL", "DEFAULT_ACCESS_TOKEN", "DEFAULT_ACCESS_TOKEN_SECRET", "DEFAULT_CONSUMER_KEY",
    "DEFAULT_CONSUMER_SECRET", "DEFAULT_RATE_LIMIT", "DEFAULT_RATE_WINDOW_SECS", "DEFAULT_USERNAME",
    "DEFAULT_USER_ID", "DEFAULT_USER_NAME", "DUPLICATE_DETAIL", "FIRST_MEDIA_ID", "FIRST_TWEET_ID",
    "IMAGE_FORMATS", "MAX_IMAGE_BYTES", "MAX_MEDIA_PER_POST", "MEDIA_EXPIRES_AFTER_SECS", "PROBLEMS",
    "SNOWFLAKE_MS", "TIMELINE_MAX_RESULTS", "UNAUTHORIZED", "X_HOSTS", "SandboxAdapter", "XAccount",
    "XApiError", "XStore", "authenticate", "invalid_request", "make_app", "oauth1_signature", "problem",
    "route_session_to",
]
