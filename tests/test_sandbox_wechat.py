"""The WeChat stand-in driven with requests, the product's own client (PLATFORMS.md 3.1-3.6), and
the image server that feeds it."""
from __future__ import annotations

import hashlib
import io
import json
import threading

import pytest
import requests
from flask import Flask, request as flask_request
from hypothesis import given, settings, strategies as st
from PIL import Image

from publisher.sandbox import images
from publisher.sandbox.common import RunningServer
from publisher.sandbox.wechat_api import (
    CONTENT_MAX_CHARS,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_TOKEN_TTL,
    make_app,
)

from tests.conftest import SAMPLE

TIMEOUT = 5.0
CHINESE_TITLE = "AI商业化加速与人形机器人量产元年开启"
ENGLISH_CONTENT = (
    '<section><h2 style="font-size:18px">Links &amp; code</h2>'
    '<p>Read <a href="https://mp.weixin.qq.com/s/abc">this</a> — see [1] 🚀.</p>'
    "<pre><code>print(\"\\u4f5c is a JSON escape\")</code></pre>"
    "<ul><li>one<ul><li>nested</li></ul></li></ul>"
    "<table><tr><td>a</td><td>b</td></tr></table>"
    "<blockquote>quoted</blockquote>"
    "<p>https://example.com/a/very/long/url/that/goes/on/and/on?with=query&amp;and=more</p></section>"
)


class FakeClock:
    def __init__(self, now: float = 1_780_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()


@pytest.fixture(scope="module")
def server():
    with RunningServer(make_app(clock=CLOCK)) as running:
        yield running


@pytest.fixture
def api(server):
    requests.post(f"{server.url}/_sandbox/reset", timeout=TIMEOUT).raise_for_status()
    return WeChat(server.url)


class WeChat:
    """A thin caller over requests, the way the WeChat channel talks to the platform."""

    def __init__(self, base: str):
        self.base = base
        self.token = ""

    def fetch_token(self) -> str:
        answer = requests.get(f"{self.base}/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": DEFAULT_APP_ID, "secret": DEFAULT_APP_SECRET}, timeout=TIMEOUT)
        self.token = answer.json()["access_token"]
        return self.token

    def post(self, path: str, body: dict | None = None, *, raw: bytes | None = None, **kwargs) -> requests.Response:
        if body is not None:
            raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        kwargs.setdefault("timeout", TIMEOUT)
        return requests.post(f"{self.base}{path}", params={"access_token": self.token}, data=raw,
                             headers={"Content-Type": "application/json; charset=utf-8"}, **kwargs)

    def call(self, path: str, body: dict | None = None, **kwargs) -> dict:
        answer = self.post(path, body, **kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def upload(self, path: str, data: bytes, filename: str = "image.png") -> dict:
        answer = requests.post(f"{self.base}{path}", params={"access_token": self.token},
                               files={"media": (filename, data)}, timeout=TIMEOUT)
        assert answer.status_code == 200
        return answer.json()

    def thumb(self) -> str:
        return self.upload("/cgi-bin/material/add_material?type=thumb", images.render_image("cover", "jpg", 200, 120),
                           "cover.jpg")["media_id"]

    def body_image(self, name: str = "figure") -> str:
        return self.upload("/cgi-bin/media/uploadimg", images.render_image(name, "png"))["url"]

    def sandbox(self, path: str, method: str = "get", **kwargs) -> dict:
        answer = requests.request(method, f"{self.base}/_sandbox/{path}", timeout=TIMEOUT, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def faults(self, *rules: dict) -> None:
        self.sandbox("faults", "post", json={"rules": list(rules)})

    def configure(self, **options) -> None:
        self.sandbox("config", "post", json=options)


def article(thumb: str, **fields) -> dict:
    return {"title": "Sandbox weekly", "author": "Editor", "content": "<p>Hello, WeChat.</p>",
            "thumb_media_id": thumb, **fields}


def errcode(answer: dict) -> int:
    return answer.get("errcode", 0)


# --- tokens (3.1) ----------------------------------------------------------------------------

def test_token_flow_and_token_errors(api):
    wrong = requests.get(f"{api.base}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": DEFAULT_APP_ID, "secret": "nope"}, timeout=TIMEOUT)
    assert wrong.status_code == 200 and wrong.json()["errcode"] == 40125
    assert " rid: " in wrong.json()["errmsg"]
    token_answer = requests.get(f"{api.base}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": DEFAULT_APP_ID, "secret": DEFAULT_APP_SECRET}, timeout=TIMEOUT)
    assert token_answer.json()["expires_in"] == DEFAULT_TOKEN_TTL
    api.token = token_answer.json()["access_token"]
    assert api.call("/cgi-bin/draft/count", {}) == {"errcode": 0, "errmsg": "ok", "total_count": 0}
    api.token = ""
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 41001
    api.token = "not a token"
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 40014
    api.token = "9_" + "a" * 150
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 40001


