import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"


@pytest.fixture
def settings():
    from publisher.config import load_settings

    return load_settings(env={})


@pytest.fixture
def sample_post(settings):
    from publisher.post import load_post

    return load_post(SAMPLE, settings)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    """Run the real `publisher` command in a subprocess."""
    import os
    import subprocess

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "publisher", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=120)
