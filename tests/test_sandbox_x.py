"""The X stand-in driven by the real clients: tweepy 4.17 Client (v2) and API (v1.1 upload), and
requests for the v2 upload (PLATFORMS.md 1.1-1.8)."""
from __future__ import annotations

import io
import threading

import pytest
import requests
import tweepy
from PIL import Image
from requests_oauthlib import OAuth1

from publisher.sandbox.common import RunningServer
from publisher.sandbox.x_api import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_ACCESS_TOKEN_SECRET,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_USER_ID,
    DEFAULT_USERNAME,
    DUPLICATE_DETAIL,
    make_app,
    oauth1_signature,
    route_session_to,
)

CLIENT_TIMEOUT = 5.0


class FakeClock:
    def __init__(self, now: float = 1_780_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def png_bytes(width: int = 64, height: int = 48, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(scope="module")
def running_servers():
    """Every server of the module, stopped together at the end: each stop() waits out the
    serve_forever poll interval (0.5 s), which would otherwise dominate the run time."""
    servers: list[RunningServer] = []
    yield servers
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


@pytest.fixture
def serve(clock, running_servers):
    def start(**options) -> RunningServer:
        options.setdefault("clock", clock)
        server = RunningServer(make_app(**options)).start()
        running_servers.append(server)
        return server

    return start


@pytest.fixture
def server(serve):
    return serve()


def tweepy_client(server: RunningServer, consumer_secret: str = DEFAULT_CONSUMER_SECRET,
                  timeout: float = CLIENT_TIMEOUT) -> tweepy.Client:
    client = tweepy.Client(consumer_key=DEFAULT_CONSUMER_KEY, consumer_secret=consumer_secret,
                           access_token=DEFAULT_ACCESS_TOKEN, access_token_secret=DEFAULT_ACCESS_TOKEN_SECRET)
    route_session_to(client.session, server.url, timeout=timeout)
    return client


def tweepy_api(server: RunningServer) -> tweepy.API:
    auth = tweepy.OAuth1UserHandler(DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET,
                                    DEFAULT_ACCESS_TOKEN, DEFAULT_ACCESS_TOKEN_SECRET)
    api = tweepy.API(auth)
    route_session_to(api.session, server.url, timeout=CLIENT_TIMEOUT)
    return api


def stored_tweets(server: RunningServer) -> list[dict]:
    return requests.get(f"{server.url}/_sandbox/tweets", timeout=CLIENT_TIMEOUT).json()["tweets"]


def set_faults(server: RunningServer, *rules: dict) -> None:
    answer = requests.post(f"{server.url}/_sandbox/faults", json={"rules": list(rules)}, timeout=CLIENT_TIMEOUT)
    answer.raise_for_status()


def oauth_session(server: RunningServer) -> requests.Session:
    session = requests.Session()
    session.auth = OAuth1(DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET,
                          DEFAULT_ACCESS_TOKEN, DEFAULT_ACCESS_TOKEN_SECRET)
    route_session_to(session, server.url, timeout=CLIENT_TIMEOUT)
    return session


# ------------------------------------------------------------------ posting

def test_thread_chain_with_media_is_stored_in_order(server):
    client, api = tweepy_client(server), tweepy_api(server)
    media = api.media_upload("chart.png", file=io.BytesIO(png_bytes()))
    first = client.create_tweet(text="1/3 今日 AI 日报：模型、芯片与开源", media_ids=[media.media_id_string])
    second = client.create_tweet(text="2/3 Details https://example.com/a/very/long/path?utm=1",
                                 in_reply_to_tweet_id=first.data["id"])
    third = client.create_tweet(text="3/3 Thanks for reading 🎉", in_reply_to_tweet_id=second.data["id"])

    ids = [first.data["id"], second.data["id"], third.data["id"]]
    assert all(i.isdigit() and len(i) == 19 for i in ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids) and len(set(ids)) == 3
    assert first.data["edit_history_tweet_ids"] == [ids[0]]
    tweets = stored_tweets(server)
    assert [t["id"] for t in tweets] == ids
    assert [t["in_reply_to_tweet_id"] for t in tweets] == [None, ids[0], ids[1]]
    assert tweets[0]["media_ids"] == [media.media_id_string]
    assert {t["conversation_id"] for t in tweets} == {ids[0]}


def test_create_answers_201_with_location_and_rate_headers(server):
    response = tweepy_client(server).create_tweet(text="hello", user_auth=True)
    assert response.data["text"] == "hello"
    raw = tweepy.Client(consumer_key=DEFAULT_CONSUMER_KEY, consumer_secret=DEFAULT_CONSUMER_SECRET,
                        access_token=DEFAULT_ACCESS_TOKEN, access_token_secret=DEFAULT_ACCESS_TOKEN_SECRET,
                        return_type=requests.Response)
    route_session_to(raw.session, server.url, timeout=CLIENT_TIMEOUT)
    reply = raw.create_tweet(text="world")
    assert reply.status_code == 201
    assert reply.headers["Location"].endswith("/2/tweets/" + reply.json()["data"]["id"])
    assert int(reply.headers["x-rate-limit-remaining"]) == int(reply.headers["x-rate-limit-limit"]) - 2
    assert int(reply.headers["x-rate-limit-reset"]) > 0


def test_duplicate_text_is_forbidden_with_the_platform_message(server):
    client = tweepy_client(server)
    client.create_tweet(text="same words")
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="same words")
    assert caught.value.api_messages == [DUPLICATE_DETAIL]
    assert len(stored_tweets(server)) == 1


def test_deleted_post_text_can_be_posted_again(server):
    client = tweepy_client(server)
    first = client.create_tweet(text="again")
    assert client.delete_tweet(first.data["id"]).data == {"deleted": True}
    client.create_tweet(text="again")
    assert [t["deleted"] for t in stored_tweets(server)] == [True, False]


@pytest.mark.parametrize("text", ["中" * 141, "x" * 281, "\ufffe bad char"])
def test_overlong_or_invalid_text_is_refused(server, text):
    with pytest.raises((tweepy.BadRequest, tweepy.Forbidden)):
        tweepy_client(server).create_tweet(text=text)
    assert stored_tweets(server) == []


def test_weighted_limit_counts_cjk_double_and_urls_as_23(server):
    client = tweepy_client(server)
    client.create_tweet(text="中" * 140)
    client.create_tweet(text="see " + "https://example.com/" + "p" * 400)
    assert len(stored_tweets(server)) == 2


def test_reply_to_unknown_post_is_an_invalid_request(server):
    with pytest.raises(tweepy.BadRequest) as caught:
        tweepy_client(server).create_tweet(text="orphan", in_reply_to_tweet_id=1234567890123456789)
    body = caught.value.response.json()
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert body["errors"][0]["parameters"] == {"reply.in_reply_to_tweet_id": ["1234567890123456789"]}


def test_unknown_too_many_and_expired_media_are_refused(serve, clock):
    server = serve(media_expires_after_secs=60)
    client, api = tweepy_client(server), tweepy_api(server)
    with pytest.raises(tweepy.BadRequest, match="media IDs are invalid"):
        client.create_tweet(text="unknown media", media_ids=["1111111111111111111"])
    ids = [api.media_upload(f"p{n}.png", file=io.BytesIO(png_bytes(10 + n))).media_id_string for n in range(5)]
    with pytest.raises(tweepy.BadRequest):
        client.create_tweet(text="five photos", media_ids=ids)
    client.create_tweet(text="four photos", media_ids=ids[:4])
    clock.now += 61
    with pytest.raises(tweepy.BadRequest, match="media IDs are invalid"):
        client.create_tweet(text="stale photo", media_ids=ids[4:])
    assert [t["text"] for t in stored_tweets(server)] == ["four photos"]


# ------------------------------------------------------------------ auth

def test_wrong_consumer_secret_is_unauthorized(server):
    with pytest.raises(tweepy.Unauthorized) as caught:
        tweepy_client(server, consumer_secret="not-the-secret").create_tweet(text="hi")
    assert caught.value.response.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                            "detail": "Unauthorized"}
    assert stored_tweets(server) == []


