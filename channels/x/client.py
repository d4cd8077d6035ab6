"""Delivery: the X client. tweepy.Client (v2, OAuth 1.0a user context) routed to the configured
hosts, the two media uploaders (v1.1 through tweepy.API, v2 through requests), and how posts read
back from the account's timeline compare with ours.
"""
from __future__ import annotations

import html
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Protocol
from urllib.parse import urlsplit

import requests
import tweepy
from PIL import Image
from requests_oauthlib import OAuth1
from channels.x.twitter_text_import import extract_urls_with_indices

from channels.x.limits import MEDIA_UPLOAD_APIS
from publisher.config import Settings
from publisher.image_fetch import FetchedImage

# tweepy hard-codes these hosts (https://github.com/tweepy/tweepy/blob/c05ba98/tweepy/client.py,
# https://github.com/tweepy/tweepy/blob/c05ba98/tweepy/api.py); X's docs now name the x.com ones
# (https://docs.x.com/x-api/posts/manage-tweets/migrate/overview,
# https://docs.x.com/x-api/media/quickstart/media-upload-chunked).
X_API_HOSTS = ("https://api.twitter.com", "https://api.x.com")
X_UPLOAD_HOSTS = ("https://upload.twitter.com", "https://upload.x.com")
# Image formats X accepts for photos
# (https://developer.x.com/en/docs/twitter-api/v1/media/upload-media/api-reference/post-media-upload);
# anything else Pillow reads is converted to PNG.
UPLOAD_FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "GIF": ("gif", "image/gif"),
                  "WEBP": ("webp", "image/webp")}
# GET /2/users/:id/tweets takes max_results 5..100
# (https://developer.x.com/en/docs/x-api/tweets/timelines/api-reference/get-users-id-tweets);
# a few pages cover any realistic gap.
TIMELINE_PAGE_SIZE = 100
TIMELINE_MAX_PAGES = 3
TIMELINE_FIELDS = ["referenced_tweets", "created_at", "conversation_id"]


def credentials(settings: Settings) -> tuple[str, str, str, str]:
    return (settings.x_consumer_key, settings.x_consumer_secret, settings.x_access_token,
            settings.x_access_token_secret)


# --- reaching the configured hosts ---

class BaseUrlAdapter(requests.adapters.HTTPAdapter):
    """Sends requests meant for an X host to `base_url` (a proxy, or the sandbox), with the URL the
    client signed in `X-Original-URL`: OAuth 1.0a signs the original https URL
    (https://developer.x.com/en/docs/authentication/oauth-1-0a/creating-a-signature).
    Also applies `timeout` when the client sets none (tweepy.Client never does)."""

    def __init__(self, base_url: str, timeout: float | tuple[float, float] | None = None):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        original = request.url or ""
        parts = urlsplit(original)
        target = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        if target != original:
            request.headers["X-Original-URL"] = original
            request.url = target
        return super().send(request, **kwargs)


def route_x_hosts(session: requests.Session, settings: Settings, timeout: tuple[float, float]) -> None:
    """Point the API hosts at settings.x_api_base and the upload hosts at settings.x_upload_base."""
    for hosts, base in ((X_API_HOSTS, settings.x_api_base), (X_UPLOAD_HOSTS, settings.x_upload_base)):
        for host in hosts:
            session.mount(host, BaseUrlAdapter(base, timeout))


# --- media upload ---

class MediaUploader(Protocol):
    def upload(self, image: FetchedImage) -> str:
        """Upload one image; its media id. Raises tweepy.HTTPException or a requests error."""

    def close(self) -> None: ...


def upload_file(image: FetchedImage) -> tuple[str, bytes, str]:
    """(file name, bytes, MIME type) of `image` in a format X accepts."""
    if image.format in UPLOAD_FORMATS:
        extension, mime = UPLOAD_FORMATS[image.format]
        return f"media.{extension}", image.data, mime
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(image.data)) as picture:
        picture.convert("RGBA").save(buffer, "PNG")
    return "media.png", buffer.getvalue(), "image/png"


def media_category(mime: str) -> str:
    # media_category values: https://docs.x.com/x-api/media/quickstart/media-upload-chunked
    return "tweet_gif" if mime == "image/gif" else "tweet_image"


