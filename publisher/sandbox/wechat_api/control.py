"""The stand-in's own routes for tests and the demo: what it holds (drafts, uploads, media bytes,
published articles), its clock, its options at run time, and scripted errcodes."""
from __future__ import annotations

import io
from dataclasses import fields, replace

from flask import Flask, Response, jsonify, request
from PIL import Image

from publisher.sandbox.wechat_api.state import WeChatOptions, WeChatState


def _add_inspection_routes(app: Flask, state: WeChatState) -> None:
    @app.get("/_sandbox/drafts")
    def sandbox_drafts():
        with state.lock:
            drafts = [{k: v for k, v in d.items() if k != "serial"} for d in state.drafts.values()]
        return jsonify({"drafts": drafts})

    @app.get("/_sandbox/uploads")
    def sandbox_uploads():
        with state.lock:
            return jsonify({"uploads": list(state.uploads.values()), "materials": list(state.materials.values())})

    @app.get("/_sandbox/media/<sha256>")
    def sandbox_media(sha256: str):
        with state.lock:
            data = state.media_bytes.get(sha256)
        if data is None:
            return jsonify({"error": f"no media {sha256}"}), 404
        with Image.open(io.BytesIO(data)) as image:
            mime = Image.MIME.get(image.format or "", "application/octet-stream")
        return Response(data, content_type=mime)

    @app.get("/_sandbox/published")
    def sandbox_published():
        with state.lock:
            published = [{k: v for k, v in a.items() if k != "serial"} for a in state.published.values()]
            jobs = [dict(job) for job in state.jobs.values()]
        return jsonify({"published": published, "jobs": jobs})

    @app.post("/_sandbox/clock")
    def sandbox_clock():
        advance = (request.get_json(silent=True) or {}).get("advance", 0)
        if not isinstance(advance, (int, float)) or advance < 0:
            return jsonify({"ok": False, "error": "advance must be seconds >= 0"}), 400
        with state.lock:
            state.time_offset += advance
            return jsonify({"ok": True, "now": state.now()})

    @app.post("/_sandbox/config")
    def sandbox_config():
        changes = request.get_json(silent=True) or {}
        known = {f.name for f in fields(WeChatOptions)} - {"clock"}
        unknown = sorted(set(changes) - known)
        if unknown:
            return jsonify({"ok": False, "error": f"unknown option(s) {unknown}; known: {sorted(known)}"}), 400
        if isinstance(changes.get("allowed_ips"), list):
            changes["allowed_ips"] = tuple(changes["allowed_ips"])
        updated = replace(state.options, **changes)
        try:
            updated.check()
        except (TypeError, ValueError) as exc:
            return jsonify({"ok": False, "error": str(exc)}), 400
        with state.lock:
            state.options = updated
        return jsonify({"ok": True, "options": {name: getattr(updated, name) for name in sorted(known)}})

    @app.post("/_sandbox/errcodes")
    def sandbox_errcodes():
        rules = (request.get_json(silent=True) or {}).get("rules", [])
        try:
            parsed = [{"match": str(r.get("match", "")), "errcode": int(r["errcode"]),
                       "times": int(r.get("times", 1)), "fired": 0} for r in rules]
        except (AttributeError, KeyError, TypeError, ValueError):
            return jsonify({"ok": False, "error": 'rules: [{"match": str, "errcode": int, "times": int}]'}), 400
        with state.lock:
            state.errcode_rules = parsed
        return jsonify({"ok": True, "rules": len(parsed)})
