"""The posts folder (PUBLISHER_CONTENT_DIR) as the desk sees it: every Markdown file parsed and
rendered once per version (modification time and size) of the file. A file that does not load,
for whatever reason, is an entry with that reason: one broken post never takes the desk down."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import abort

from publisher.config import Settings
from publisher.desk.blueprint import _app_parts
from publisher.errors import InputError
from publisher.post import Post, load_post
from publisher.preview import Rendered, render_all

POST_SUFFIXES = (".md", ".markdown")
# A repository's own documents, listed as posts only when they open with front matter.
REPOSITORY_DOCUMENTS = frozenset({"readme", "changelog", "changes", "license", "licence", "contributing",
                                  "code_of_conduct", "security", "authors", "todo", "notes"})


def is_post_file(path: Path) -> bool:
    """Whether a Markdown file of the content folder is a post: partials and hidden files
    (`_header.md`, Hugo's `_index.md`, `.draft.md`) never are; a README, CHANGELOG or LICENSE only
    when it opens with front matter."""
    if path.suffix.lower() not in POST_SUFFIXES or path.name.startswith(("_", ".")) or not path.is_file():
        return False
    if path.stem.lower() not in REPOSITORY_DOCUMENTS:
        return True
    try:
        with path.open("rb") as handle:
            opening = handle.read(16).lstrip(b"\xef\xbb\xbf").lstrip()
    except OSError:
        return False
    return opening.startswith((b"---", b"+++", b"{"))
log = logging.getLogger(__name__)


class NotRenderable(Exception):
    """The post loaded but a channel could not render it; the message says why."""


@dataclass(frozen=True)
class ShelfEntry:
    """One Markdown file of the content folder: its post, or the message saying why it does not load."""

    path: Path
    slug: str
    post: Post | None
    error: str | None


class PostShelf:
    """The posts in PUBLISHER_CONTENT_DIR, parsed and rendered once per version of each file."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.folder = Path(settings.content_dir)
        self._lock = threading.Lock()
        self._loaded: dict[Path, tuple[tuple[int, int], ShelfEntry]] = {}
        self._rendered: dict[Path, tuple[tuple[int, int], Rendered]] = {}
        self._unrenderable: dict[Path, tuple[tuple[int, int], str]] = {}

    def entries(self) -> list[ShelfEntry]:
        """Newest first; a second file with a slug already taken is listed with that problem."""
        files = sorted(p for p in self.folder.glob("*") if is_post_file(p))
        seen: dict[str, Path] = {}
        out = []
        for path in files:
            entry = self._load(path)
            if entry.post is not None and entry.slug in seen:
                entry = ShelfEntry(path, entry.slug, None, f"{path.name}: has the slug {entry.slug!r} of "
                                   f"{seen[entry.slug].name}; give one of them its own `slug:`")
            seen.setdefault(entry.slug, path)
            out.append(entry)
        return sorted(out, key=lambda e: (e.post is not None and e.post.date is not None,
                                          e.post.date.isoformat() if e.post and e.post.date else "", e.path.name),
                      reverse=True)

    def find(self, slug: str) -> ShelfEntry | None:
        return next((e for e in self.entries() if e.slug == slug), None)

    def rendered(self, entry: ShelfEntry) -> Rendered:
        stamp = _stamp(entry.path)
        with self._lock:
            cached = self._rendered.get(entry.path)
        if cached is None or cached[0] != stamp:
            assert entry.post is not None
            try:
                cached = (stamp, render_all(entry.post, self.settings))
            except Exception as exc:  # noqa: BLE001 - a renderer's bug must not take the desk down
                if isinstance(exc, InputError):
                    message = f"{exc.where}: {exc.what}"
                else:
                    log.exception("desk: rendering %s failed", entry.path)
                    message = f"{entry.path.name}: does not render ({type(exc).__name__}: {exc})"
                with self._lock:
                    self._unrenderable[entry.path] = (stamp, message)
                raise NotRenderable(message) from exc
            with self._lock:
                self._rendered[entry.path] = cached
        return cached[1]

    def render_failure(self, entry: ShelfEntry) -> str | None:
        """Why this version of the file did not render, if a page already tried (the list renders nothing)."""
        with self._lock:
            failed = self._unrenderable.get(entry.path)
        return failed[1] if failed is not None and failed[0] == _stamp(entry.path) else None

    def _load(self, path: Path) -> ShelfEntry:
        stamp = _stamp(path)
        with self._lock:
            cached = self._loaded.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            post = load_post(path, self.settings)
            entry = ShelfEntry(path, post.slug, post, None)
        except InputError as exc:
            entry = ShelfEntry(path, path.stem, None, f"{exc.where}: {exc.what}")
        except Exception as exc:  # noqa: BLE001 - a loader's bug (or a file gone mid-read) is this file's only
            log.warning("desk: %s does not load: %s: %s", path, type(exc).__name__, exc)
            entry = ShelfEntry(path, path.stem, None, f"{path.name}: {type(exc).__name__}: {exc}")
        with self._lock:
            self._loaded[path] = (stamp, entry)
        return entry


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, -1)
    return (info.st_mtime_ns, info.st_size)


def shelf_entry_or_404(slug: str) -> ShelfEntry:
    entry = _app_parts()[3].find(slug)
    if entry is None:
        abort(404)
    return entry
