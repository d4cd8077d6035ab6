"""The subscribers pages: the list (search, filter by status, pages of 50 with "showing N of M"),
a CSV import and unsubscribing one address.

The import is bounded twice: the body (publisher.desk.limits: IMPORT_BYTES, counted as it streams
in, chunked uploads included) and the rows (IMPORT_ROWS, counted while the upload is copied to a
temporary file in blocks, before anything is parsed). Larger lists go through
`publisher subscribers import`."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from publisher.desk.blueprint import _app_parts, desk
from publisher.desk.limits import IMPORT_BYTES, IMPORT_ROWS, Pages, too_large_text
from publisher.errors import InputError
from publisher.store import SUBSCRIBER_STATUSES

SUBSCRIBERS_PER_PAGE = 50
MAX_SEARCH_CHARS = 200
BAD_LINES_SHOWN = 200  # the report lists this many bad lines and counts the rest
COPY_BLOCK = 64 * 1024
LARGEST_ID = 2**31 - 1  # the id column is a 32-bit INTEGER on PostgreSQL


class TooLarge(Exception):
    pass


@desk.get("/subscribers")
def subscriber_list() -> str:
    return _subscribers_page()


def _matching(status: str | None, search: str) -> int:
    """How many subscribers the list shows across its pages (Subscribers.list's filter)."""
    return _app_parts()[2].matching(status or None, search or None)


def _subscribers_page(report: dict | None = None, error: str = "", status_code: int = 200) -> Any:
    subscribers = _app_parts()[2]
    search = request.values.get("q", "").strip()[:MAX_SEARCH_CHARS]
    wanted = request.values.get("status", "")
    status = wanted if wanted in SUBSCRIBER_STATUSES else None
    pages = Pages(_matching(status, search), SUBSCRIBERS_PER_PAGE, request.args.get("page"))
    rows = subscribers.list(status, search or None, limit=SUBSCRIBERS_PER_PAGE, offset=pages.offset)
    return render_template("desk_subscribers.html", counts=subscribers.count(), rows=rows, pages=pages,
                           showing=pages.shown(len(rows)), q=search, status=status or "",
                           page_args={k: v for k, v in (("q", search), ("status", status)) if v},
                           statuses=SUBSCRIBER_STATUSES, report=report, error=error), status_code


def _copy_bounded(source, target: Path) -> None:
    """Copy the uploaded file in blocks, counting bytes and lines; stop at the first past a bound."""
    size = lines = 0
    with target.open("wb") as out:
        while block := source.read(COPY_BLOCK):
            size += len(block)
            lines += block.count(b"\n")
            if size > IMPORT_BYTES:
                raise TooLarge(too_large_text(IMPORT_BYTES))
            if lines > IMPORT_ROWS:
                raise TooLarge(f"The file has more than {IMPORT_ROWS:,} lines, more than the desk imports at once; "
                               "import it with `publisher subscribers import FILE.csv` on the server.")
            out.write(block)


@desk.post("/subscribers/import")
def subscriber_import() -> Any:
    upload = request.files.get("csv")
    if upload is None or not upload.filename:
        return _subscribers_page(error="Choose a CSV file to import.", status_code=400)
    with tempfile.TemporaryDirectory(prefix="desk-import-") as folder:
        path = Path(folder) / "upload.csv"
        try:
            _copy_bounded(upload.stream, path)
        except TooLarge as exc:
            return _subscribers_page(error=f"{upload.filename}: {exc}", status_code=413)
        try:
            result = _app_parts()[2].import_csv(path)
        except InputError as exc:
            return _subscribers_page(error=f"{upload.filename}: {exc.what}", status_code=400)
    report = {"filename": upload.filename, "added": result.added, "updated": result.updated,
              "unchanged": result.unchanged, "not_resubscribed": result.not_resubscribed,
              "bad": result.bad[:BAD_LINES_SHOWN], "bad_count": len(result.bad), "ignored": result.ignored_columns}
    return _subscribers_page(report=report)


@desk.post(f"/subscribers/<int(max={LARGEST_ID}):subscriber_id>/unsubscribe")
def subscriber_unsubscribe(subscriber_id: int) -> Any:
    subscribers = _app_parts()[2]
    if subscribers.unsubscribe(subscriber_id):
        flash("Unsubscribed: no further emails go to this address.", "ok")
    else:
        flash("That subscriber was already not active (or is not on the list).", "bad")
    query = {k: v for k, v in (("q", request.form.get("q", "")[:MAX_SEARCH_CHARS]),
                               ("status", request.form.get("status", ""))) if v}
    return redirect(url_for("desk.subscriber_list", **query), code=303)
