"""twitter-text (the X weighting rules), loaded only when a text needs it.

Importing twitter_text compiles its emoji and URL regular expressions (~85 ms), which most texts
never need:
- emoji are found by channels/x/emoji.py from twitter-text's own data file, without its regex;
- URLs: twitter-text finds one only where a "." is followed by the first letter of a top-level
  domain it knows (its domain pattern ends in `\\.` and a TLD from its lists, matched ignoring
  case). A text with no such pair holds no URL; only other texts load the URL extractor, and that
  alone (~45 ms), not the package's emoji table.
- parse_tweet (the package as a whole) is loaded on its first call.

twitter-text-parser reads its emoji table with `pkg_resources.resource_string`, and pkg_resources
belongs to setuptools: missing from a virtualenv on Python 3.12+, and ~80 ms to import where it is
there. While twitter_text loads, a stand-in answering that one call from the package's own files
takes its place; the real pkg_resources is untouched for anyone else.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import sys
import threading
import types
from pathlib import Path
from typing import Callable

from channels.x.emoji import extract_emojis_with_indices

__all__ = ["extract_emojis_with_indices", "extract_urls_with_indices", "load_twitter_text", "may_hold_url",
           "parse_tweet"]

# The first letter of every TLD twitter-text knows (regexp/valid_gtld.py, valid_cctld.py, "xn--"),
# in every case its case-insensitive match accepts ("K" is also U+212A KELVIN SIGN).
# tests/test_x_speed.py derives this set from twitter-text's own lists and checks it is covered.
TLD_FIRST_LETTERS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzİıſΕεϵБДЕКМОРСУбдекморсуҚқՀհקابتسشعفقكمهپڀ"
    "कनभसবভਭભଭஇசభಭഭලคไລგᲁᲂᲃᲒ\u212aみクグコスセフポ世中企佛信健八公台商嘉在大天娱家工广微慈我手招政新时書机淡游澳点珠移组网联"
    "诺谷购通集電飞食餐香닷삼한")
_URL_MAY_START = re.compile(f"\\.[{re.escape(TLD_FIRST_LETTERS)}]")


def may_hold_url(text: str) -> bool:
    """False only when twitter-text finds no URL in `text` (never False when it finds one)."""
    return _URL_MAY_START.search(text) is not None


def extract_urls_with_indices(text: str) -> list[dict]:
    """twitter-text's extract_urls_with_indices(text): [{"url": ..., "indices": [start, end]}, ...]."""
    if not may_hold_url(text):
        return []
    return _url_extractor()(text)


def parse_tweet(text: str, options: dict | None = None):
    """twitter-text's parse_tweet (loads the whole package on first use)."""
    twitter_text = load_twitter_text()
    return twitter_text.parse_tweet(text) if options is None else twitter_text.parse_tweet(text, options=options)


_lock = threading.Lock()
# twitter-text's URL modules loaded under this name, without the package __init__ (which compiles
# the emoji regex); nothing else imports it, so no other importer sees a half-loaded package.
_URL_ONLY_PACKAGE = "_publisher_twitter_text_urls"


@functools.cache
def _url_extractor() -> Callable[[str], list[dict]]:
    with _lock:
        if "twitter_text" in sys.modules:  # already loaded whole: use it
            return sys.modules["twitter_text"].extract_urls_with_indices
        spec = importlib.util.find_spec("twitter_text")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("twitter-text-parser is not installed")
        if _URL_ONLY_PACKAGE not in sys.modules:
            alias = importlib.util.spec_from_file_location(
                _URL_ONLY_PACKAGE, spec.origin, submodule_search_locations=list(spec.submodule_search_locations))
            sys.modules[_URL_ONLY_PACKAGE] = importlib.util.module_from_spec(alias)  # __init__ not run
        return importlib.import_module(f"{_URL_ONLY_PACKAGE}.extract_urls").extract_urls_with_indices


@functools.cache
def load_twitter_text() -> types.ModuleType:
    with _lock:
        if "twitter_text" in sys.modules or "pkg_resources" in sys.modules:
            import twitter_text

            return twitter_text
        stand_in = types.ModuleType("pkg_resources")
        # pkg_resources reads a resource beside the module that names it
        stand_in.resource_string = lambda module, name: (Path(sys.modules[module].__file__).parent / name).read_bytes()
        sys.modules["pkg_resources"] = stand_in
        try:
            import twitter_text
        finally:
            if sys.modules.get("pkg_resources") is stand_in:
                del sys.modules["pkg_resources"]
        return twitter_text


def __getattr__(name: str):
    if name == "twitter_text":  # the package itself, for whoever asks for it by this name
        return load_twitter_text()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
