"""twitter-text (the X weighting rules), imported without setuptools.

twitter-text-parser reads its emoji table with `pkg_resources.resource_string`, and pkg_resources
belongs to setuptools: missing from a virtualenv on Python 3.12+, and ~80 ms to import where it is
there. While twitter_text loads, a stand-in answering that one call from the package's own files takes its place; the real pkg_resources is untouched for anyone else."""
from __future__ import annotations

import sys
import types
from pathlib import Path


def _load():
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


twitter_text = _load()
extract_emojis_with_indices = twitter_text.extract_emojis_with_indices
extract_urls_with_indices = twitter_text.extract_urls_with_indices
parse_tweet = twitter_text.parse_tweet
