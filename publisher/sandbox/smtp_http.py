"""The HTTP window onto the SMTP stand-in (publisher.sandbox.smtp_server.SandboxSMTP): what it
accepted, the raw messages, and its fault plan. `publisher sandbox` serves it beside the server."""
from __future__ import annotations

from dataclasses import fields
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from publisher.sandbox.common import quiet_app

if TYPE_CHECKING:
    from publisher.sandbox.smtp_server import SandboxSMTP


def message_summary(entry: dict[str, Any], index: int) -> dict[str, Any]:
    """What an operator or a test reads about one accepted message (headers decoded)."""
    message: EmailMessage = entry["message"]
    headers: dict[str, Any] = {}
    for name, value in message.items():
        text = str(value)
        if name in headers:
            previous = headers[name]
            headers[name] = (previous if isinstance(previous, list) else [previous]) + [text]
        else:
            headers[name] = text
    return {
        "index": index,
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
        "message_id": str(message.get("Message-ID", "")).strip(),
        "mail_from": entry["mail_from"],
        "rcpt_tos": entry["rcpt_tos"],
        "headers": headers,
        "content_types": [part.get_content_type() for part in message.walk()],
        "size": len(entry["raw"]),
        "connection": entry["connection"],
        "auth_user": entry["auth_user"],
    }


def make_http_app(smtp: SandboxSMTP) -> Flask:
    """GET /_sandbox/messages, GET /_sandbox/count, GET /_sandbox/messages/<i>/raw, POST /_sandbox/reset, POST /_sandbox/faults."""
    app = quiet_app(__name__)
    app.extensions["sandbox"] = smtp

    @app.get("/_sandbox/messages")
    def messages():
        return jsonify({"messages": [message_summary(entry, i) for i, entry in enumerate(smtp.messages)]})

    @app.get("/_sandbox/count")
    def count():
        return jsonify({"messages": len(smtp.messages)})

    @app.get("/_sandbox/messages/<int:index>/raw")
    def raw_message(index: int):
        stored = smtp.messages
        if index >= len(stored):
            return jsonify({"error": f"no message {index}; {len(stored)} stored"}), 404
        return Response(stored[index]["raw"], content_type="message/rfc822")

    @app.post("/_sandbox/reset")
    def reset():
        smtp.reset()
        return jsonify({"ok": True})

    @app.post("/_sandbox/faults")
    def set_faults():
        options = request.get_json(silent=True)
        if not isinstance(options, dict):
            return jsonify({"ok": False, "error": "send a JSON object of fault options"}), 400
        try:
            plan = smtp.set_faults(**options)
        except (TypeError, ValueError) as exc:
            return jsonify({"ok": False, "error": str(exc)}), 400
        return jsonify({"ok": True, "faults": {f.name: _jsonable(getattr(plan, f.name)) for f in fields(plan)}})

    return app


def _jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value