class V1MediaUploader:
    """tweepy.API.media_upload: POST https://upload.twitter.com/1.1/media/upload.json
    (https://developer.x.com/en/docs/twitter-api/v1/media/upload-media/api-reference/post-media-upload)."""

    def __init__(self, settings: Settings, timeout: tuple[float, float]):
        self.api = tweepy.API(tweepy.OAuth1UserHandler(*credentials(settings)), timeout=timeout)
        route_x_hosts(self.api.session, settings, timeout)

    def upload(self, image: FetchedImage) -> str:
        name, data, mime = upload_file(image)
        media = self.api.media_upload(name, file=io.BytesIO(data), media_category=media_category(mime))
        return str(media.media_id_string)

    def close(self) -> None:
        self.api.session.close()


class V2MediaUploader:
    """POST {x_upload_base}/2/media/upload, multipart `media` + media_category, OAuth 1.0a
    (https://docs.x.com/x-api/media/quickstart/media-upload-chunked)."""

    def __init__(self, settings: Settings, timeout: tuple[float, float]):
        self.url = settings.x_upload_base.rstrip("/") + "/2/media/upload"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = OAuth1(*credentials(settings))
        route_x_hosts(self.session, settings, timeout)

    def upload(self, image: FetchedImage) -> str:
        name, data, mime = upload_file(image)
        response = self.session.post(self.url, data={"media_category": media_category(mime)},
                                     files={"media": (name, data, mime)}, timeout=self.timeout)
        body = _json_object(response)
        media_id = (body.get("data") or {}).get("id") if isinstance(body.get("data"), dict) else None
        if not 200 <= response.status_code < 300 or not media_id:
            # tweepy's exception reads X's problem JSON the same way for both APIs.
            raise tweepy.HTTPException(response, response_json=body)
        return str(media_id)

    def close(self) -> None:
        self.session.close()


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


MEDIA_UPLOADERS: dict[str, Callable[[Settings, tuple[float, float]], MediaUploader]] = {
    "v1.1": V1MediaUploader,
    "v2": V2MediaUploader,
}

assert tuple(MEDIA_UPLOADERS) == MEDIA_UPLOAD_APIS  # XChannel checks media_api against limits.py


# --- the client ---

@dataclass(frozen=True)
class XAccount:
    id: str
    username: str


class XApi:
    """tweepy.Client (v2, OAuth 1.0a user context) and the media uploader, routed to the
    configured hosts. Methods raise tweepy's or requests' exceptions; send() classifies them."""

    def __init__(self, settings: Settings, timeout: tuple[float, float], media_api: str):
        key, secret, token, token_secret = credentials(settings)
        self.secrets = (secret, token_secret, token, key)
        self.client = tweepy.Client(consumer_key=key, consumer_secret=secret, access_token=token,
                                    access_token_secret=token_secret, wait_on_rate_limit=False)
        route_x_hosts(self.client.session, settings, timeout)
        self.uploader = MEDIA_UPLOADERS[media_api](settings, timeout)

    def close(self) -> None:
        self.client.session.close()
        self.uploader.close()

    def me(self) -> XAccount:
        user = self.client.get_me(user_auth=True).data
        return XAccount(str(user.id), str(user.username))

    def create_tweet(self, text: str, reply_to: str | None, media_ids: list[str]) -> str | None:
        """The new post's id (None if X answered without one)."""
        response = self.client.create_tweet(text=text or None, in_reply_to_tweet_id=reply_to,
                                            media_ids=media_ids or None, user_auth=True)
        data = response.data if isinstance(response.data, Mapping) else {}
        return str(data["id"]) if data.get("id") else None

    def recent_posts(self, user_id: str, since: datetime | None) -> Iterable[tweepy.Tweet]:
        """The account's posts, newest first, back to `since` (or TIMELINE_MAX_PAGES pages)."""
        token = None
        for _ in range(TIMELINE_MAX_PAGES):
            page = self.client.get_users_tweets(user_id, max_results=TIMELINE_PAGE_SIZE, tweet_fields=TIMELINE_FIELDS,
                                                pagination_token=token, user_auth=True)
            for post in page.data or []:
                if since is not None and post.created_at is not None and post.created_at < since:
                    return
                yield post
            token = (page.meta or {}).get("next_token")
            if not token:
                return


# --- matching posts on the timeline ---

def comparable_text(text: str) -> str:
    """Text as X's timeline gives it back and ours compare equal: X answers with &amp; &lt; &gt;
    escaped, every link replaced by a t.co one, and a t.co link to attached media appended; so
    entities are decoded, links removed and whitespace collapsed."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    for url in sorted(extract_urls_with_indices(text), key=lambda u: u["indices"][0], reverse=True):
        start, end = url["indices"]
        text = text[:start] + " " + text[end:]
    return " ".join(text.split())


def replied_to(post: tweepy.Tweet) -> str | None:
    return next((str(ref.id) for ref in post.referenced_tweets or [] if ref.type == "replied_to"), None)
