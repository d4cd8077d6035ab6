"""Every kind of unpublishable post: exit 2, one short message naming file and field/line, no
traceback, nothing written."""
import pytest

from tests.conftest import run_cli

CASES = {
    "no-title.md": (b"---\ncategory: news\n---\njust text, no heading\n", "no title"),
    "broken-yaml.md": (b"---\ntitle: [a, b\n---\nbody\n", "front matter line"),
    "not-mapping.md": (b"---\n- a\n- b\n---\nbody\n", "expected key: value pairs"),
    "title-not-text.md": (b"---\ntitle: {a: 1}\n---\nbody\n", "field 'title'"),
    "title-list.md": (b"---\ntitle: [a, b]\n---\nbody\n", "field 'title'"),
    "latin1.md": ("---\ntitle: Caf\u00e9\n---\nna\u00efve body\n".encode("latin-1"), "not UTF-8"),
    "binary.md": (bytes(range(256)) * 4, "binary"),
    "empty-body.md": (b"---\ntitle: Nothing here\n---\n\n\n", "body is empty"),
    "only-heading.md": (b"# Title only\n", "body is empty"),
    "bad-date.md": (b"---\ntitle: T\ndate: next tuesday\n---\nbody\n", "field 'date'"),
    "impossible-date.md": (b"---\ntitle: T\ndate: 2026-13-45\n---\nbody\n", "field 'date'"),
    "too-big.md": (b"---\ntitle: Big\n---\n" + b"word " * 300_000, "limit"),
    "empty-file.md": (b"", "no title"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_post_exits_2_with_one_message(tmp_path, name):
    content, expected = CASES[name]
    post = tmp_path / name
    post.write_bytes(content)
    out = tmp_path / "out"
    result = run_cli("preview", str(post), "--out", str(out))
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert name in result.stderr and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3
    assert not out.exists()


def test_missing_file_and_folder(tmp_path):
    for target in (tmp_path / "nope.md", tmp_path):
        result = run_cli("preview", str(target), "--out", str(tmp_path / "out"))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert str(target) in result.stderr


def test_size_limit_is_configurable(tmp_path):
    post = tmp_path / "small.md"
    post.write_text("# Title\n\n" + "word " * 100)
    result = run_cli("preview", str(post), "--out", str(tmp_path / "out"), env={"PUBLISHER_MAX_POST_BYTES": "100"})
    assert result.returncode == 2 and "PUBLISHER_MAX_POST_BYTES" in result.stderr


def test_bad_setting_is_named(tmp_path):
    post = tmp_path / "p.md"
    post.write_text("# Title\n\nbody\n")
    result = run_cli("preview", str(post), "--out", str(tmp_path / "out"), env={"PUBLISHER_X_MODE": "everything"})
    assert result.returncode == 2 and "PUBLISHER_X_MODE" in result.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_endless_file_is_read_only_to_the_limit(tmp_path, device):
    # a device reports size 0 and never ends: reading it whole would exhaust memory
    for command in (["preview", device, "--out", str(tmp_path / "out")], ["test", device, "--to", "me@example.org"]):
        result = run_cli(*command, timeout=60)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{device}: is larger than" in result.stderr
