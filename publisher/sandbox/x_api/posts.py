"""What X accepts and answers for posts and media: the checks of POST /2/tweets, the user
timeline, how a post reads back, and image uploads.
https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets
https://developer.x.com/en/docs/x-api/v1/media/upload-media/api-reference/post-media-upload
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
from datetime import datetime, timezone
from typing import Any, Callable

from flask import request
from PIL import Image, UnidentifiedImageError
from channels.x.twitter_text_import import parse_tweet  # twitter-text, loaded without setuptools

from publisher.sandbox.x_api.errors import DUPLICATE_DETAIL, XApiError, invalid_request, problem
from publisher.sandbox.x_api.limits import (
    FIRST_MEDIA_ID,
    IMAGE_FORMATS,
    MAX_IMAGE_BYTES,
    MAX_MEDIA_PER_POST,
    SNOWFLAKE_MS,
    TIMELINE_MAX_RESULTS,
)
from publisher.sandbox.x_api.state import XAccount, XStore


def _validated_tweet(body: Any, store: XStore, account: XAccount, media_ttl: float, now: float) -> dict[str, Any]:
    """The post to store, or the error X answers for this body."""
    if not isinstance(body, dict):
        raise invalid_request("Request body must be a JSON object.", {"body": []})
    text = body.get("text") or ""
    media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids") or []]
    reply_to = str((body.get("reply") or {}).get("in_reply_to_tweet_id") or "") or None
    if not isinstance(text, str) or (not text and not media_ids):
        raise invalid_request("Post text is required when no media is attached.", {"text": [text]})
    if len(media_ids) > MAX_MEDIA_PER_POST:
        raise invalid_request(f"[media.media_ids] size must be between 1 and {MAX_MEDIA_PER_POST}.",
                              {"media.media_ids": media_ids})
    for media_id in media_ids:
        media = store.media.get(media_id)
        if media is None or now >= media["created"] + media_ttl:
            raise invalid_request("Your media IDs are invalid.", {"media.media_ids": media_ids})
    if reply_to is not None and store.tweet(reply_to) is None:
        raise invalid_request("The Tweet you are replying to has been deleted or is not visible to you.",
                              {"reply.in_reply_to_tweet_id": [reply_to]})
    if text and not parse_tweet(text).valid:
        raise problem(403, "Forbidden", "You are not permitted to create a Tweet with more than 280 weighted "
                      "characters or with invalid characters.")
    author = account.user["id"]
    if text and any(t["text"] == text and t["author_id"] == author and not t["deleted"] for t in store.tweets):
        raise problem(403, "Forbidden", DUPLICATE_DETAIL)
    created_at = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"text": text, "author_id": author, "created_at": created_at, "in_reply_to_tweet_id": reply_to,
            "media_ids": media_ids, "deleted": False}


def _timeline(store: XStore, user_id: str) -> dict[str, Any]:
    """GET /2/users/:id/tweets: newest first, default fields plus the tweet.fields asked for."""
    raw_max = request.args.get("max_results", "10")
    low, high = TIMELINE_MAX_RESULTS
    if not raw_max.isdigit() or not low <= int(raw_max) <= high:
        raise invalid_request(f"The `max_results` query parameter value [{raw_max}] is not between {low} and {high}",
                              {"max_results": [raw_max]})
    wanted = set(filter(None, request.args.get("tweet.fields", "").split(",")))
    posts = [t for t in reversed(store.tweets) if t["author_id"] == user_id and not t["deleted"]]
    token = request.args.get("pagination_token", "")
    start = int(token[len("page"):]) if token.startswith("page") and token[4:].isdigit() else 0
    page = posts[start:start + int(raw_max)]
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
    if start + len(page) < len(posts):
        meta["next_token"] = f"page{start + len(page)}"
    if start:
        meta["previous_token"] = f"page{max(start - int(raw_max), 0)}"
    body: dict[str, Any] = {"data": [_public_tweet(t, wanted, store) for t in page]} if page else {}
    body["meta"] = meta
    return body


_LINK = re.compile(r"https?://\S+")


def _as_x_shows(tweet: dict[str, Any]) -> str:
    """A post's text as X answers reads: &, < and > escaped, every link a t.co link, and one more
    t.co link for attached media (https://developer.x.com/en/docs/x-api/data-dictionary/object-model/tweet)."""
    text = _LINK.sub(lambda m: "https://t.co/" + hashlib.sha256(m.group(0).encode()).hexdigest()[:10], tweet["text"])
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if tweet["media_ids"]:
        text += f" https://t.co/m{tweet['id'][-9:]}"
    return text


def _public_tweet(tweet: dict[str, Any], wanted: set[str], store: XStore) -> dict[str, Any]:
    public = {"id": tweet["id"], "text": _as_x_shows(tweet), "edit_history_tweet_ids": tweet["edit_history_tweet_ids"]}
    reply_to, media_ids = tweet["in_reply_to_tweet_id"], tweet["media_ids"]
    optional = {
        "author_id": tweet["author_id"],
        "created_at": tweet["created_at"],
        "conversation_id": tweet["conversation_id"],
        "attachments": {"media_keys": [store.media[m]["media_key"] for m in media_ids]} if media_ids else None,
        "referenced_tweets": [{"type": "replied_to", "id": reply_to}] if reply_to else None,
        "in_reply_to_user_id": tweet["author_id"] if reply_to else None,
    }
    public.update({k: v for k, v in optional.items() if k in wanted and v is not None})
    return public


def _upload_bytes() -> bytes | None:
    upload = request.files.get("media")
    if upload is not None:
        return upload.read()
    encoded = request.form.get("media_data")
    return base64.b64decode(encoded) if encoded else None


def _store_upload(store: XStore, data: bytes | None, category: str | None, now: float, ttl: float,
                  refuse: Callable[[str], XApiError]) -> dict[str, Any]:
    """Decode the image with Pillow and remember it; non-images are refused."""
    if not data:
        raise refuse("media parameter is missing.")
    if len(data) > MAX_IMAGE_BYTES:
        raise refuse(f"File size exceeds {MAX_IMAGE_BYTES} bytes.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise refuse("media type unrecognized.") from None
    if image_format not in IMAGE_FORMATS:
        raise refuse("media type unrecognized.")
    media_id = str(FIRST_MEDIA_ID + len(store.media) * SNOWFLAKE_MS)
    media = {"id": media_id, "media_key": f"3_{media_id}", "size": len(data), "type": IMAGE_FORMATS[image_format],
             "w": width, "h": height, "category": category, "created": now}
    store.media[media_id] = media
    return media