def test_token_expires_and_a_new_one_works(api):
    old = api.fetch_token()
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0
    api.sandbox("clock", "post", json={"advance": DEFAULT_TOKEN_TTL + 1})
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 42001
    assert api.fetch_token() != old
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0


def test_a_new_plain_token_leaves_the_old_one_five_minutes(api):
    old = api.fetch_token()
    new = api.fetch_token()
    api.token = old
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0
    api.sandbox("clock", "post", json={"advance": 301})
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 42001
    api.token = new
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0


def test_stable_token_is_reused_until_forced(api):
    body = {"grant_type": "client_credential", "appid": DEFAULT_APP_ID, "secret": DEFAULT_APP_SECRET}
    first = api.call("/cgi-bin/stable_token", body)
    again = api.call("/cgi-bin/stable_token", body)
    assert first["access_token"] == again["access_token"] and again["expires_in"] <= DEFAULT_TOKEN_TTL
    forced = api.call("/cgi-bin/stable_token", {**body, "force_refresh": True})
    assert forced["access_token"] != first["access_token"]
    api.token = first["access_token"]
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 40001
    assert api.call("/cgi-bin/stable_token", {**body, "force_refresh": True})["errcode"] == 45011
    api.sandbox("clock", "post", json={"advance": DEFAULT_TOKEN_TTL - 200})
    rotated = api.call("/cgi-bin/stable_token", body)
    assert rotated["access_token"] != forced["access_token"]  # rotated 5 minutes early...
    api.token = forced["access_token"]
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0  # ...while the old one still works


def test_expire_token_fault_gives_42001_and_refresh_once_recovers(api):
    api.fetch_token()
    api.faults({"match": "draft/count", "kind": "expire_token"})
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 42001
    api.fetch_token()
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0


def test_expire_token_after_the_call_hits_the_next_call(api):
    api.fetch_token()
    thumb = api.thumb()
    api.faults({"match": "draft/add", "kind": "expire_token", "after": True})
    assert "media_id" in api.call("/cgi-bin/draft/add", {"articles": [article(thumb)]})
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 42001


# --- images (3.2) ----------------------------------------------------------------------------

@pytest.mark.parametrize("extension", ["png", "jpg"])
def test_uploadimg_takes_png_and_jpg(api, extension):
    api.fetch_token()
    data = images.render_image("chart", extension, 320, 200)
    answer = api.upload("/cgi-bin/media/uploadimg", data, f"chart.{extension}")
    sha = hashlib.sha256(data).hexdigest()
    assert answer == {"errcode": 0, "errmsg": "ok", "url": f"http://mmbiz.qpic.cn/sandbox/{sha}/0"}
    assert [u["url"] for u in api.sandbox("uploads")["uploads"]] == [answer["url"]]
    assert requests.get(f"{api.base}/_sandbox/media/{sha}", timeout=TIMEOUT).content == data


