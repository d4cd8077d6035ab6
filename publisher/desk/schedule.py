"""The desk's schedule picker: schedule a post for a time (a datetime-local input and a time zone)
and unschedule it, through the CLI's own path (publisher.schedule); what the post page and the
posts list show of a post's schedule.

  POST /posts/<slug>/schedule     at=2026-01-24T08:00, zone=Europe/Paris: checked as `publisher
                                  schedule` checks (no --force from the desk: a post whose checks
                                  find problems is not scheduled)
  POST /posts/<slug>/unschedule
"""
from __future__ import annotations

import functools
from typing import Any
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import request

from publisher.desk.blueprint import _app_parts, desk
from publisher.desk.press import answer
from publisher.desk.shelf import shelf_entry_or_404
from publisher.errors import InputError
from publisher.schedule import ScheduleBook, ScheduleRefused, describe, schedule_line, schedule_post, unschedule_post
from publisher.states import ScheduleState

MAX_FIELD_CHARS = 64  # "2026-01-24T08:00:00" and a zone name fit many times over


@functools.cache
def zone_names() -> tuple[str, ...]:
    """The IANA zones this machine knows, for the picker's suggestions."""
    return tuple(sorted(name for name in available_timezones() if "/" in name or name == "UTC"))


def _field(name: str) -> str:
    return request.form.get(name, "").strip()[:MAX_FIELD_CHARS]


@desk.post("/posts/<slug>/schedule")
def schedule(slug: str) -> Any:
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        return answer(422, f"not loadable: {entry.error or ''}")
    settings = _app_parts()[0]
    at, zone = _field("at"), _field("zone") or settings.timezone
    if not at:
        return answer(400, "Choose a date and time to publish at.")
    try:
        done = schedule_post(entry.path, settings, at=at, zone=zone)
    except ScheduleRefused as exc:
        lines = "; ".join(f"{name}: {problem}" for name, found in exc.problems.items() for problem in found)
        return answer(409, f"Not scheduled: its checks found problems ({lines}). Fix the post first.")
    except InputError as exc:
        return answer(422, f"Not scheduled: {exc.what}")
    info = describe(done.row)
    return answer(200, f"Scheduled for {info['due_local']} ({info['due_utc']}): a running `publisher serve` or "
                  "`publisher worker` publishes it then.", schedule=info)


@desk.post("/posts/<slug>/unschedule")
def unschedule(slug: str) -> Any:
    entry = shelf_entry_or_404(slug)
    try:
        row = unschedule_post(entry.path, _app_parts()[0])
    except InputError as exc:
        return answer(409, f"Not unscheduled: {exc.what}")
    return answer(200, "Unscheduled: nothing will be sent for it.", schedule=describe(row))


def schedule_of(slug: str) -> dict | None:
    """The post's newest schedule as the page shows it, with its one-line summary."""
    row = ScheduleBook(_app_parts()[1]).latest([slug]).get(slug)
    if row is None:
        return None
    info = describe(row)
    return {**info, "line": schedule_line(info), "due_input": local_input(row.due_at, row.zone),
            "live": row.state in (ScheduleState.SCHEDULED, ScheduleState.PUBLISHING)}


def local_input(moment: datetime, zone: str) -> str:
    """The value of a datetime-local input showing `moment` in `zone`."""
    try:
        return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
    except (ZoneInfoNotFoundError, ValueError):
        return moment.strftime("%Y-%m-%dT%H:%M")


def schedules_by_slug(slugs: list[str]) -> dict[str, dict]:
    """The newest schedule of each of these posts that is not cancelled (a page of the list: one read)."""
    rows = ScheduleBook(_app_parts()[1]).latest(list(slugs))
    return {slug: {**describe(row), "line": schedule_line(describe(row))}
            for slug, row in rows.items() if row.state != ScheduleState.UNSCHEDULED}


@desk.app_context_processor
def schedule_helpers() -> dict:
    return {"schedule_of": schedule_of, "schedules_by_slug": schedules_by_slug, "zone_names": zone_names,
            "default_zone": lambda: _app_parts()[0].timezone}
