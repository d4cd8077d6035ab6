"""The SMTP stand-in driven with the real smtplib (PLATFORMS.md 4.1, 4.5, 4.8)."""
from __future__ import annotations

import smtplib
import socket
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
import requests

from publisher.sandbox.common import RunningServer
from publisher.sandbox.smtp_server import (
    MISSING_MESSAGE_ID_REPLY,
    SandboxSMTP,
    make_http_app,
)

TIMEOUT = 5.0
CHINESE_SUBJECT = "AI商业化加速与人形机器人量产元年开启：OpenAI 的 API 业务月增 10 亿美元年化收入"
HTML_BODY = """<html><body><h1>Sandbox weekly 🚀</h1>
<p>Read <a href="https://example.com/a/very/long/path/that/goes/on/and/on?utm_source=newsletter&amp;x=1">the
post</a>.</p><pre><code>print("hi")</code></pre><ul><li>one<ul><li>nested</li></ul></li></ul>
<table><tr><td>a</td><td>b</td></tr></table><blockquote>quoted</blockquote></body></html>"""


def newsletter(to: str, subject: str = "Sandbox weekly 🚀", *, message_id: bool = True,
               one_click: bool = False) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = "编辑部 <editor@example.com>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Sat, 24 Jan 2026 08:00:00 +0800"
    if message_id:
        message["Message-ID"] = make_msgid(domain="example.com")
    if one_click:
        message["List-Unsubscribe"] = "<https://example.com/u/tok>, <mailto:unsub@example.com>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("Sandbox weekly\n\nRead the post: https://example.com/post\n")
    message.add_alternative(HTML_BODY, subtype="html")
    return message


@pytest.fixture
def smtp():
    with SandboxSMTP() as server:
        yield server


@pytest.fixture
def client(smtp):
    connection = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
    yield connection
    try:
        connection.quit()
    except smtplib.SMTPServerDisconnected:
        pass


def test_ehlo_advertises_8bitmime_smtputf8_and_auth(client):
    client.ehlo()
    assert client.has_extn("8bitmime") and client.has_extn("smtputf8")
    assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}


def test_many_messages_on_one_connection(smtp, client):
    for index, subject in enumerate(["Sandbox weekly 🚀", CHINESE_SUBJECT, "Plain ASCII"]):
        assert client.send_message(newsletter(f"reader{index}@example.org", subject)) == {}
    stored = smtp.messages
    assert [m["rcpt_tos"] for m in stored] == [[f"reader{i}@example.org"] for i in range(3)]
    assert {m["connection"] for m in stored} == {1}
    assert stored[1]["message"]["Subject"] == CHINESE_SUBJECT
    assert stored[1]["mail_from"] == "editor@example.com"
    assert b"=?utf-8?" in stored[1]["raw"]  # RFC 2047 on the wire (4.1)
    body = stored[0]["message"].get_body(("html",)).get_content()
    assert "nested" in body and stored[0]["message"].get_body(("plain",)) is not None


def test_international_address_uses_smtputf8(smtp, client):
    client.send_message(newsletter("读者@例子.中国"))
    assert smtp.messages[0]["rcpt_tos"] == ["读者@例子.中国"]
    assert "SMTPUTF8" in smtp.messages[0]["mail_options"]


def test_missing_message_id_is_refused_and_the_connection_goes_on(smtp, client):
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.send_message(newsletter("reader@example.org", message_id=False))
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == MISSING_MESSAGE_ID_REPLY
    assert smtp.messages == []
    client.send_message(newsletter("reader@example.org"))
    assert len(smtp.messages) == 1


def test_permanent_refusal_per_recipient(smtp, client):
    smtp.set_faults(permanent_recipients=["Gone@Example.org"])
    refused = client.send_message(newsletter("ok@example.org, gone@example.org"))
    assert list(refused) == ["gone@example.org"] and refused["gone@example.org"][0] == 550
    assert smtp.messages[0]["rcpt_tos"] == ["ok@example.org"]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as all_refused:
        client.send_message(newsletter("gone@example.org"))
    assert all_refused.value.recipients["gone@example.org"][0] == 550
    assert len(smtp.messages) == 1


