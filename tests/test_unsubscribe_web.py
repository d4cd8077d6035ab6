"""The unsubscribe endpoints (RFC 8058 one-click + a confirm page), via Flask's test client and a
real HTTP server on loopback with requests."""
from __future__ import annotations

import pytest
import requests

from publisher.config import load_settings
from publisher.sandbox.common import RunningServer
from publisher.store import Store
from publisher.subscribers import Subscribers, unsubscribe_url
from publisher.web import create_app

SETTINGS = load_settings({"PUBLISHER_SECRET_KEY": "web-secret", "PUBLISHER_SITE_URL": "https://news.example.org"})
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def store(tmp_path):
    opened = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
    yield opened
    opened.dispose()


@pytest.fixture
def subscribers(store):
    return Subscribers(store, SETTINGS)


@pytest.fixture
def app(store):
    return create_app(SETTINGS, store)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def reader(subscribers):
    return subscribers.add("reader@example.com", "Reader").subscriber


def path_for(subscribers, subscriber) -> str:
    return f"/unsubscribe/{subscribers.token_for(subscriber)}"


def status_of(subscribers, email="reader@example.com") -> str:
    return subscribers.get(email).status


def forged_paths(subscribers, reader) -> list[str]:
    token = subscribers.token_for(reader)
    other = Subscribers(subscribers.store, load_settings({"PUBLISHER_SECRET_KEY": "attacker-key"}))
    return [f"/unsubscribe/{token[:-2]}xx", f"/unsubscribe/{token}extra", "/unsubscribe/not-a-token",
            f"/unsubscribe/{other.token_for(reader)}"]


# -- Flask test client -----------------------------------------------------------------------------------

def test_get_shows_a_confirm_form_and_does_not_unsubscribe(client, subscribers, reader):
    path = path_for(subscribers, reader)
    for _ in range(3):  # prefetchers and link scanners fetch more than once
        response = client.get(path)
        assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<form method="post"' in page and f'action="{path}"' in page
    assert "r…r@example.com" in page and "reader@example.com" not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.head(path).status_code == 200
    assert status_of(subscribers) == "active"


def test_one_click_post_urlencoded_unsubscribes_at_once(client, subscribers, reader):
    response = client.post(path_for(subscribers, reader), data=ONE_CLICK,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.get_data() == b""
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert status_of(subscribers) == "unsubscribed"


def test_one_click_post_multipart_unsubscribes_at_once(client, subscribers, reader):
    response = client.post(path_for(subscribers, reader), data=ONE_CLICK, content_type="multipart/form-data")
    assert response.status_code == 200 and "Location" not in response.headers
    assert status_of(subscribers) == "unsubscribed"


def test_confirm_form_post_shows_the_done_page(client, subscribers, reader):
    path = path_for(subscribers, reader)
    response = client.post(path, data={"confirm": "yes"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert status_of(subscribers) == "unsubscribed"
    again = client.get(path)
    assert "already unsubscribed" in again.get_data(as_text=True) and "<form" not in again.get_data(as_text=True)
    assert client.post(path, data=ONE_CLICK).status_code == 200  # repeating is harmless


def test_unsubscribing_one_reader_leaves_the_others(client, subscribers, reader):
    other = subscribers.add("other@example.com").subscriber
    client.post(path_for(subscribers, reader), data=ONE_CLICK)
    assert status_of(subscribers, "other@example.com") == "active"
    assert client.post(path_for(subscribers, other), data=ONE_CLICK).status_code == 200
    assert subscribers.count() == {"active": 0, "pending": 0, "unsubscribed": 2, "bounced": 0}


def test_forged_or_altered_tokens_get_400_and_change_nothing(client, subscribers, reader):
    for path in forged_paths(subscribers, reader):
        assert client.get(path).status_code == 400, path
        assert client.post(path, data=ONE_CLICK).status_code == 400, path
        page = client.post(path, data={"confirm": "yes"})
        assert page.status_code == 400 and "not valid" in page.get_data(as_text=True)
    assert status_of(subscribers) == "active"


def test_a_genuine_token_of_a_deleted_subscriber_is_answered_calmly(client, subscribers, reader):
    path = path_for(subscribers, reader)
    subscribers.remove("reader@example.com", delete_row=True)
    assert client.get(path).status_code == 200
    assert client.post(path, data=ONE_CLICK).status_code == 200


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_healthz_reports_an_unreachable_database(tmp_path):
    broken = Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    response = create_app(SETTINGS, broken).test_client().get("/healthz")
    assert response.status_code == 503


# -- a real HTTP server on loopback ------------------------------------------------------------------------

@pytest.fixture
def server(app):
    with RunningServer(app) as running:
        yield running


def test_over_http_get_never_unsubscribes(server, subscribers, reader):
    url = server.url + path_for(subscribers, reader)
    response = requests.get(url, timeout=10, allow_redirects=False)
    assert response.status_code == 200 and "text/html" in response.headers["Content-Type"]
    assert status_of(subscribers) == "active"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_over_http_one_click_post(server, subscribers, reader, encoding):
    url = server.url + path_for(subscribers, reader)
    if encoding == "urlencoded":
        response = requests.post(url, data=ONE_CLICK, timeout=10, allow_redirects=False)
        assert response.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    else:
        response = requests.post(url, files={"List-Unsubscribe": (None, "One-Click")}, timeout=10,
                                 allow_redirects=False)
        assert response.request.headers["Content-Type"].startswith("multipart/form-data")
    assert response.status_code == 200
    assert "Location" not in response.headers and not response.cookies
    assert len(response.content) < 100
    assert status_of(subscribers) == "unsubscribed"


def test_over_http_forged_token_changes_nothing(server, subscribers, reader):
    for path in forged_paths(subscribers, reader):
        response = requests.post(server.url + path, data=ONE_CLICK, timeout=10, allow_redirects=False)
        assert response.status_code == 400
    assert status_of(subscribers) == "active"


def test_the_link_in_emails_points_at_this_endpoint(subscribers, reader):
    link = unsubscribe_url(SETTINGS, subscribers.token_for(reader))
    assert link.startswith("https://news.example.org/unsubscribe/")
    assert link.removeprefix("https://news.example.org") == path_for(subscribers, reader)
