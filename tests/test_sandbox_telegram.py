"""The Telegram stand-in driven with requests, the product's own client (PLATFORMS.md 2.1-2.7)."""
from __future__ import annotations

import html
import io
import json
import threading

import pytest
import requests
from hypothesis import given, settings, strategies as st
from PIL import Image

from publisher.sandbox.common import RunningServer
from publisher.sandbox.telegram_api import DEFAULT_TOKEN, NOT_MODIFIED, make_app, parse_html

CHANNEL_ID = -1001234567890
GROUP = {"id": -1009876543210, "title": "Sandbox Group", "type": "supergroup"}
CHATS = ({"id": CHANNEL_ID, "title": "Sandbox Channel", "username": "sandbox_channel", "type": "channel"}, GROUP)
TIMEOUT = 5.0


class FakeClock:
    def __init__(self, now: float = 1_780_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def image_bytes(width: int = 640, height: int = 480, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 220)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def running_servers():
    """Stopped together at the end: each stop() waits out the 0.5 s serve_forever poll."""
    servers: list[RunningServer] = []
    yield servers
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def serve(clock, running_servers):
    def start(**options) -> RunningServer:
        options.setdefault("clock", clock)
        options.setdefault("chats", CHATS)
        server = RunningServer(make_app(**options)).start()
        running_servers.append(server)
        return server

    return start


@pytest.fixture
def server(serve):
    return serve()


class Bot:
    """What the product does: requests against <base>/bot<token>/<method>."""

    def __init__(self, server: RunningServer, token: str = DEFAULT_TOKEN, timeout: float = TIMEOUT):
        self.base, self.token, self.timeout = server.url, token, timeout

    def url(self, method: str) -> str:
        return f"{self.base}/bot{self.token}/{method}"

    def call(self, method: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return requests.post(self.url(method), **kwargs)

    def ok(self, method: str, **kwargs):
        response = self.call(method, **kwargs)
        body = response.json()
        assert response.status_code == 200 and body["ok"] is True, body
        return body["result"]


def error_of(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert body["ok"] is False and body["error_code"] == response.status_code
    return response.status_code, body["description"]


def messages(server: RunningServer, chat_id: int = CHANNEL_ID) -> list[dict]:
    return requests.get(f"{server.url}/_sandbox/messages", timeout=TIMEOUT).json()["messages"].get(str(chat_id), [])


def set_faults(server: RunningServer, *rules: dict) -> None:
    requests.post(f"{server.url}/_sandbox/faults", json={"rules": list(rules)}, timeout=TIMEOUT).raise_for_status()


# ------------------------------------------------------------------ transport

def test_all_four_encodings_reach_the_method(server):
    bot = Bot(server)
    by_query = requests.get(bot.url("sendMessage"), params={"chat_id": CHANNEL_ID, "text": "query"}, timeout=TIMEOUT)
    assert by_query.json()["result"]["text"] == "query"
    bot.ok("sendMessage", data={"chat_id": CHANNEL_ID, "text": "form",
                                "link_preview_options": json.dumps({"is_disabled": True})})
    bot.ok("sendMessage", json={"chat_id": "@sandbox_channel", "text": "json",
                                "link_preview_options": {"url": "https://example.com", "prefer_small_media": True}})
    bot.ok("sendPhoto", data={"chat_id": str(CHANNEL_ID), "caption": "multipart"},
           files={"photo": ("p.png", image_bytes(), "image/png")})
    stored = messages(server)
    assert [m.get("text") or m.get("caption") for m in stored] == ["query", "form", "json", "multipart"]
    assert stored[1]["link_preview_options"] == {"is_disabled": True}
    assert stored[2]["link_preview_options"]["prefer_small_media"] is True


def test_method_names_are_case_insensitive_and_test_segment_is_accepted(server):
    bot = Bot(server)
    assert bot.ok("SENDMESSAGE", json={"chat_id": CHANNEL_ID, "text": "a"})["message_id"] == 1
    assert bot.ok("test/sendmessage", json={"chat_id": CHANNEL_ID, "text": "b"})["message_id"] == 2


def test_tokens_and_unknown_methods(server):
    assert error_of(Bot(server, token="not-a-token").call("getMe")) == (404, "Not Found")
    assert error_of(Bot(server, token="999:wrong-token").call("getMe")) == (401, "Unauthorized")
    assert error_of(Bot(server).call("sendTelepathy")) == (404, "Not Found")


def test_get_me_and_get_chat(server):
    bot = Bot(server)
    me = bot.ok("getMe")
    assert me["id"] == int(DEFAULT_TOKEN.split(":")[0]) and me["is_bot"] is True
    chat = bot.ok("getChat", json={"chat_id": "@SANDBOX_channel"})
    assert (chat["id"], chat["type"], chat["username"]) == (CHANNEL_ID, "channel", "sandbox_channel")


def test_unknown_chat_and_missing_text(server):
    bot = Bot(server)
    not_found = (400, "Bad Request: chat not found")
    assert error_of(bot.call("sendMessage", json={"chat_id": -100111, "text": "x"})) == not_found
    assert error_of(bot.call("sendMessage", json={"chat_id": "@nobody", "text": "x"})) == not_found
    assert error_of(bot.call("sendMessage", json={"chat_id": CHANNEL_ID}))[1] == "Bad Request: message text is empty"
    assert error_of(bot.call("sendMessage", json={"text": "x"}))[1] == "Bad Request: chat_id is empty"


# ------------------------------------------------------------------ messages

def test_channel_message_shape_and_per_chat_ids(server, clock):
    bot = Bot(server)
    first = bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": "one"})
    group = bot.ok("sendMessage", json={"chat_id": GROUP["id"], "text": "in group"})
    second = bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": "two"})
    assert (first["message_id"], second["message_id"], group["message_id"]) == (1, 2, 1)
    assert first["sender_chat"] == first["chat"] and first["chat"]["type"] == "channel"
    assert first["date"] == int(clock.now) and "from" not in first
    assert group["from"]["is_bot"] is True and "sender_chat" not in group
    assert [m["text"] for m in messages(server)] == ["one", "two"]
    assert [m["text"] for m in messages(server, GROUP["id"])] == ["in group"]


def test_html_entities_use_utf16_offsets(server):
    text = ('🎉 <b>粗体</b> <i>it &amp; "q"</i> <a href="https://example.com/x?a=1&amp;b=2">link</a> '
            '<code>a &lt; b</code>\n<pre><code class="language-python">print(1)</code></pre>')
    result = Bot(server).ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": text, "parse_mode": "HTML"})
    assert result["text"] == '🎉 粗体 it & "q" link a < b\nprint(1)'
    assert result["entities"] == [
        {"offset": 3, "length": 2, "type": "bold"},
        {"offset": 6, "length": 8, "type": "italic"},
        {"offset": 15, "length": 4, "type": "text_link", "url": "https://example.com/x?a=1&b=2"},
        {"offset": 20, "length": 5, "type": "code"},
        {"offset": 26, "length": 8, "type": "pre", "language": "python"},
    ]


@pytest.mark.parametrize(("text", "description"), [
    ("中文<p>段落</p>", 'Unsupported start tag "p" at byte offset 6'),
    ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
    ("plain</b>", "Unexpected end tag at byte offset 5"),
    ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
    ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ("Q&A", "at byte offset 1"),
    ("a&nbsp;b", "at byte offset 1"),
    ("<code><b>x</b></code>", "at byte offset 6"),
    ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
])
def test_invalid_html_is_refused_with_byte_offset(server, text, description):
    status, message = error_of(Bot(server).call("sendMessage", json={"chat_id": CHANNEL_ID, "text": text,
                                                                    "parse_mode": "HTML"}))
    assert status == 400 and message.startswith("Bad Request: can't parse entities: ")
    assert message.endswith(description)
    assert messages(server) == []


def test_numeric_entities_and_allowed_tags_pass(server):
    text = ("&#128512;&#x4E2D; <s>x</s><u>y</u><tg-spoiler>z</tg-spoiler><span class=\"tg-spoiler\">w</span>"
            "<blockquote expandable>q</blockquote><strong><em>n</em></strong>")
    result = Bot(server).ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": text, "parse_mode": "html"})
    assert result["text"] == "😀中 xyzwqn"
    assert [e["type"] for e in result["entities"]] == [
        "strikethrough", "underline", "spoiler", "spoiler", "expandable_blockquote", "bold", "italic"]


def test_lenient_mode_keeps_unknown_entities_like_tdlib(serve):
    result = Bot(serve(strict_html=False)).ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": "Q&A &nbsp; 1 > 0",
                                                                   "parse_mode": "HTML"})
    assert result["text"] == "Q&A &nbsp; 1 > 0"


def test_length_is_counted_after_parsing_in_code_points(server):
    bot = Bot(server)
    emoji = "😀" * 4096  # 8192 UTF-16 units, 4096 code points (2.3)
    assert len(bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": emoji})["text"]) == 4096
    tagged = "<b>" + "x" * 4000 + "</b>" + "&amp;" * 96  # markup does not count
    sent = bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": tagged, "parse_mode": "HTML"})
    assert len(sent["text"]) == 4096
    too_long = bot.call("sendMessage", json={"chat_id": CHANNEL_ID, "text": "中" * 4097})
    assert error_of(too_long) == (400, "Bad Request: message is too long")
    caption = bot.call("sendPhoto", json={"chat_id": CHANNEL_ID, "photo": "https://example.com/p.jpg",
                                          "caption": "<b>" + "c" * 1025 + "</b>", "parse_mode": "HTML"})
    assert error_of(caption) == (400, "Bad Request: message caption is too long")
    assert len(messages(server)) == 2


def test_surrounding_whitespace_is_trimmed_and_entities_follow(server):
    result = Bot(server).ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": "\n\n  <b>hi</b> there \n",
                                                 "parse_mode": "HTML"})
    assert result["text"] == "hi there"
    assert result["entities"] == [{"offset": 0, "length": 2, "type": "bold"}]


