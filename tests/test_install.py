"""What a user installs: the wheel holds every module of the source tree, and a fresh virtualenv with
a plain `pip install` (no test extras) runs the commands, a Celery worker on Redis included."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE

PACKAGES = ("publisher", "channels", "templates")
REDIS_URL = "redis://127.0.0.1:6379/14"


def source_modules() -> set[str]:
    found = {"worker.py"}
    for package in PACKAGES:
        found |= {str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts}
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("publisher-*.whl"))


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        pytest.fail(f"pip install of the wheel failed:\n{done.stderr[-3000:]}")
    return venv


def test_the_wheel_holds_every_module_and_template(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(source_modules() - names)
    assert not missing, f"modules left out of the wheel: {missing}"
    templates = {p.name for p in (ROOT / "templates").iterdir() if p.suffix in (".html", ".txt", ".css", ".js")}
    assert {n.split("/", 1)[1] for n in names if n.startswith("templates/")} >= templates


def test_a_plain_install_imports_every_module_and_runs_the_commands(fresh_venv, wheel, tmp_path):
    python = fresh_venv / "bin" / "python"
    modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in zipfile.ZipFile(wheel).namelist()
                     if n.endswith(".py") and not n.endswith("__main__.py"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "PYTHONPATH"))}
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    done = subprocess.run([str(python), "-c", code, *modules], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    publisher = str(fresh_venv / "bin" / "publisher")
    assert subprocess.run([publisher, "--help"], cwd=tmp_path, env=env, capture_output=True,
                          timeout=60).returncode == 0
    done = subprocess.run([publisher, "preview", str(SAMPLE), "--out", str(tmp_path / "preview")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "preview" / "index.html").is_file()


def test_a_plain_install_starts_a_worker_on_redis(fresh_venv, tmp_path):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "PYTHONPATH"))}
    env.update(PUBLISHER_BROKER_URL=REDIS_URL, PUBLISHER_DB_URL=f"sqlite:///{tmp_path / 'p.db'}")
    log = tmp_path / "worker.log"
    with open(log, "wb") as sink:
        worker = subprocess.Popen([str(fresh_venv / "bin" / "publisher"), "worker", "--concurrency", "1"],
                                  cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None and b"ready" not in log.read_bytes():
            time.sleep(0.2)
        text = log.read_text(errors="replace")
        assert worker.poll() is None, f"the worker stopped:\n{text[-3000:]}"
        assert "ready" in text, text[-3000:]
        assert "ModuleNotFoundError" not in text
    finally:
        worker.terminate()
        worker.wait(timeout=30)