def test_temporary_refusals_for_the_next_messages(smtp, client):
    smtp.set_faults(temporary_next=2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(newsletter("reader@example.org"))
        assert refused.value.smtp_code == 451
    client.send_message(newsletter("reader@example.org"))
    assert len(smtp.messages) == 1


def test_temporary_refusal_per_recipient(smtp, client):
    smtp.set_faults(temporary_recipients=["busy@example.org"])
    refused = client.send_message(newsletter("ok@example.org, busy@example.org"))
    assert refused["busy@example.org"][0] == 451
    assert smtp.messages[0]["rcpt_tos"] == ["ok@example.org"]


def test_421_answers_then_closes_the_connection(smtp):
    smtp.set_faults(temporary_next=1, temporary_code=421)
    with socket.create_connection((smtp.host, smtp.port), timeout=TIMEOUT) as raw:
        reader = raw.makefile("rb")
        assert reader.readline().startswith(b"220")
        message = newsletter("reader@example.org").as_bytes().replace(b"\n", b"\r\n")
        commands = (b"EHLO client.test", b"MAIL FROM:<editor@example.com>", b"RCPT TO:<reader@example.org>", b"DATA")
        for command in commands:
            raw.sendall(command + b"\r\n")
            while (line := reader.readline())[3:4] == b"-":
                pass
        assert line.startswith(b"354")
        raw.sendall(message + b"\r\n.\r\n")
        assert reader.readline().startswith(b"421 4.7.0")
        assert reader.readline() == b""  # the server closed the connection
    assert smtp.messages == []


def test_disconnect_mid_session_then_reconnect(smtp, client):
    smtp.set_faults(disconnect_after=2)
    client.send_message(newsletter("a@example.org"))
    client.send_message(newsletter("b@example.org"))
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.send_message(newsletter("c@example.org"))
    again = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
    again.send_message(newsletter("c@example.org"))
    again.quit()
    assert [(m["rcpt_tos"][0], m["connection"]) for m in smtp.messages] == [
        ("a@example.org", 1), ("b@example.org", 1), ("c@example.org", 2)]


def test_disconnect_after_data_keeps_the_message(smtp, client):
    """The 'may have been accepted' case: the server stored it, the client never heard."""
    smtp.set_faults(disconnect_after=0, disconnect_stage="data")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.send_message(newsletter("a@example.org"))
    assert [m["rcpt_tos"] for m in smtp.messages] == [["a@example.org"]]


def test_fault_options_are_checked(smtp):
    with pytest.raises(ValueError, match="disconect_after"):
        smtp.set_faults(disconect_after=1)
    with pytest.raises(ValueError, match="temporary_code"):
        smtp.set_faults(temporary_code=450)


def test_auth_is_required_and_checked_when_configured():
    with SandboxSMTP(username="mailer", password="s3cret") as server:
        client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(newsletter("reader@example.org"))
        assert refused.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("mailer", "wrong")
        client.login("mailer", "s3cret")  # smtplib prefers PLAIN
        client.send_message(newsletter("reader@example.org"))
        client.quit()
        by_login = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        by_login.ehlo()
        by_login.user, by_login.password = "mailer", "s3cret"
        assert by_login.auth("LOGIN", by_login.auth_login)[0] == 235
        by_login.send_message(newsletter("other@example.org"))
        by_login.quit()
        assert [m["auth_user"] for m in server.messages] == ["mailer", "mailer"]


def test_optional_bulk_rules():
    with SandboxSMTP(require_one_click_unsubscribe=True) as server:
        client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(newsletter("reader@example.org"))
        assert refused.value.smtp_code == 550
        client.send_message(newsletter("reader@example.org", one_click=True))
        client.quit()
        assert len(server.messages) == 1


def test_http_window_shows_decoded_messages_and_takes_faults(smtp, client):
    with RunningServer(make_http_app(smtp)) as http:
        client.send_message(newsletter("reader@example.org", CHINESE_SUBJECT))
        listed = requests.get(f"{http.url}/_sandbox/messages", timeout=TIMEOUT).json()["messages"]
        assert len(listed) == 1
        summary = listed[0]
        assert summary["subject"] == CHINESE_SUBJECT
        assert summary["from"] == "编辑部 <editor@example.com>" and summary["to"] == "reader@example.org"
        assert summary["message_id"] == smtp.messages[0]["message"]["Message-ID"]
        assert summary["headers"]["Subject"] == CHINESE_SUBJECT
        assert summary["content_types"] == ["multipart/alternative", "text/plain", "text/html"]
        assert summary["size"] == len(smtp.messages[0]["raw"])
        raw = requests.get(f"{http.url}/_sandbox/messages/0/raw", timeout=TIMEOUT)
        assert raw.content == smtp.messages[0]["raw"]

        answer = requests.post(f"{http.url}/_sandbox/faults", json={"permanent_recipients": ["gone@example.org"]},
                               timeout=TIMEOUT)
        assert answer.json()["faults"]["permanent_recipients"] == ["gone@example.org"]
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.send_message(newsletter("gone@example.org"))
        bad = requests.post(f"{http.url}/_sandbox/faults", json={"permanent": []}, timeout=TIMEOUT)
        assert bad.status_code == 400 and "permanent" in bad.json()["error"]

        requests.post(f"{http.url}/_sandbox/reset", timeout=TIMEOUT).raise_for_status()
        assert requests.get(f"{http.url}/_sandbox/messages", timeout=TIMEOUT).json() == {"messages": []}
        client.send_message(newsletter("gone@example.org"))  # reset cleared the faults too
        assert len(smtp.messages) == 1
