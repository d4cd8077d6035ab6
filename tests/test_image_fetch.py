"""The one image fetcher against hostile images and hosts: internal addresses, redirect loops, a
server that drips, and images whose header claims more pixels than any platform takes."""
from __future__ import annotations

import dataclasses
import io
import struct
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from channels.errors import PermanentError, TransientError
from publisher.config import load_settings
from publisher.image_fetch import fetch_image


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header says width × height (the data is a few bytes of zeros)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(out, "PNG")
    return out.getvalue()


class Handler(BaseHTTPRequestHandler):
    hits = 0

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        type(self).hits += 1
        if self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path.startswith("/drip"):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            for _ in range(200):
                try:
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif self.path.startswith("/bomb"):
            self._send(png_claiming(15_000, 15_000))
        elif self.path.startswith("/big"):
            self._send(b"\0" * (3 * 1024 * 1024))
        else:
            self._send(small_png())

    def _send(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Handler.hits = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def settings(**changes):
    return dataclasses.replace(load_settings(env={}), **changes)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.png", "http://localhost/x.png", "http://[::1]/x.png",
                                 "http://169.254.169.254/latest/meta-data", "http://10.0.0.8/a.png",
                                 "http://192.168.1.1/a.png", "http://0.0.0.0/a.png", "http://224.0.0.1/a.png"])
def test_internal_addresses_are_refused_before_any_request(url):
    with pytest.raises(PermanentError, match="internal address"):
        fetch_image(url, settings())


def test_loopback_images_are_refused_without_the_allow_setting_and_fetched_with_it(host):
    with pytest.raises(PermanentError, match="PUBLISHER_ALLOW_PRIVATE_FETCH"):
        fetch_image(f"{host}/ok.png", settings())
    assert Handler.hits == 0
    fetched = fetch_image(f"{host}/ok.png", settings(allow_private_fetch=True))
    assert (fetched.format, fetched.size) == ("PNG", (4, 3))


def test_a_redirect_loop_is_a_permanent_refusal_after_five_hops(host):
    with pytest.raises(PermanentError, match="more than 5 redirects"):
        fetch_image(f"{host}/loop", settings(allow_private_fetch=True))
    assert Handler.hits == 6


def test_a_dripping_server_is_cut_off_by_the_deadline(host):
    with pytest.raises(TransientError, match="in time|within"):
        fetch_image(f"{host}/drip", settings(allow_private_fetch=True, image_fetch_seconds=1.0))


def test_an_image_over_the_size_cap_is_refused(host):
    with pytest.raises(PermanentError, match="larger than 2 MB"):
        fetch_image(f"{host}/big", settings(allow_private_fetch=True, image_max_bytes=2 * 1024 * 1024))


def test_a_decompression_bomb_is_refused_from_its_header_in_bounded_memory(host):
    code = (
        "import dataclasses, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (500 * 1024 * 1024, 500 * 1024 * 1024))\n"
        "from publisher.config import load_settings\n"
        "from publisher.image_fetch import fetch_image\n"
        "from channels.errors import PermanentError\n"
        "try:\n"
        f"    fetch_image({host + '/bomb'!r}, dataclasses.replace(load_settings(env={{}}), allow_private_fetch=True))\n"
        "except PermanentError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(0)\n"
        "sys.exit(1)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "million" in done.stdout and "refused before decoding" in done.stdout