def test_signature_covers_the_original_url(server):
    session = oauth_session(server)
    ok = session.get("https://api.twitter.com/2/users/me")
    assert ok.status_code == 200
    # The same signed request replayed against another URL no longer verifies.
    forged = requests.get(f"{server.url}/2/users/me", timeout=CLIENT_TIMEOUT, headers={
        "Authorization": ok.request.headers["Authorization"], "X-Original-URL": "https://api.twitter.com/2/users/123"})
    assert forged.status_code == 401


def test_direct_request_without_adapter_is_verified_over_its_own_url(server):
    response = requests.get(f"{server.url}/2/users/me?user.fields=id", timeout=CLIENT_TIMEOUT,
                            auth=OAuth1(DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET,
                                        DEFAULT_ACCESS_TOKEN, DEFAULT_ACCESS_TOKEN_SECRET))
    assert response.status_code == 200, response.text


def test_signature_matches_rfc5849_example():
    # RFC 5849 section 3.4.1 worked example (HMAC-SHA1 key "j49sk3j29djd&dh893hdasih9").
    oauth = {"oauth_consumer_key": "9djdj82h48djs9d2", "oauth_token": "kkk9d7dh3k39sjv7",
             "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "137131201", "oauth_nonce": "7d8f3e4a"}
    url = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
    signature = oauth1_signature("POST", url, oauth, [("c2", ""), ("a3", "2 q")], "j49sk3j29djd", "dh893hdasih9")
    assert signature == "r6/TJjbCOr97/+UU0NsvSne7s5g="


def test_bearer_app_token_is_refused_and_user_bearer_accepted(serve):
    server = serve(oauth2_user_token="user-ctx-token")
    app_client = tweepy.Client(bearer_token="app-only")
    route_session_to(app_client.session, server.url, timeout=CLIENT_TIMEOUT)
    with pytest.raises(tweepy.Forbidden) as caught:
        app_client.create_tweet(text="as app", user_auth=False)
    assert caught.value.response.json()["type"] == "https://api.twitter.com/2/problems/unsupported-authentication"
    user_client = tweepy.Client("user-ctx-token")
    route_session_to(user_client.session, server.url, timeout=CLIENT_TIMEOUT)
    assert user_client.create_tweet(text="as user", user_auth=False).data["text"] == "as user"


def test_missing_auth_is_unauthorized(server):
    response = requests.post(f"{server.url}/2/tweets", json={"text": "anon"}, timeout=CLIENT_TIMEOUT)
    assert response.status_code == 401 and response.json()["title"] == "Unauthorized"


# ------------------------------------------------------------------ rate limits and faults

def test_rate_limit_exhaustion_and_window_reset(serve, clock):
    server = serve(rate_limit=2, rate_window_secs=900)
    client = tweepy_client(server)
    client.create_tweet(text="one")
    client.create_tweet(text="two")
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="three")
    assert caught.value.response.headers["x-rate-limit-remaining"] == "0"
    assert caught.value.reset_time == int(clock.now) + 900
    assert caught.value.response.json()["title"] == "Too Many Requests"
    clock.now += 901
    client.create_tweet(text="three")
    assert [t["text"] for t in stored_tweets(server)] == ["one", "two", "three"]


