"""The subscribers pages: the list (search, filter by status, pages of 50), a CSV import and
unsubscribing one address."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from publisher.desk.blueprint import _app_parts, desk
from publisher.errors import InputError
from publisher.store import SUBSCRIBER_STATUSES

SUBSCRIBERS_PER_PAGE = 50
MAX_IMPORT_BYTES = 20 * 1024 * 1024  # a 20 MB CSV holds several hundred thousand addresses


@desk.get("/subscribers")
def subscriber_list() -> str:
    return _subscribers_page()


def _subscribers_page(report: dict | None = None, error: str = "", status_code: int = 200) -> Any:
    subscribers = _app_parts()[2]
    search = request.values.get("q", "").strip()
    wanted = request.values.get("status", "")
    status = wanted if wanted in SUBSCRIBER_STATUSES else None
    page = max(0, request.values.get("page", 0, type=int) or 0)
    rows = subscribers.list(status, search or None, limit=SUBSCRIBERS_PER_PAGE + 1, offset=page * SUBSCRIBERS_PER_PAGE)
    return render_template("desk_subscribers.html", counts=subscribers.count(), rows=rows[:SUBSCRIBERS_PER_PAGE],
                           more=len(rows) > SUBSCRIBERS_PER_PAGE, page=page, q=search, status=status or "",
                           statuses=SUBSCRIBER_STATUSES, report=report, error=error), status_code


@desk.post("/subscribers/import")
def subscriber_import() -> Any:
    if (request.content_length or 0) > MAX_IMPORT_BYTES:
        return _subscribers_page(error=f"The file is over {MAX_IMPORT_BYTES // 1024 // 1024} MB; "
                                       "import it with `publisher subscribers import`.", status_code=413)
    upload = request.files.get("csv")
    if upload is None or not upload.filename:
        return _subscribers_page(error="Choose a CSV file to import.", status_code=400)
    with tempfile.TemporaryDirectory(prefix="desk-import-") as folder:
        path = Path(folder) / "upload.csv"
        upload.save(path)
        try:
            result = _app_parts()[2].import_csv(path)
        except InputError as exc:
            return _subscribers_page(error=f"{upload.filename}: {exc.what}", status_code=400)
    report = {"filename": upload.filename, "added": result.added, "updated": result.updated,
              "unchanged": result.unchanged, "not_resubscribed": result.not_resubscribed,
              "bad": result.bad, "ignored": result.ignored_columns}
    return _subscribers_page(report=report)


@desk.post("/subscribers/<int:subscriber_id>/unsubscribe")
def subscriber_unsubscribe(subscriber_id: int) -> Any:
    subscribers = _app_parts()[2]
    if subscribers.unsubscribe(subscriber_id):
        flash("Unsubscribed: no further emails go to this address.", "ok")
    else:
        flash("That subscriber was already not active (or is not on the list).", "bad")
    query = {k: v for k, v in (("q", request.form.get("q", "")), ("status", request.form.get("status", ""))) if v}
    return redirect(url_for("desk.subscriber_list", **query), code=303)