def test_edit_message_text(server):
    bot = Bot(server)
    sent = bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": "<b>v1</b>", "parse_mode": "HTML"})
    same = bot.call("editMessageText", json={"chat_id": CHANNEL_ID, "message_id": sent["message_id"],
                                             "text": "<b>v1</b>", "parse_mode": "HTML"})
    assert error_of(same) == (400, NOT_MODIFIED)
    edited = bot.ok("editMessageText", data={"chat_id": CHANNEL_ID, "message_id": sent["message_id"], "text": "v1"})
    assert edited["text"] == "v1" and "entities" not in edited and "edit_date" in edited
    missing = bot.call("editMessageText", json={"chat_id": CHANNEL_ID, "message_id": 99, "text": "x"})
    assert error_of(missing) == (400, "Bad Request: message to edit not found")
    assert messages(server)[0]["text"] == "v1"


# ------------------------------------------------------------------ photos and albums

def test_send_photo_by_upload_url_and_file_id(server):
    bot = Bot(server)
    uploaded = bot.ok("sendPhoto", data={"chat_id": CHANNEL_ID, "caption": "<i>封面</i>", "parse_mode": "HTML"},
                      files={"photo": ("cover.jpg", image_bytes(2000, 1000, "JPEG"), "image/jpeg")})
    sizes = uploaded["photo"]
    assert (sizes[-1]["width"], sizes[-1]["height"]) == (1280, 640)
    assert [s["width"] for s in sizes] == sorted(s["width"] for s in sizes)
    assert uploaded["caption"] == "封面"
    assert uploaded["caption_entities"] == [{"offset": 0, "length": 2, "type": "italic"}]
    by_url = bot.ok("sendPhoto", json={"chat_id": CHANNEL_ID, "photo": "https://example.com/a.png"})
    assert by_url["photo"][-1]["file_id"]
    again = bot.ok("sendPhoto", json={"chat_id": CHANNEL_ID, "photo": sizes[-1]["file_id"]})
    assert again["photo"][-1]["file_id"] == sizes[-1]["file_id"]
    attached = bot.ok("sendPhoto", data={"chat_id": CHANNEL_ID, "photo": "attach://pic"},
                      files={"pic": ("p.png", image_bytes(), "image/png")})
    assert attached["photo"][-1]["width"] == 640


