"""Subscribers: address validation, CSV import, list operations, signed tokens and the CLI."""
from __future__ import annotations

import json
import os
import uuid

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from publisher.cli_subscribers import app as subscribers_cli
from publisher.config import load_settings
from publisher.errors import InputError
from publisher.store import Store
from publisher import subscribers as subscribers_module
from publisher.subscribers import (
    InvalidAddress, Subscribers, normalize_email, smtp_address, unsubscribe_url,
)

PG_URL = os.environ.get("PUBLISHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SETTINGS = load_settings({"PUBLISHER_SECRET_KEY": "test-secret", "PUBLISHER_SITE_URL": "https://news.example.org/"})


def _pg_reachable() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


PG_AVAILABLE = _pg_reachable()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        opened = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
        yield opened
        opened.dispose()
        return
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    opened = Store(url.render_as_string(hide_password=False))
    yield opened
    opened.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def subscribers(store):
    return Subscribers(store, SETTINGS)


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# -- addresses ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Reader@Example.COM", "reader@example.com"),
    ("  first.last+news@sub.example.co.uk \n", "first.last+news@sub.example.co.uk"),
    ("o'brien@example.ie", "o'brien@example.ie"),
    ('"john doe"@example.com', '"john doe"@example.com'),
    ("user@例子.中国", "user@例子.中国"),
    ("user@xn--fsqu00a.xn--fiqs8s", "user@例子.中国"),  # the punycode form is the same address
    ("user@例子。中国", "user@例子.中国"),  # ideographic full stop typed on a Chinese keyboard
    ("user@BÜCHER.de", "user@bücher.de"),
])
def test_valid_addresses_are_normalised(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw, reason", [
    ("", "empty"),
    ("reader.example.com", "no @"),
    ("@example.com", "nothing before"),
    ("reader@", "nothing after"),
    ("a..b@example.com", "two dots"),
    (".a@example.com", "dot at the start"),
    ("a b@example.com", "not allowed"),
    ("a@b@example.com", "not allowed"),
    ("reader@localhost", "needs a dot"),
    ("reader@exa mple.com", "spaces"),
    ("reader@-example.com", "domain"),
    ("reader@example..com", "domain"),
    ("reader@[127.0.0.1]", "IP address"),
    ("reader@1.2.3.4", "ends in a number"),
    ("<reader@example.com>", "bare address"),
    ("读者@example.com", "non-ASCII"),
    ("x" * 65 + "@example.com", "longer than 64"),
    ("a@" + ".".join(["b" * 60] * 5) + ".com", "domain"),
])
def test_invalid_addresses_say_why(raw, reason):
    with pytest.raises(InvalidAddress, match=reason):
        normalize_email(raw)


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.emails())
def test_every_rfc_address_hypothesis_makes_is_accepted_and_normal_form_is_stable(address):
    normal = normalize_email(address)
    assert normalize_email(normal) == normal
    assert normal == normal.lower()
    assert smtp_address(normal).isascii()


def test_smtp_address_uses_punycode():
    assert smtp_address("user@例子.中国") == "user@xn--fsqu00a.xn--fiqs8s"


# -- add, remove, list, count ---------------------------------------------------------------------------

def test_add_updates_and_never_resubscribes_silently(subscribers):
    assert subscribers.add("Ann@Example.com", "Ann").action == "added"
    assert subscribers.add("ann@example.com").action == "unchanged"
    assert subscribers.add("ann@example.com", "Ann Lee").subscriber.name == "Ann Lee"
    assert subscribers.remove("ANN@example.com")
    kept = subscribers.add("ann@example.com", "Ann")
    assert (kept.action, kept.subscriber.status) == ("not_resubscribed", "unsubscribed")
    back = subscribers.add("ann@example.com", resubscribe=True)
    assert (back.action, back.subscriber.status) == ("resubscribed", "active")
    with pytest.raises(InputError, match="no @"):
        subscribers.add("not-an-address")


