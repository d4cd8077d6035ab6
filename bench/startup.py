"""Start-up cost of the commands people type most, against `python -c pass` in the same run.
Run by hand: `.venv/bin/python bench/startup.py [--rounds 15]`.

Reports the median wall time of each command over the rounds (each a fresh process) and its
ratio to the bare interpreter; the targets are `publisher --help` ≤ 0.15 s and a cold
`publisher preview` of the reference post ≤ 0.4 s."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
POST = ROOT / "examples" / "2026-01-24-ai-daily.md"
TARGETS = {"publisher --help": 0.15, "publisher preview": 0.4}


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    with tempfile.TemporaryDirectory() as work:
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "publisher --help": [str(bindir / "publisher"), "--help"],
            "publisher preview": [str(bindir / "publisher"), "preview", str(POST), "--out", str(Path(work) / "p")],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):  # interleaved, so every command sees the same background load
            for name, argv in commands.items():
                times[name].append(timed(argv, env, work))
    base = statistics.median(times["python -c pass"])
    table = Table("command", "median s", "min s", "× python -c pass", "target s", title="start-up, cold processes")
    for name, samples in times.items():
        median = statistics.median(samples)
        target = TARGETS.get(name)
        verdict = "" if target is None else f"{target} ({'met' if median <= target else 'NOT met'})"
        table.add_row(name, f"{median:.3f}", f"{min(samples):.3f}", f"{median / base:.1f}", verdict)
    Console().print(table)


if __name__ == "__main__":
    main()