def test_429_fault_raises_too_many_requests_without_storing(server, clock):
    set_faults(server, {"match": "/2/tweets", "kind": "429", "retry_after": 30})
    client = tweepy_client(server)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="later")
    assert caught.value.reset_time == int(clock.now) + 30
    assert stored_tweets(server) == []
    client.create_tweet(text="later")
    assert len(stored_tweets(server)) == 1


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_error_faults(server, kind):
    set_faults(server, {"match": "/2/tweets", "kind": kind})
    with pytest.raises(tweepy.TwitterServerError) as caught:
        tweepy_client(server).create_tweet(text="boom")
    assert caught.value.response.status_code == int(kind)
    assert stored_tweets(server) == []


def test_timeout_fault_raises_read_timeout(server):
    set_faults(server, {"match": "/2/tweets", "kind": "timeout", "delay": 1.0})
    with pytest.raises(requests.exceptions.ReadTimeout):
        tweepy_client(server, timeout=0.3).create_tweet(text="slow")
    assert stored_tweets(server) == []


def test_drop_fault_raises_connection_error(server):
    set_faults(server, {"match": "/2/tweets", "kind": "drop"})
    with pytest.raises(requests.exceptions.ConnectionError):
        tweepy_client(server).create_tweet(text="dropped")
    assert stored_tweets(server) == []


@pytest.mark.parametrize("rule", [
    {"kind": "503", "after": True},
    {"kind": "drop", "after": True},
    {"kind": "timeout", "delay": 1.0, "after": True},
])
def test_after_faults_store_the_post_the_client_saw_fail(server, rule):
    set_faults(server, {"match": "/2/tweets", **rule})
    client = tweepy_client(server, timeout=0.3)
    with pytest.raises((tweepy.TwitterServerError, requests.exceptions.RequestException)):
        client.create_tweet(text="maybe accepted")
    assert [t["text"] for t in stored_tweets(server)] == ["maybe accepted"]
    # The duplicate answer is how a resend learns the first attempt landed.
    with pytest.raises(tweepy.Forbidden):
        tweepy_client(server).create_tweet(text="maybe accepted")