def test_bounced_addresses_also_stay_out(subscribers):
    added = subscribers.add("gone@example.com").subscriber
    assert subscribers.set_status(added.id, "bounced")
    assert subscribers.add("gone@example.com").subscriber.status == "bounced"


def test_remove_marks_unsubscribed_or_deletes(subscribers):
    subscribers.add("a@example.com")
    subscribers.add("b@example.com")
    assert subscribers.remove("a@example.com")
    assert subscribers.get("a@example.com").status == "unsubscribed"
    assert subscribers.remove("b@example.com", delete_row=True)
    assert subscribers.get("b@example.com") is None
    assert not subscribers.remove("nobody@example.com")
    assert subscribers.count() == {"active": 0, "pending": 0, "unsubscribed": 1, "bounced": 0}


def test_list_filters_searches_and_pages(subscribers):
    for i in range(12):
        subscribers.add(f"reader{i}@example.com", f"Reader {i}")
    subscribers.add("wang@example.com", "王小明")
    subscribers.add("100%_sure@example.com")
    subscribers.remove("reader3@example.com")
    assert [s.email for s in subscribers.list(limit=3)] == [f"reader{i}@example.com" for i in range(3)]
    assert [s.email for s in subscribers.list(limit=3, offset=3)][0] == "reader3@example.com"
    assert [s.email for s in subscribers.list(status="unsubscribed")] == ["reader3@example.com"]
    assert [s.email for s in subscribers.list(search="小明")] == ["wang@example.com"]
    assert [s.email for s in subscribers.list(search="READER 1")] == ["reader1@example.com", "reader10@example.com",
                                                                      "reader11@example.com"]
    assert [s.email for s in subscribers.list(search="%_")] == ["100%_sure@example.com"]  # no wildcards
    with pytest.raises(InputError, match="--status"):
        subscribers.list(status="delivered")


def test_active_recipients_come_in_stable_batches(subscribers):
    for i in range(23):
        subscribers.add(f"r{i:02d}@example.com")
    subscribers.remove("r05@example.com")
    subscribers.set_status(subscribers.get("r06@example.com").id, "bounced")
    batches = list(subscribers.active_recipients(batch_size=10))
    assert [len(batch) for batch in batches] == [10, 10, 1]
    emails = [s.email for batch in batches for s in batch]
    assert emails == [f"r{i:02d}@example.com" for i in range(23) if i not in (5, 6)]
    assert [s.email for b in subscribers.active_recipients(batch_size=10) for s in b] == emails


# -- CSV import ----------------------------------------------------------------------------------------

GOOD_CSV = """Email,Name,Status
ann@example.com,Ann,
"bob@example.com","Lee, Bob",active
carol@例子.中国,陈卡罗尔,
old@example.com,Old,unsubscribed
"""


def test_import_takes_good_rows_and_is_idempotent(subscribers, tmp_path):
    path = write(tmp_path, "list.csv", GOOD_CSV)
    first = subscribers.import_csv(path)
    assert (first.added, first.updated, first.unchanged, first.bad) == (4, 0, 0, [])
    assert subscribers.get("bob@example.com").name == "Lee, Bob"
    assert subscribers.get("old@example.com").status == "unsubscribed"
    before = {s.email: (s.name, s.status, s.updated_at) for s in subscribers.list()}
    second = subscribers.import_csv(path)
    assert (second.added, second.updated, second.unchanged, second.taken) == (0, 0, 4, 4)
    assert {s.email: (s.name, s.status, s.updated_at) for s in subscribers.list()} == before