@pytest.mark.parametrize("extension", ["webp", "gif"])
def test_uploadimg_refuses_other_formats_by_content(api, extension):
    api.fetch_token()
    data = images.render_image("chart", extension)
    assert api.upload("/cgi-bin/media/uploadimg", data, "disguised.png")["errcode"] == 40005
    assert api.sandbox("uploads")["uploads"] == []


def test_uploadimg_refuses_one_megabyte_and_non_images(api):
    api.fetch_token()
    big = images.render_image("photo", "png", big=True)
    assert len(big) > 1024 * 1024
    assert api.upload("/cgi-bin/media/uploadimg", big)["errcode"] == 40009
    assert api.upload("/cgi-bin/media/uploadimg", b"GIF89a? no, text")["errcode"] == 40005
    missing = requests.post(f"{api.base}/cgi-bin/media/uploadimg", params={"access_token": api.token},
                            files={"other": ("a.png", b"x")}, timeout=TIMEOUT)
    assert missing.json()["errcode"] == 41005


def test_add_material_limits(api):
    api.fetch_token()
    thumb = api.upload("/cgi-bin/material/add_material?type=thumb", images.render_image("c", "jpg"), "c.jpg")
    assert thumb["media_id"] and thumb["url"].startswith("http://mmbiz.qpic.cn/")
    assert api.upload("/cgi-bin/material/add_material?type=thumb", images.render_image("c", "png"))["errcode"] == 40005
    big_jpeg = images.render_image("c", "jpg", big=True)
    assert api.upload("/cgi-bin/material/add_material?type=thumb", big_jpeg)["errcode"] == 40009
    gif = api.upload("/cgi-bin/material/add_material?type=image", images.render_image("c", "gif"), "c.gif")
    assert "media_id" in gif
    assert api.upload("/cgi-bin/material/add_material?type=voice", b"x")["errcode"] == 40004


# --- drafts (3.3) ----------------------------------------------------------------------------

def test_draft_add_refuses_requests_json_escapes_and_takes_raw_utf8(api):
    api.fetch_token()
    thumb = api.thumb()
    body = {"articles": [article(thumb, title=CHINESE_TITLE, content="<p>中文内容</p>")]}
    escaped = requests.post(f"{api.base}/cgi-bin/draft/add", params={"access_token": api.token}, json=body,
                            timeout=TIMEOUT)
    assert escaped.status_code == 200 and escaped.json()["errcode"] == 40033
    media_id = api.call("/cgi-bin/draft/add", body)["media_id"]
    stored = api.call("/cgi-bin/draft/get", {"media_id": media_id})["news_item"][0]
    assert stored["title"] == CHINESE_TITLE and stored["content"] == "<p>中文内容</p>"
    assert stored["digest"] == "中文内容"
    assert [d["media_id"] for d in api.sandbox("drafts")["drafts"]] == [media_id]


def test_literal_backslash_u_in_content_is_not_an_escape(api):
    api.fetch_token()
    answer = api.call("/cgi-bin/draft/add", {"articles": [article(api.thumb(), content=ENGLISH_CONTENT)]})
    stored = api.call("/cgi-bin/draft/get", {"media_id": answer["media_id"]})["news_item"][0]
    assert "\\u4f5c" in stored["content"] and "🚀" in stored["content"]