def test_bad_photos_are_refused(server):
    bot = Bot(server)
    broken = bot.call("sendPhoto", data={"chat_id": CHANNEL_ID}, files={"photo": ("x.png", b"not an image")})
    assert error_of(broken) == (400, "Bad Request: IMAGE_PROCESS_FAILED")
    unknown = bot.call("sendPhoto", json={"chat_id": CHANNEL_ID, "photo": "no-such-file-id"})
    assert error_of(unknown) == (400, "Bad Request: wrong file identifier/HTTP URL specified")
    assert messages(server) == []


def test_media_group_with_attachments(server):
    bot = Bot(server)
    media = [{"type": "photo", "media": "attach://one", "caption": "<b>album</b>", "parse_mode": "HTML"},
             {"type": "photo", "media": "https://example.com/2.jpg"},
             {"type": "photo", "media": "attach://three"}]
    result = bot.ok("sendMediaGroup", data={"chat_id": CHANNEL_ID, "media": json.dumps(media)},
                    files={"one": ("1.png", image_bytes(), "image/png"),
                           "three": ("3.png", image_bytes(), "image/png")})
    assert [m["message_id"] for m in result] == [1, 2, 3]
    assert len({m["media_group_id"] for m in result}) == 1
    assert result[0]["caption"] == "album" and "caption" not in result[1]