def test_import_reports_bad_lines_by_number(subscribers, tmp_path):
    path = write(tmp_path, "list.csv", "\n".join([
        "email,name",
        "good@example.com,Good",
        "not-an-address,Bad",
        "",
        '"multi@example.com","A name',
        'on two lines"',
        "x@localhost,NoDot",
        "good@example.com,Again",
        "extra@example.com,Name,unexpected",
        ",No address",
    ]) + "\n")
    report = subscribers.import_csv(path)
    assert report.added == 2
    assert [(bad.line, bad.value) for bad in report.bad] == [
        (3, "not-an-address"), (7, "x@localhost"), (8, "good@example.com"), (9, "extra@example.com"), (10, "")]
    reasons = [bad.reason for bad in report.bad]
    assert "no @" in reasons[0] and "needs a dot" in reasons[1] and "duplicate of line 2" in reasons[2]
    assert "3 fields" in reasons[3] and "empty" in reasons[4]
    assert subscribers.get("multi@example.com").name == "A name on two lines"


def test_import_with_bom_semicolons_and_extra_columns(subscribers, tmp_path):
    path = write(tmp_path, "excel.csv", "\ufeffE-Mail Source;EMAIL;name\nweb;ann@example.com;Ann\n".encode("utf-8"))
    report = subscribers.import_csv(path)
    assert report.added == 1 and report.ignored_columns == ["e-mail source"]
    assert subscribers.get("ann@example.com").name == "Ann"


def test_import_never_resubscribes_and_applies_unsubscribes(subscribers, tmp_path):
    subscribers.add("left@example.com")
    subscribers.remove("left@example.com")
    subscribers.add("leaving@example.com")
    path = write(tmp_path, "list.csv", "email,status\nleft@example.com,active\nleaving@example.com,UNSUBSCRIBED\n"
                 "x@example.com,delivered\n")
    report = subscribers.import_csv(path)
    assert (report.not_resubscribed, report.updated) == (1, 1)
    assert "unknown status 'delivered'" in report.bad[0].reason
    assert subscribers.get("left@example.com").status == "unsubscribed"
    assert subscribers.get("leaving@example.com").status == "unsubscribed"


