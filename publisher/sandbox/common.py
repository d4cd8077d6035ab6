"""What every HTTP stand-in shares: a threaded loopback server, a record of what arrived, and
scripted faults.

Control endpoints (on every stand-in, under /_sandbox/):
- GET  /_sandbox/requests        -> {"requests": [{"method", "path", "query", "json"|"form"|"files", ...}]}
- POST /_sandbox/reset           -> forget requests, faults and stored state
- POST /_sandbox/faults          -> {"rules": [FaultRule fields...]} replaces the fault plan
A fault rule: {"match": "<substring of path>", "kind": "429"|"500"|"502"|"503"|"timeout"|"drop"|
"expire_token"|"slow" (WeChat: wait `delay`, then answer normally), "times": N (default 1; 0 = unlimited), "ratio": p (0..1, seeded; default 1),
"retry_after": seconds, "delay": seconds (timeout), "after": true (the request is processed and
stored first, then the fault answers: the "may have been accepted" case)}.
"""
from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

FAULT_KINDS = frozenset({"429", "500", "502", "503", "timeout", "drop", "expire_token", "slow"})


@dataclass
class FaultRule:
    match: str = ""
    kind: str = "500"
    times: int = 1
    ratio: float = 1.0
    retry_after: float = 1.0
    delay: float = 5.0
    after: bool = False
    fired: int = 0

    def wants(self, path: str, rng: random.Random) -> bool:
        if self.match not in path:
            return False
        if self.times and self.fired >= self.times:
            return False
        return self.ratio >= 1 or rng.random() < self.ratio


@dataclass
class SandboxState:
    """Requests recorded and faults planned for one stand-in; thread-safe."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    rules: list[FaultRule] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def next_fault(self, path: str) -> FaultRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.wants(path, self.rng):
                    rule.fired += 1
                    return rule
        return None

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        parsed = []
        for raw in rules:
            rule = FaultRule(**{k: v for k, v in raw.items() if k in FaultRule.__dataclass_fields__})
            if rule.kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {rule.kind!r}; expected one of {sorted(FAULT_KINDS)}")
            parsed.append(rule)
        with self.lock:
            self.rules = parsed

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.rules.clear()


def describe_request() -> dict[str, Any]:
    """The parts of the current Flask request a test wants to assert on."""
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.args.to_dict(),
        "content_type": request.content_type or "",
        "time": time.time(),
    }
    if request.is_json:
        entry["json"] = request.get_json(silent=True)
    elif request.form:
        entry["form"] = request.form.to_dict()
    if request.files:
        entry["files"] = {k: {"filename": f.filename, "size": len(f.read())} for k, f in request.files.items()}
        for f in request.files.values():
            f.seek(0)
    return entry


def drop_connection() -> Response:
    """Close the client's connection without an answer (a 'dropped connection' fault)."""
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    # Flask logs this as an error; stand-ins silence app.logger (see quiet_app).
    raise ConnectionAbortedError("sandbox dropped the connection on purpose")


def quiet_app(name: str) -> Flask:
    """A Flask app that does not log the faults it injects on purpose."""
    import logging

    app = Flask(name)
    app.logger.setLevel(logging.CRITICAL)
    return app


def add_control_routes(app: Flask, state: SandboxState, on_reset: Callable[[], None] | None = None) -> None:
    @app.get("/_sandbox/requests")
    def _requests():
        with state.lock:
            return jsonify({"requests": list(state.requests)})

    @app.post("/_sandbox/reset")
    def _reset():
        state.reset()
        if on_reset:
            on_reset()
        return jsonify({"ok": True})

    @app.post("/_sandbox/faults")
    def _faults():
        body = request.get_json(silent=True) or {}
        try:
            state.set_rules(body.get("rules", []))
        except (TypeError, ValueError) as exc:
            return jsonify({"ok": False, "error": str(exc)}), 400
        return jsonify({"ok": True, "rules": len(state.rules)})


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


class RunningServer:
    """A WSGI app served on loopback in a daemon thread."""

    def __init__(self, app: Callable, host: str = "127.0.0.1", port: int = 0):
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=lambda: self._server.serve_forever(poll_interval=0.05), daemon=True)

    def start(self) -> "RunningServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "RunningServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