@pytest.mark.parametrize("count", [1, 11])
def test_media_group_size_is_enforced(server, count):
    media = [{"type": "photo", "media": f"https://example.com/{n}.jpg"} for n in range(count)]
    status, description = error_of(Bot(server).call("sendMediaGroup", json={"chat_id": CHANNEL_ID, "media": media}))
    assert status == 400 and description.startswith("Bad Request: ")
    assert messages(server) == []


# ------------------------------------------------------------------ flood control and faults

def test_flood_bucket_answers_429_with_retry_after(serve, clock):
    server = serve(flood_burst=2, flood_per_sec=1 / 30)
    bot = Bot(server)
    for n in range(2):
        bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": f"m{n}"})
    limited = bot.call("sendMessage", json={"chat_id": CHANNEL_ID, "text": "m2"})
    assert limited.status_code == 429
    assert limited.json() == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 30",
                              "parameters": {"retry_after": 30}}
    bot.ok("sendMessage", json={"chat_id": GROUP["id"], "text": "other chat has its own bucket"})
    clock.now += 30
    bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": "m2"})
    assert [m["text"] for m in messages(server)] == ["m0", "m1", "m2"]


def test_429_fault_carries_retry_after(server):
    set_faults(server, {"match": "sendMessage", "kind": "429", "retry_after": 7})
    bot = Bot(server)
    response = bot.call("sendMessage", json={"chat_id": CHANNEL_ID, "text": "x"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.json()["parameters"] == {"retry_after": 7}
    assert messages(server) == []
    bot.ok("sendMessage", json={"chat_id": CHANNEL_ID, "text": "x"})


def test_server_error_faults(server):
    set_faults(server, {"match": "sendMessage", "kind": "502"}, {"match": "sendPhoto", "kind": "500"})
    bot = Bot(server)
    gateway = bot.call("sendMessage", json={"chat_id": CHANNEL_ID, "text": "x"})
    assert gateway.status_code == 502 and "text/html" in gateway.headers["Content-Type"]
    internal = bot.call("sendPhoto", json={"chat_id": CHANNEL_ID, "photo": "https://example.com/a.png"})
    assert error_of(internal) == (500, "Internal Server Error")
    assert messages(server) == []


def test_timeout_and_drop_faults_raise_in_requests(server):
    set_faults(server, {"match": "sendMessage", "kind": "timeout", "delay": 1.0}, {"match": "getMe", "kind": "drop"})
    with pytest.raises(requests.exceptions.ReadTimeout):
        Bot(server, timeout=0.3).call("sendMessage", json={"chat_id": CHANNEL_ID, "text": "slow"})
    with pytest.raises(requests.exceptions.ConnectionError):
        Bot(server).call("getMe")
    assert messages(server) == []


@pytest.mark.parametrize("rule", [{"kind": "500"}, {"kind": "drop"}, {"kind": "timeout", "delay": 1.0}])
def test_after_faults_store_the_message_the_client_saw_fail(server, rule):
    set_faults(server, {"match": "sendMessage", "after": True, **rule})
    try:
        response = Bot(server, timeout=0.3).call("sendMessage", json={"chat_id": CHANNEL_ID, "text": "maybe"})
        assert response.status_code == 500
    except requests.exceptions.RequestException:
        pass
    assert [m["text"] for m in messages(server)] == ["maybe"]


def test_requests_are_recorded_with_their_encoding(server):
    bot = Bot(server)
    bot.ok("sendMessage", data={"chat_id": CHANNEL_ID, "text": "form"})
    bot.call("sendMessage", json={"chat_id": 1, "text": "json"})
    recorded = requests.get(f"{server.url}/_sandbox/requests", timeout=TIMEOUT).json()["requests"]
    assert recorded[0]["form"] == {"chat_id": str(CHANNEL_ID), "text": "form"}
    assert recorded[1]["json"] == {"chat_id": 1, "text": "json"}


# ------------------------------------------------------------------ properties of the HTML parser

@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_escaped_text_round_trips(text):
    parsed, entities = parse_html(html.escape(text, quote=False))
    assert parsed == text and entities == []


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_bold_entity_spans_the_utf16_length_of_its_text(before, inside):
    parsed, entities = parse_html(f"{html.escape(before)}<b>{html.escape(inside)}</b>")
    assert parsed == before + inside
    assert entities == [{"offset": len(before.encode("utf-16-le")) // 2,
                         "length": len(inside.encode("utf-16-le")) // 2, "type": "bold"}]