@settings(max_examples=100, deadline=None)
@given(text=st.text(st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_raw_utf8_is_refused_only_for_what_json_escapes(server, text):
    """json.dumps(ensure_ascii=False) still writes control characters as \\u00XX: those get 40033."""
    requests.post(f"{server.url}/_sandbox/reset", timeout=TIMEOUT).raise_for_status()
    client = WeChat(server.url)
    client.fetch_token()
    thumb = client.thumb()
    answer = client.call("/cgi-bin/draft/add", {"articles": [article(thumb, content=f"<p>x</p>{text}")]})
    needs_escape = any(ord(c) < 0x20 and c not in "\b\f\n\r\t" for c in text)
    assert (answer.get("errcode") == 40033) == needs_escape
    if not needs_escape:
        stored = client.call("/cgi-bin/draft/get", {"media_id": answer["media_id"]})["news_item"][0]
        assert stored["content"] == f"<p>x</p>{text}"


def test_scripts_are_stripped(api):
    api.fetch_token()
    content = '<p onclick="steal()">Hi</p><script>alert(1)</script><a href="javascript:go()">x</a>'
    media_id = api.call("/cgi-bin/draft/add", {"articles": [article(api.thumb(), content=content)]})["media_id"]
    stored = api.call("/cgi-bin/draft/get", {"media_id": media_id})["news_item"][0]["content"]
    assert stored == "<p>Hi</p><a>x</a>"


def test_images_must_come_from_uploadimg(api):
    api.fetch_token()
    thumb, url = api.thumb(), api.body_image()
    foreign = f'<p>a</p><img src="https://example.com/x.png"><img src="{url}">'
    refused = api.call("/cgi-bin/draft/add", {"articles": [article(thumb, content=foreign)]})
    assert refused["errcode"] == 45166 and "example.com" in refused["errmsg"]
    own = f'<p>a</p><img src="{url.replace("http:", "https:")}" style="width:100%">'
    assert "media_id" in api.call("/cgi-bin/draft/add", {"articles": [article(thumb, content=own)]})
    api.configure(foreign_images="strip")
    media_id = api.call("/cgi-bin/draft/add", {"articles": [article(thumb, content=foreign)]})["media_id"]
    stored = api.call("/cgi-bin/draft/get", {"media_id": media_id})["news_item"][0]["content"]
    assert stored == f'<p>a</p><img src="{url}">'


def test_cover_must_be_a_permanent_material(api):
    api.fetch_token()
    assert api.call("/cgi-bin/draft/add", {"articles": [article("temporary-media-id")]})["errcode"] == 40007
    assert api.call("/cgi-bin/draft/add", {"articles": [article("")]})["errcode"] == 40007
    assert api.sandbox("drafts")["drafts"] == []


@pytest.mark.parametrize("field, ok_value, bad_value, code", [
    ("title", "题" * 32, "题" * 33, 45003),
    ("author", "作" * 16, "作" * 17, 45110),
    ("digest", "摘" * 128, "摘" * 129, 45004),
    ("content", "x" * (CONTENT_MAX_CHARS - 1), "x" * CONTENT_MAX_CHARS, 45002),
    # the limit is on the text: inline styles do not count, character references count once
    ("content", '<p style="margin:24px 0;color:#3f3f3f">' + "&amp;" * (CONTENT_MAX_CHARS - 1) + "</p>",
     '<p style="margin:24px 0">' + "字" * CONTENT_MAX_CHARS + "</p>", 45002),
    ("content_source_url", "https://e.com/" + "a" * 1010, "https://e.com/" + "a" * 1011, 45005),
])
def test_article_limits(api, field, ok_value, bad_value, code):
    api.fetch_token()
    thumb = api.thumb()
    assert api.call("/cgi-bin/draft/add", {"articles": [article(thumb, **{field: bad_value})]})["errcode"] == code
    assert "media_id" in api.call("/cgi-bin/draft/add", {"articles": [article(thumb, **{field: ok_value})]})


def test_bad_bodies(api):
    api.fetch_token()
    assert api.post("/cgi-bin/draft/add", raw=b"").json()["errcode"] == 44002
    assert api.post("/cgi-bin/draft/add", raw=b"{not json").json()["errcode"] == 47001
    assert api.call("/cgi-bin/draft/add", {"articles": []})["errcode"] == 47001
    assert api.call("/cgi-bin/draft/add", {"articles": [article(api.thumb())] * 9})["errcode"] == 45008


def test_reference_post_needs_its_external_image_rehosted(api):
    """The sample ends with a raw HTML card whose QR code lives on an external host."""
    api.fetch_token()
    thumb = api.thumb()
    paragraphs = "".join(f"<p>{line}</p>" for line in SAMPLE.read_text("utf-8").splitlines() if line.strip())
    refused = api.call("/cgi-bin/draft/add", {"articles": [article(thumb, content=paragraphs)]})
    assert refused["errcode"] == 45166 and "ssl.aicode.cc" in refused["errmsg"]
    rehosted = paragraphs.replace("https://ssl.aicode.cc/mweb/20251226/17667324077992.jpg", api.body_image("qr"))
    media_id = api.call("/cgi-bin/draft/add", {"articles": [article(thumb, content=rehosted)]})["media_id"]
    assert api.call("/cgi-bin/draft/get", {"media_id": media_id})["news_item"][0]["content"] == rehosted


def test_update_and_batchget_for_reconciliation(api):
    api.fetch_token()
    thumb = api.thumb()
    first = api.call("/cgi-bin/draft/add", {"articles": [article(thumb, title="first")]})["media_id"]
    CLOCK.now += 1
    second = api.call("/cgi-bin/draft/add", {"articles": [article(thumb, title="second"), article(thumb)]})["media_id"]
    CLOCK.now += 1
    assert errcode(api.call("/cgi-bin/draft/update", {"media_id": first, "index": 0,
                                                      "articles": article(thumb, title="first, edited")})) == 0
    out_of_range = {"media_id": first, "index": 1, "articles": article(thumb)}
    assert api.call("/cgi-bin/draft/update", out_of_range)["errcode"] == 47001
    unknown = {"media_id": "nope", "index": 0, "articles": article(thumb)}
    assert api.call("/cgi-bin/draft/update", unknown)["errcode"] == 40007
    page = api.call("/cgi-bin/draft/batchget", {"offset": 0, "count": 20, "no_content": 1})
    assert page["total_count"] == 2 and page["item_count"] == 2
    assert [item["media_id"] for item in page["item"]] == [first, second]  # last updated first
    assert page["item"][0]["content"]["news_item"][0]["title"] == "first, edited"
    assert "content" not in page["item"][0]["content"]["news_item"][0]
    tail = api.call("/cgi-bin/draft/batchget", {"offset": 1, "count": 1, "no_content": 0})
    assert tail["item"][0]["content"]["news_item"][1]["content"] == "<p>Hello, WeChat.</p>"
    assert api.call("/cgi-bin/draft/batchget", {"offset": 0, "count": 21})["errcode"] == 47001


# --- publishing (3.4) ------------------------------------------------------------------------

def test_freepublish_polls_then_succeeds(api):
    api.fetch_token()
    api.configure(publish_polls=2)
    media_id = api.call("/cgi-bin/draft/add", {"articles": [article(api.thumb())]})["media_id"]
    submitted = api.call("/cgi-bin/freepublish/submit", {"media_id": media_id})
    assert errcode(submitted) == 0 and submitted["publish_id"] and submitted["msg_data_id"]
    statuses = [api.call("/cgi-bin/freepublish/get", {"publish_id": submitted["publish_id"]}) for _ in range(3)]
    assert [s["publish_status"] for s in statuses] == [1, 1, 0]
    done = statuses[-1]
    assert done["article_detail"]["count"] == 1
    assert done["article_detail"]["item"][0]["article_url"].startswith("https://mp.weixin.qq.com/s/")
    assert api.call("/cgi-bin/draft/count", {})["total_count"] == 0  # published drafts leave the box
    published = api.call("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 10})
    assert published["item"][0]["article_id"] == done["article_id"]


def test_freepublish_scripted_failure_and_permission(api):
    api.fetch_token()
    api.configure(publish_polls=0, publish_status=3)
    media_id = api.call("/cgi-bin/draft/add", {"articles": [article(api.thumb())]})["media_id"]
    publish_id = api.call("/cgi-bin/freepublish/submit", {"media_id": media_id})["publish_id"]
    failed = api.call("/cgi-bin/freepublish/get", {"publish_id": publish_id})
    assert failed["publish_status"] == 3 and failed["fail_idx"] == [1] and "article_id" not in failed
    assert api.call("/cgi-bin/draft/count", {})["total_count"] == 1
    api.configure(publish_authorized=False)
    assert api.call("/cgi-bin/freepublish/submit", {"media_id": media_id})["errcode"] == 48001


def test_publish_job_finish_event_is_posted_to_the_callback(api):
    received: list[bytes] = []
    arrived = threading.Event()
    receiver = Flask("receiver")

    @receiver.post("/wechat/events")
    def event():
        received.append(flask_request.get_data())
        arrived.set()
        return "success"

    with RunningServer(receiver) as callback:
        api.fetch_token()
        api.configure(publish_polls=0, callback_url=f"{callback.url}/wechat/events")
        media_id = api.call("/cgi-bin/draft/add", {"articles": [article(api.thumb())]})["media_id"]
        publish_id = api.call("/cgi-bin/freepublish/submit", {"media_id": media_id})["publish_id"]
        assert arrived.wait(TIMEOUT)
    assert b"<Event><![CDATA[PUBLISHJOBFINISH]]></Event>" in received[0]
    assert f"<publish_id>{publish_id}</publish_id><publish_status>0</publish_status>".encode() in received[0]


# --- quotas, scripted errcodes and faults ----------------------------------------------------

def test_minute_and_day_quotas(api):
    api.fetch_token()
    api.configure(minute_quota=2, day_quota=3)
    assert [errcode(api.call("/cgi-bin/draft/count", {})) for _ in range(3)] == [0, 0, 45011]
    CLOCK.now += 60
    assert [errcode(api.call("/cgi-bin/draft/count", {})) for _ in range(2)] == [0, 45009]
    CLOCK.now += 60
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == 45009
    assert errcode(api.call("/cgi-bin/clear_quota", {"appid": DEFAULT_APP_ID})) == 0
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0


def test_scripted_errcode(api):
    api.fetch_token()
    api.sandbox("errcodes", "post", json={"rules": [{"match": "draft/count", "errcode": -1}]})
    assert api.call("/cgi-bin/draft/count", {})["errcode"] == -1
    assert errcode(api.call("/cgi-bin/draft/count", {})) == 0


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_gateway_errors_before_the_platform_store_nothing(api, kind):
    api.fetch_token()
    thumb = api.thumb()
    api.faults({"match": "draft/add", "kind": kind})
    answer = api.post("/cgi-bin/draft/add", {"articles": [article(thumb)]})
    assert answer.status_code == int(kind)
    assert api.sandbox("drafts")["drafts"] == []
    assert "media_id" in api.call("/cgi-bin/draft/add", {"articles": [article(thumb)]})  # the fault fired once


def test_429_carries_retry_after(api):
    api.fetch_token()
    api.faults({"match": "uploadimg", "kind": "429", "retry_after": 7})
    answer = requests.post(f"{api.base}/cgi-bin/media/uploadimg", params={"access_token": api.token},
                           files={"media": ("a.png", images.render_image("a", "png"))}, timeout=TIMEOUT)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert api.sandbox("uploads")["uploads"] == []


def test_502_after_the_draft_was_stored_is_found_by_batchget(api):
    api.fetch_token()
    thumb = api.thumb()
    api.faults({"match": "draft/add", "kind": "502", "after": True})
    assert api.post("/cgi-bin/draft/add", {"articles": [article(thumb, title="maybe sent")]}).status_code == 502
    page = api.call("/cgi-bin/draft/batchget", {"offset": 0, "count": 20, "no_content": 1})
    assert [item["content"]["news_item"][0]["title"] for item in page["item"]] == ["maybe sent"]


def test_dropped_connection_before_and_after(api):
    api.fetch_token()
    thumb = api.thumb()
    api.faults({"match": "draft/add", "kind": "drop"})
    with pytest.raises(requests.ConnectionError):
        api.post("/cgi-bin/draft/add", {"articles": [article(thumb)]})
    assert api.sandbox("drafts")["drafts"] == []
    api.faults({"match": "draft/add", "kind": "drop", "after": True})
    with pytest.raises(requests.ConnectionError):
        api.post("/cgi-bin/draft/add", {"articles": [article(thumb)]})
    assert len(api.sandbox("drafts")["drafts"]) == 1


def test_timeout_before_and_after(api):
    api.fetch_token()
    thumb = api.thumb()
    api.faults({"match": "draft/add", "kind": "timeout", "delay": 0.4})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/cgi-bin/draft/add", {"articles": [article(thumb)]}, timeout=0.1)
    api.faults({"match": "draft/add", "kind": "timeout", "delay": 0.4, "after": True})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/cgi-bin/draft/add", {"articles": [article(thumb)]}, timeout=0.1)
    assert len(api.sandbox("drafts")["drafts"]) == 1  # only the "after" one reached the platform
    assert [r["path"] for r in api.sandbox("requests")["requests"]].count("/cgi-bin/draft/add") == 2


def test_config_refuses_unknown_options(api):
    answer = requests.post(f"{api.base}/_sandbox/config", json={"publish_pols": 3}, timeout=TIMEOUT)
    assert answer.status_code == 400 and "publish_pols" in answer.json()["error"]
    with pytest.raises(TypeError):
        make_app(token_tll=3)


def test_ip_whitelist_guards_the_token_routes(api):
    api.configure(allowed_ips=["10.0.0.1"])
    answer = requests.get(f"{api.base}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": DEFAULT_APP_ID, "secret": DEFAULT_APP_SECRET}, timeout=TIMEOUT)
    assert answer.json()["errcode"] == 40164 and "127.0.0.1" in answer.json()["errmsg"]
    api.configure(allowed_ips=["127.0.0.1"])
    assert api.fetch_token()


# --- the image server ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image_server():
    with RunningServer(images.make_app()) as running:
        yield running


@pytest.mark.parametrize("extension, pillow_format, content_type", [
    ("png", "PNG", "image/png"), ("jpg", "JPEG", "image/jpeg"),
    ("webp", "WEBP", "image/webp"), ("gif", "GIF", "image/gif"),
])
def test_image_server_formats_sizes_and_determinism(image_server, extension, pillow_format, content_type):
    url = f"{image_server.url}/img/cover.{extension}"
    first = requests.get(url, params={"w": 120, "h": 80}, timeout=TIMEOUT)
    assert first.status_code == 200 and first.headers["Content-Type"] == content_type
    with Image.open(io.BytesIO(first.content)) as picture:
        assert picture.format == pillow_format and picture.size == (120, 80)
    assert requests.get(url, params={"w": 120, "h": 80}, timeout=TIMEOUT).content == first.content
    assert first.content == images.render_image("cover", extension, 120, 80)
    assert requests.get(f"{image_server.url}/img/other.{extension}", params={"w": 120, "h": 80},
                        timeout=TIMEOUT).content != first.content
    big = requests.get(url, params={"big": 1}, timeout=TIMEOUT)
    assert len(big.content) > 1024 * 1024 and big.content == images.render_image("cover", extension, big=True)


def test_image_server_unknowns_and_faults(image_server):
    base = image_server.url
    requests.post(f"{base}/_sandbox/reset", timeout=TIMEOUT)
    assert requests.get(f"{base}/img/cover.bmp", timeout=TIMEOUT).status_code == 404
    assert requests.get(f"{base}/img/missing-chart.png", timeout=TIMEOUT).status_code == 404
    assert requests.get(f"{base}/img/cover.png", params={"w": 0}, timeout=TIMEOUT).status_code == 400
    requests.post(f"{base}/_sandbox/faults", json={"rules": [{"match": "/img/", "kind": "503"},
                                                             {"match": "/img/", "kind": "drop"}]}, timeout=TIMEOUT)
    assert requests.get(f"{base}/img/cover.png", timeout=TIMEOUT).status_code == 503
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/img/cover.png", timeout=TIMEOUT)
    assert requests.get(f"{base}/img/cover.png", timeout=TIMEOUT).status_code == 200
