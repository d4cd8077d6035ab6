"""`publisher preview`: render every channel and write what each platform would receive."""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.post import Post
from templates import environment


@dataclass(frozen=True)
class Rendered:
    """Every channel's payload and its problems, for one post."""

    post: Post
    payloads: dict[str, Any]
    problems: dict[str, list[str]]  # blocking: a press stops on any (all or nothing)
    notes: dict[str, list[str]] = field(default_factory=dict)  # advice: shown, never blocking


def render_all(post: Post, settings: Settings) -> Rendered:
    payloads, problems, notes = {}, {}, {}
    for name, channel in CHANNELS.items():
        payloads[name] = channel.render(post, settings)
        problems[name] = channel.checks(payloads[name], settings)
        notes[name] = channel.notes(payloads[name], settings)
    return Rendered(post, payloads, problems, notes)


def preview_files(rendered: Rendered) -> dict[str, str]:
    files: dict[str, str] = {}
    for name, channel in CHANNELS.items():
        files.update(channel.preview_files(rendered.payloads[name]))
    files["checks.json"] = json.dumps(rendered.problems, ensure_ascii=False, indent=2) + "\n"
    files["notes.json"] = json.dumps(rendered.notes, ensure_ascii=False, indent=2) + "\n"
    files["index.html"] = preview_page(rendered)
    return files


def channel_views(rendered: Rendered) -> dict:
    """What templates/_channel_previews.html needs (each channel's preview_view, keyed by channel
    name, its keys also at the top level): shared by index.html and the web desk."""
    views = {name: CHANNELS[name].preview_view(p) for name, p in rendered.payloads.items()}
    merged = {key: value for view in views.values() for key, value in view.items()}
    notes = {name: rendered.notes.get(name, []) for name in rendered.problems}
    return {**merged, **views, "post": rendered.post, "problems": rendered.problems, "notes": notes,
            "lang": rendered.post.language}


def preview_page(rendered: Rendered) -> str:
    """One page showing the four channels side by side, as a person would see them."""
    return environment().get_template("preview.html").render(
        **channel_views(rendered), email_src="email.html", email_text_src="email.txt")


def write_preview(rendered: Rendered, out_dir: Path) -> list[Path]:
    """Write all files into out_dir; built in a temporary folder first so a failure leaves nothing half-written."""
    files = preview_files(rendered)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".preview-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8", newline="")
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.move(str(Path(tmp) / name), out_dir / name)
    return [out_dir / name for name in files]