def test_requests_are_recorded(server):
    tweepy_client(server).create_tweet(text="recorded", in_reply_to_tweet_id=None)
    recorded = requests.get(f"{server.url}/_sandbox/requests", timeout=CLIENT_TIMEOUT).json()["requests"]
    assert [(r["method"], r["path"], r["json"]) for r in recorded] == [("POST", "/2/tweets", {"text": "recorded"})]


def test_reset_forgets_posts(server):
    tweepy_client(server).create_tweet(text="gone soon")
    requests.post(f"{server.url}/_sandbox/reset", timeout=CLIENT_TIMEOUT).raise_for_status()
    assert stored_tweets(server) == []
    tweepy_client(server).create_tweet(text="gone soon")


# ------------------------------------------------------------------ reconciliation reads

def test_users_me_and_timeline_newest_first(server):
    client = tweepy_client(server)
    me = client.get_me(user_auth=True)
    assert (me.data.id, me.data.username) == (int(DEFAULT_USER_ID), DEFAULT_USERNAME)
    root = client.create_tweet(text="root")
    client.create_tweet(text="reply", in_reply_to_tweet_id=root.data["id"])
    timeline = client.get_users_tweets(me.data.id, max_results=5, user_auth=True,
                                       tweet_fields=["created_at", "referenced_tweets", "conversation_id"])
    assert [t.text for t in timeline.data] == ["reply", "root"]
    assert timeline.data[0].referenced_tweets[0].id == int(root.data["id"])
    assert timeline.data[0].conversation_id == int(root.data["id"])
    assert timeline.meta == {"result_count": 2, "newest_id": str(timeline.data[0].id), "oldest_id": root.data["id"]}


def test_timeline_pages_and_bounds(server):
    client = tweepy_client(server)
    for n in range(7):
        client.create_tweet(text=f"post {n}")
    first = client.get_users_tweets(DEFAULT_USER_ID, max_results=5, user_auth=True)
    assert [t.text for t in first.data] == [f"post {n}" for n in range(6, 1, -1)]
    assert "referenced_tweets" not in first.data[0].data
    second = client.get_users_tweets(DEFAULT_USER_ID, max_results=5, pagination_token=first.meta["next_token"],
                                     user_auth=True)
    assert [t.text for t in second.data] == ["post 1", "post 0"] and "next_token" not in second.meta
    with pytest.raises(tweepy.BadRequest, match="max_results"):
        client.get_users_tweets(DEFAULT_USER_ID, max_results=3, user_auth=True)


def test_empty_timeline_has_meta_only(server):
    session = oauth_session(server)
    body = session.get(f"https://api.twitter.com/2/users/{DEFAULT_USER_ID}/tweets").json()
    assert body == {"meta": {"result_count": 0}}


# ------------------------------------------------------------------ media upload

def test_v1_simple_upload_reports_image_type_and_size(server):
    media = tweepy_api(server).media_upload("cover.jpg", file=io.BytesIO(png_bytes(120, 80, "JPEG")),
                                            media_category="tweet_image")
    assert media.media_id == int(media.media_id_string)
    assert media.image == {"image_type": "image/jpeg", "w": 120, "h": 80}
    assert media.expires_after_secs == 86400 and media.media_key == f"3_{media.media_id_string}"


def test_v1_upload_refuses_non_images(server):
    with pytest.raises(tweepy.BadRequest, match="media type unrecognized"):
        tweepy_api(server).media_upload("notes.png", file=io.BytesIO(b"definitely not an image"))


def test_v2_upload_with_requests(server):
    session = oauth_session(server)
    response = session.post("https://api.x.com/2/media/upload", data={"media_category": "tweet_image"},
                            files={"media": ("a.png", png_bytes(), "image/png")})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"id", "media_key", "expires_after_secs", "size"}
    assert data["size"] == len(png_bytes()) and data["media_key"] == f"3_{data['id']}"
    tweet = tweepy_client(server).create_tweet(text="v2 media", media_ids=[data["id"]])
    assert stored_tweets(server)[0]["media_ids"] == [data["id"]] and tweet.data["text"] == "v2 media"
    refused = session.post("https://api.x.com/2/media/upload", files={"media": ("x.png", b"<html>", "image/png")})
    assert refused.status_code == 400 and refused.json()["title"] == "Invalid Request"