@pytest.mark.parametrize("content, where, what", [
    (b"email\nok@example.com\nbad\xff@example.com\n", "line 3", "not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "line 3", "binary data"),
    (b"", "", "empty file"),
    (b"address,name\na@example.com,A\n", "line 1", "no 'email' column"),
    (b'email\nok@example.com\n"a@example.com\nb@example.com\n', "line 3", "not valid CSV"),
    (b'email\n"a@example.com"x\n', "line 2", "not valid CSV"),
])
def test_unreadable_files_raise_one_input_error_naming_file_and_line(subscribers, tmp_path, content, where, what):
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(InputError) as caught:
        subscribers.import_csv(path)
    assert str(path) in caught.value.where and where in caught.value.where
    assert what in caught.value.what
    assert subscribers.count()["active"] == 0  # nothing half-imported


def test_missing_file_is_an_input_error(subscribers, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        subscribers.import_csv(tmp_path / "nope.csv")


def test_large_import_in_chunks(subscribers, tmp_path):
    lines = ["email,name"] + [f"user{i}@example.com,User {i}" for i in range(1600)]
    path = write(tmp_path, "big.csv", "\n".join(lines))
    assert subscribers.import_csv(path).added == 1600
    assert subscribers.import_csv(path).unchanged == 1600
    assert subscribers.count()["active"] == 1600


# -- tokens ---------------------------------------------------------------------------------------------

def test_tokens_round_trip_and_resist_tampering(subscribers, store):
    ann = subscribers.add("ann@example.com").subscriber
    bob = subscribers.add("bob@example.com").subscriber
    token = subscribers.token_for(ann)
    assert subscribers.subscriber_for_token(token).id == ann.id
    assert "ann" not in token  # the address stays out of URLs
    assert subscribers.subscriber_for_token(subscribers.token_for(bob)).id == bob.id
    payload, signature = token.rsplit(".", 1)
    for altered in (token[:-1] + ("A" if token[-1] != "A" else "B"), payload + "." + signature[::-1],
                    subscribers.token_for(bob).rsplit(".", 1)[0] + "." + signature, "", "garbage", token + "x"):
        assert subscribers.subscriber_for_token(altered) is None, altered
    other_key = Subscribers(store, load_settings({"PUBLISHER_SECRET_KEY": "another-secret"}))
    assert other_key.subscriber_for_token(token) is None
    assert other_key.subscriber_for_token(other_key.token_for(ann)).id == ann.id


def test_token_of_a_deleted_and_readded_address_does_not_match_someone_else(subscribers):
    ann = subscribers.add("ann@example.com").subscriber
    token = subscribers.token_for(ann)
    subscribers.remove("ann@example.com", delete_row=True)
    assert subscribers.subscriber_for_token(token) is None
    assert subscribers.subscriber_id_for_token(token) == ann.id  # genuine, just nobody left


def test_module_level_shortcuts_agree_with_the_class(subscribers, store):
    ann = subscribers.add("ann@example.com").subscriber
    subscribers.add("bob@example.com")
    token = subscribers_module.token_for(SETTINGS, ann)
    assert token == subscribers.token_for(ann)
    assert subscribers_module.subscriber_for_token(store, SETTINGS, token).id == ann.id
    batches = list(subscribers_module.active_recipients(store, 1))
    assert [[s.email for s in batch] for batch in batches] == [["ann@example.com"], ["bob@example.com"]]


def test_unsubscribe_url():
    assert unsubscribe_url(SETTINGS, "abc.def") == "https://news.example.org/unsubscribe/abc.def"


# -- CLI ------------------------------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path):
    env = {"PUBLISHER_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}", "PUBLISHER_SECRET_KEY": "k"}
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(subscribers_cli, list(args), env=env)
    return run


def test_cli_add_list_count_remove(cli):
    assert cli("add", "Ann@Example.com", "--name", "Ann").exit_code == 0
    assert cli("add", "bob@example.com").exit_code == 0
    listed = json.loads(cli("list", "--json").stdout)
    assert [(s["email"], s["name"], s["status"]) for s in listed] == [
        ("ann@example.com", "Ann", "active"), ("bob@example.com", "", "active")]
    assert "ann@example.com" in cli("list", "--search", "ann").stdout
    removed = cli("remove", "bob@example.com")
    assert removed.exit_code == 0 and "unsubscribed" in removed.stdout
    assert "not_resubscribed" not in cli("add", "bob@example.com").stdout
    assert "--resubscribe" in cli("add", "bob@example.com").stdout
    assert json.loads(cli("count", "--json").stdout) == {"active": 1, "pending": 0, "unsubscribed": 1, "bounced": 0, "total": 2}
    assert cli("remove", "bob@example.com", "--delete").exit_code == 0
    missing = cli("remove", "bob@example.com")
    assert missing.exit_code == 1 and "not on the subscriber list" in missing.stderr


def test_cli_import_exit_codes(cli, tmp_path):
    mixed = write(tmp_path, "mixed.csv", "email,name\nok@example.com,[bold]Ok[/]\nbroken\n[/red]bad\n")
    result = cli("import", str(mixed))
    assert result.exit_code == 0
    assert "1 added" in result.stdout and "broken" in result.stdout and "no @" in result.stdout
    assert "[/red]bad" in result.stdout  # user text is shown as written, never as console markup
    assert "[bold]Ok[/]" in cli("list").stdout
    all_bad = write(tmp_path, "bad.csv", "email\nbroken\n")
    assert cli("import", str(all_bad)).exit_code == 1
    unreadable = write(tmp_path, "latin1.csv", "email,name\nzoe@example.com,Zoë\n".encode("latin-1"))
    failed = cli("import", str(unreadable))
    assert failed.exit_code == 2
    assert failed.stderr.strip() == f"error: {unreadable}: line 2: not UTF-8 text (byte 0xeb); save the file as CSV UTF-8"
    assert "Traceback" not in failed.stderr + failed.stdout


def test_cli_bad_input_is_one_line(cli):
    result = cli("add", "nobody")
    assert result.exit_code == 2
    assert result.stderr == "error: email 'nobody': no @ in the address\n"
    assert cli("list", "--status", "delivered").stderr.startswith("error: --status: unknown status")
