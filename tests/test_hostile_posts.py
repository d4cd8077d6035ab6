"""Hostile posts cannot hurt: `publisher preview` of each one exits 0 or 2 with at most one line of
error and no traceback, in bounded memory (the process runs under an address-space limit and its
peak RSS is read back), and hypothesis throws arbitrary front matter and Markdown at the parser."""
from __future__ import annotations

import resource
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from publisher.config import load_settings
from publisher.errors import PostError
from publisher.post import parse_post

PEAK_RSS_LIMIT_MB = 500
ADDRESS_SPACE_LIMIT = 3 * 1024 ** 3  # the interpreter and its libraries map ~1 GB before any work

LAUGHS = "\n".join([
    "---", "title: T", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefg", "bcdefgh")),
    "summary: [*h,*h,*h,*h,*h,*h,*h,*h,*h]", "---", "body"])

HOSTILE = {
    "billion-laughs": LAUGHS,
    "deep-yaml": "---\ntitle: T\na: " + "[" * 5000 + "]" * 5000 + "\n---\nbody\n",
    "unterminated": "---\ntitle: x\nbody without end\n",
    "glued-closing": "---\ntitle: T\n---### Top News\nbody\n",
    "placeholder": "---\ntitle: P\n---\nThis has %%PUB:UNSUBSCRIBE_URL%% in it.\n",
    "long-slug": "---\ntitle: Slug\nslug: " + "a" * 300 + "\n---\nBody.\n",
    "rich-markup-title": "---\ntitle: \"[/] [bold red]x[/] \\u001b]8;;http://evil\\u0007link\\u001b[31m\"\n---\nBody.\n",
    "nul-title": "---\ntitle: \"a\\x00b\"\n---\nBody.\n",
    "deep-quotes": "---\ntitle: Deep\n---\n" + "> " * 5000 + "x\n",
    "deep-lists": "---\ntitle: Deep list\n---\n" + "".join("  " * i + "- x\n" for i in range(400)),
    "big-subject": "---\ntitle: Big\nchannels:\n  email:\n    subject: \"" + "x" * 60000 + "\"\n---\nBody.\n",
    "injected-subject": "---\ntitle: \"=?utf-8?q?Hi=0D=0ABcc:_victim@evil.example?=\"\n---\nBody.\n",
    "json-bomb": "{" + '"title": "J", "x": ' + "[" * 3000 + "]" * 3000 + "}\nbody\n",
    "toml-deep": "+++\ntitle = \"T\"\nx = " + "[" * 3000 + "]" * 3000 + "\n+++\nbody\n",
    "liquid": "---\ntitle: L\n---\n{% include evil.html %}\n{{ site.secret }}\nText.\n",
    "long-line": "---\ntitle: Long line\n---\n" + "word " * 120_000 + "\n",
}


def run_preview(post, out) -> subprocess.CompletedProcess:
    code = ("import resource, runpy, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_LIMIT}, {ADDRESS_SPACE_LIMIT}))\n"
            f"sys.argv = ['publisher', 'preview', {str(post)!r}, '--out', {str(out)!r}]\n"
            "runpy.run_module('publisher', run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_post_gets_one_line_or_a_preview_in_bounded_memory(name, tmp_path):
    post = tmp_path / f"{name}.md"
    post.write_text(HOSTILE[name], "utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = run_preview(post, tmp_path / "out")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert done.returncode in (0, 2), done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) <= 12 and done.stderr.startswith("error:"), done.stderr
    assert "\x1b" not in done.stdout + done.stderr  # no escape sequence from the post reaches the terminal
    if peak_mb > before / 1024:  # ru_maxrss is the largest child so far: only a new peak is this one's
        assert peak_mb < PEAK_RSS_LIMIT_MB, f"{name}: peak RSS {peak_mb:.0f} MB"


front_matter_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meta=st.dictionaries(st.sampled_from(["title", "date", "slug", "tags", "summary", "author", "image",
                                             "description", "channels", "url", "draft", "lang", "cover"]),
                            front_matter_values, max_size=8),
       body=st.text(max_size=400))
def test_any_front_matter_and_body_is_a_post_or_one_post_error(meta, body):
    import yaml

    text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body
    try:
        parse_post(text, name="fuzz.md", settings=load_settings(env={}))
    except PostError as exc:
        assert str(exc).startswith("fuzz.md")
