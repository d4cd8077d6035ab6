"""Rendering cost: every channel of the reference post (render + checks, as a press does) against one
premailer pass over the same email document, measured in the same run. Run by hand:

    .venv/bin/python bench/render.py [--rounds 15]

The target is all four channels ≤ 2× one premailer pass (inlining the CSS every mail client needs
is the one costly step a newsletter tool cannot avoid; premailer, the usual tool for it, is the
yardstick, installed with the test extra; the email channel inlines with its own inliner)."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

POST = ROOT / "examples" / "2026-01-24-ai-daily.md"
TARGET_RATIO = 2.0


def timed(work, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return samples


def premailer_pass(document: str) -> str:
    import logging

    from premailer import Premailer

    return Premailer(document, allow_network=False, strip_important=False, keep_style_tags=False,
                     disable_validation=True, cssutils_logging_level=logging.CRITICAL, remove_classes=False,
                     disable_basic_attributes=["width", "height"]).transform(pretty_print=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    from channels.email import html as email_html
    from channels.registry import CHANNELS
    from publisher.config import load_settings
    from publisher.post import load_post

    settings = load_settings(env={})
    post = load_post(POST, settings)
    documents: list[str] = []
    real_inline = email_html.inline_css
    email_html.inline_css = lambda document: documents.append(document) or real_inline(document)
    CHANNELS["email"].render(post, settings)  # warm-up, and the document premailer is given
    email_html.inline_css = real_inline
    document = documents[-1]

    def all_channels() -> None:
        for channel in CHANNELS.values():
            channel.checks(channel.render(post, settings), settings)

    per_channel = {name: timed(lambda c=c: c.checks(c.render(post, settings), settings), args.rounds)
                   for name, c in CHANNELS.items()}
    premailer = timed(lambda: premailer_pass(document), args.rounds)
    everything = timed(all_channels, args.rounds)
    base = statistics.median(premailer)
    table = Table("what", "median ms", "× one premailer pass", title="rendering the reference post")
    table.add_row("one premailer pass (baseline)", f"{base * 1000:.1f}", "1.00")
    for name, samples in per_channel.items():
        table.add_row(f"{name}: render + checks", f"{statistics.median(samples) * 1000:.1f}",
                      f"{statistics.median(samples) / base:.2f}")
    ratio = statistics.median(everything) / base
    table.add_row("all four channels", f"{statistics.median(everything) * 1000:.1f}",
                  f"{ratio:.2f} (target ≤ {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    Console().print(table)


if __name__ == "__main__":
    main()
