"""Publishing at a time: an editor schedules a post (`publisher schedule`, the desk's picker) and
whichever `publisher serve` or `publisher worker` process first claims it when due presses it
(publisher.scheduler), through the same press as `publisher publish --yes`.

A file's `publish_at:` alone schedules nothing. Scheduling checks the post as a press would (a
draft, or a post whose checks find problems, is refused unless --force), and refuses a time in
the past: to send now, publish. The schedule keeps the post's absolute path and the sha256 of
its content; at the due time the current file is pressed (see publisher.scheduler).

Claims are a compare-and-set UPDATE (scheduled → publishing, or a publishing row whose claimer
stopped renewing it) on SQLite and PostgreSQL alike: of several processes, exactly one wins.
State words: publisher.states.ScheduleState.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from publisher.config import Settings
from publisher.errors import InputError, PostError
from publisher.front_matter import parse_moment
from publisher.models import Schedule, utcnow
from publisher.post import Post, load_post
from publisher.states import ScheduleState
from publisher.store import Store, clip_error

SCHEDULE_STATES = tuple(ScheduleState)
LIVE_STATES = (ScheduleState.SCHEDULED, ScheduleState.PUBLISHING)
MAX_ZONE_CHARS = 64
FIRST_YEAR, LAST_YEAR = 1970, 9998  # a schedule's time, read in any zone, stays a valid date


class ScheduleRefused(InputError):
    """A post that cannot be scheduled as it is (its checks found problems): exit 2."""

    def __init__(self, post: Post, problems: dict[str, list[str]]):
        lines = [f"{name}: {problem}" for name, found in problems.items() for problem in found]
        super().__init__(post.source, "not scheduled; its checks found problems (the press at the due time would "
                         "send nothing). Fix them, or schedule with --force to send everything as it is then:\n  "
                         + "\n  ".join(lines))
        self.problems = problems


# -- times -----------------------------------------------------------------------------------------

def zone_named(name: str, where: str) -> ZoneInfo:
    name = name.strip()
    if not name or len(name) > MAX_ZONE_CHARS or not re.fullmatch(r"[A-Za-z0-9_+\-/]+", name):
        raise InputError(where, f"expected a time zone like Europe/Paris or UTC, got {name[:MAX_ZONE_CHARS]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(where, f"unknown time zone {name!r}; expected a name like Europe/Paris or UTC") from None


def parse_when(text: str, zone: str, where: str = "--at") -> tuple[datetime, str]:
    """(the moment, the zone it is shown in) from `2026-01-24T08:00:00+08:00`, `2026-01-24 08:00`
    (in `zone`), or `2026-01-24 08:00 Europe/Paris`."""
    text = " ".join(str(text).split())[:100]
    words = text.rsplit(" ", 1)
    if len(words) == 2 and "/" in words[1]:
        text, zone = words
    tz = zone_named(zone, where)
    try:
        return parse_moment(text, tz), zone
    except (ValueError, OverflowError):
        raise InputError(where, f"expected a date and time like 2026-01-24T08:00:00+08:00 or 2026-01-24 08:00 "
                         f"(in {zone}), got {text!r}") from None


def within_calendar(moment: datetime, where: str) -> datetime:
    """`moment`, when every zone can show it: a year such as 9999 at -12:00 is a valid local time
    whose UTC (and other zones') reading is past the calendar's end, which would fail at storing
    and showing it."""
    try:
        year = moment.astimezone(timezone.utc).year
    except (OverflowError, ValueError):
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(where, f"{moment.isoformat()[:40]} is outside the years {FIRST_YEAR}-{LAST_YEAR}; "
                         "give a date like 2026-01-24 08:00")
    return moment


def shown(moment: datetime | None, zone: str) -> str:
    """`2026-01-24 08:00 Asia/Shanghai`: a moment as the editor reads it."""
    if moment is None:
        return ""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz, zone = ZoneInfo("UTC"), "UTC"
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M") + f" {zone}"


def in_words(seconds: float) -> str:
    seconds = int(round(abs(seconds)))
    for size, one in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size or size == 1:
            count = seconds // size
            return f"{count} {one}{'' if count == 1 else 's'}"
    return ""  # pragma: no cover


# -- scheduling --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scheduled:
    row: Schedule
    moved_from: datetime | None  # the time it had when it was already scheduled


def due_time(post: Post, at: str | None, settings: Settings, zone: str | None = None) -> tuple[datetime, str]:
    """The time to press: `at` (the command line's --at, the desk's picker) over `publish_at:`."""
    zone = zone or settings.timezone
    if at:
        when, zone = parse_when(at, zone, "--at")
        return within_calendar(when, "--at"), zone
    if post.publish_at is None:
        raise PostError(post.source, "has no publish_at: in its front matter; add one (e.g. publish_at: "
                        "2026-01-24T08:00:00+08:00) or give the time with --at")
    return within_calendar(post.publish_at, f"{post.source}, field 'publish_at'"), zone


def check_schedulable(path: Path, settings: Settings, force: bool) -> Post:
    """The checks of `publisher publish`, run now, creating nothing: a draft, a post whose checks
    find problems (unless `force`) and a post with nothing left to send are refused."""
    from channels.registry import CHANNELS
    from publisher.press_plan import press_plan
    from publisher.preview import render_all
    from publisher.publish import Pressed, blocking_problems, learn_before_render, refuse_draft
    from publisher.rounds import round_publication
    from publisher.status import latest_publication

    post = load_post(path, settings)
    refuse_draft(post, "scheduling")
    learn_before_render(post, settings)
    rendered = render_all(post, settings)
    store = Store(settings.db_url)
    latest = latest_publication(store, post.slug)
    newest = latest.id if latest is not None else 0  # 0: no publication, so no delivery is found
    pressed = Pressed(rendered, store, newest, {name: round_publication(store, post.slug, name, newest)
                                                for name in CHANNELS})
    problems = blocking_problems(pressed, settings)
    if problems and not force:
        raise ScheduleRefused(post, problems)
    if all(line.action in ("skipped", "disabled") for line in press_plan(pressed, settings, force=True)):
        raise PostError(post.source, "was already published on every channel: a press at that time would "
                        "send nothing (`publisher publish POST --again` starts a new round now)")
    return post


def schedule_post(path: str | Path, settings: Settings, *, at: str | None = None, zone: str | None = None,
                  force: bool = False, now: datetime | None = None) -> Scheduled:
    """Check the post, then schedule it (or move its schedule to the new time)."""
    from publisher.publish import post_sha256

    path = Path(path).resolve()
    post = check_schedulable(path, settings, force)
    when, zone = due_time(post, at, settings, zone)
    now = now or utcnow()
    if when <= now:
        raise InputError("--at" if at else f"{post.source}, field 'publish_at'",
                         f"{shown(when, zone)} is in the past (now: {shown(now, zone)}); give a later time, or "
                         "send it now with `publisher publish`")
    return ScheduleBook(Store(settings.db_url)).put(post, path, post_sha256(path), when, zone, force)


def unschedule_post(path: str | Path, settings: Settings) -> Schedule:
    """Cancel the post's schedule before it is due. The file need not load (it may be broken or
    gone): its path finds the schedule too."""
    book = ScheduleBook(Store(settings.db_url))
    resolved = Path(path).resolve()
    row = book.live_for_path(str(resolved))
    if row is None and resolved.is_file():
        row = book.live_for_slug(load_post(resolved, settings).slug)
    if row is None:
        raise InputError(str(path), "is not scheduled; nothing to unschedule")
    return book.cancel(row)


class ScheduleBook:
    """The schedules table: every read and write of it, and the claim."""

    def __init__(self, store: Store):
        self.store = store

    def put(self, post: Post, path: Path, sha: str, when: datetime, zone: str, force: bool) -> Scheduled:
        """Schedule the post, or move the time of its live schedule; one write transaction, and
        `active_slug` is unique, so two editors at once make one schedule (the row is locked
        against a claim meanwhile: SQLite's write lock, PostgreSQL's FOR UPDATE)."""
        try:
            return self._put(post, path, sha, when, zone, force)
        except IntegrityError:
            raise InputError(post.source, "was scheduled by someone else at the same moment; see `publisher "
                             "status`, then schedule again to move it") from None

    def _put(self, post: Post, path: Path, sha: str, when: datetime, zone: str, force: bool) -> Scheduled:
        with self.store.session() as session:
            row = session.scalars(select(Schedule).where(Schedule.active_slug == post.slug)
                                  .with_for_update()).one_or_none()
            if row is not None and row.state == ScheduleState.PUBLISHING:
                raise InputError(post.source, f"is being published now (it was due {shown(row.due_at, row.zone)}); "
                                 "see `publisher status`")
            moved_from = row.due_at if row is not None else None
            if row is None:
                row = Schedule(post_slug=post.slug, active_slug=post.slug, created_at=utcnow())
                session.add(row)
            row.post_path, row.title, row.content_sha256 = str(path), post.title, sha
            row.due_at, row.zone, row.force, row.state = when, zone, force, ScheduleState.SCHEDULED
            row.note = row.last_error = None
            session.flush()
            return Scheduled(row, moved_from)

    def cancel(self, row: Schedule) -> Schedule:
        """scheduled → unscheduled, only if no process claimed it meanwhile."""
        with self.store.session() as session:
            moved = session.execute(
                update(Schedule).where(Schedule.id == row.id, Schedule.state == ScheduleState.SCHEDULED)
                .values(state=ScheduleState.UNSCHEDULED, active_slug=None)
                .execution_options(synchronize_session=False)).rowcount
            current = session.get(Schedule, row.id)
        if not moved:
            raise InputError(current.post_path, f"is already {current.state} (it was due "
                             f"{shown(current.due_at, current.zone)}); too late to unschedule")
        return current

    def live_for_path(self, path: str) -> Schedule | None:
        with self.store.read_session() as session:
            return session.scalars(select(Schedule).where(Schedule.post_path == path,
                                                          Schedule.state.in_(LIVE_STATES))).first()

    def live_for_slug(self, slug: str) -> Schedule | None:
        with self.store.read_session() as session:
            return session.scalars(select(Schedule).where(Schedule.active_slug == slug)).one_or_none()

    def latest(self, slugs: list[str] | None = None) -> dict[str, Schedule]:
        """The newest schedule of each post (of `slugs`, or all), unscheduled ones included."""
        query = select(Schedule).order_by(Schedule.id)
        if slugs is not None:
            query = query.where(Schedule.post_slug.in_(slugs))
        with self.store.read_session() as session:
            return {row.post_slug: row for row in session.scalars(query)}

    # -- the claim ---------------------------------------------------------------------------------

    def due(self, now: datetime, stale_before: datetime, limit: int = 10) -> list[int]:
        """Ids of schedules due now, and of publishing ones whose claimer stopped renewing its
        claim (a process that died mid-press): one indexed read, no write lock."""
        query = (select(Schedule.id).where(or_(
            and_(Schedule.state == ScheduleState.SCHEDULED, Schedule.due_at <= now),
            and_(Schedule.state == ScheduleState.PUBLISHING, Schedule.claimed_at < stale_before)))
            .order_by(Schedule.due_at).limit(limit))
        with self.store.read_session() as session:
            return list(session.scalars(query))

    def claim(self, schedule_id: int, me: str, now: datetime, stale_before: datetime) -> Schedule | None:
        """The compare-and-set: this process presses the schedule only if the UPDATE moved it."""
        with self.store.session() as session:
            moved = session.execute(
                update(Schedule).where(Schedule.id == schedule_id, or_(
                    and_(Schedule.state == ScheduleState.SCHEDULED, Schedule.due_at <= now),
                    and_(Schedule.state == ScheduleState.PUBLISHING, Schedule.claimed_at < stale_before)))
                .values(state=ScheduleState.PUBLISHING, claimed_by=me, claimed_at=now)
                .execution_options(synchronize_session=False)).rowcount
            if moved != 1:
                return None
            row = session.get(Schedule, schedule_id)
            row.started_at = row.started_at or now
            return row

    def renew(self, schedule_id: int, me: str) -> bool:
        """Still pressing: keep the claim fresh so no other process takes it over."""
        with self.store.session() as session:
            return session.execute(
                update(Schedule).where(Schedule.id == schedule_id, Schedule.claimed_by == me,
                                       Schedule.state == ScheduleState.PUBLISHING)
                .values(claimed_at=utcnow()).execution_options(synchronize_session=False)).rowcount == 1

    def finish(self, schedule_id: int, me: str, state: ScheduleState, *, publication_id: int | None = None,
               note: str | None = None, error: str | None = None) -> None:
        with self.store.session() as session:
            row = session.get(Schedule, schedule_id)
            if row is None or row.claimed_by != me or row.state != ScheduleState.PUBLISHING:
                return  # another process took it over (this one was presumed dead): its outcome stands
            row.state, row.active_slug = state, None
            row.published_at = utcnow() if state == ScheduleState.PUBLISHED else None
            row.publication_id = publication_id
            row.note = clip_error(" ".join(part for part in (row.note, note) if part) or None)
            row.last_error = clip_error(error)

    def add_note(self, schedule_id: int, note: str) -> None:
        with self.store.session() as session:
            row = session.get(Schedule, schedule_id)
            row.note = clip_error(" ".join(part for part in (row.note, note) if part))


# -- what status and the desk show -----------------------------------------------------------------

def describe(row: Schedule, now: datetime | None = None) -> dict:
    """A schedule as `status --json` and the desk show it: times in its zone and in UTC."""
    now = now or utcnow()
    return {
        "state": row.state, "zone": row.zone, "post_path": row.post_path, "force": bool(row.force),
        "due_at": row.due_at.isoformat(), "due_local": shown(row.due_at, row.zone), "due_utc": shown(row.due_at, "UTC"),
        "due_in_seconds": round((row.due_at - now).total_seconds()),
        "published_at": row.published_at.isoformat() if row.published_at else None,
        "published_local": shown(row.published_at, row.zone), "published_utc": shown(row.published_at, "UTC"),
        "publication_id": row.publication_id, "note": row.note, "last_error": row.last_error,
    }


def schedule_line(info: dict) -> str:
    """One line for `publisher status` and the desk's list."""
    due = f"due {info['due_local']} ({info['due_utc']})"
    state = info["state"]
    if state == ScheduleState.SCHEDULED:
        line = f"scheduled: {due}, in {in_words(info['due_in_seconds'])}" if info["due_in_seconds"] > 0 \
            else f"scheduled: {due}; waiting for a `publisher serve` or `publisher worker` to press it"
    elif state == ScheduleState.PUBLISHING:
        line = f"publishing now: {due}"
    elif state == ScheduleState.PUBLISHED:
        line = f"published on schedule: {due}; sent {info['published_local']} ({info['published_utc']})"
    else:
        line = f"schedule {state}: {due}"
    extras = [text for text in (info["note"], info["last_error"]) if text]
    return line + "".join(f". {text}" for text in extras)


def attach_schedules(report: list[dict], store: Store, slug: str | None = None) -> list[dict]:
    """Add each post's newest schedule to a `publisher status` report (publisher.status), and a
    post that is scheduled but was never pressed."""
    schedules = ScheduleBook(store).latest([slug] if slug else None)
    for entry in report:
        row = schedules.pop(entry["slug"], None)
        entry["schedule"] = describe(row) if row is not None else None
    for found_slug, row in sorted(schedules.items()):
        if row.state != ScheduleState.UNSCHEDULED:
            report.append({"slug": found_slug, "title": row.title, "generation": 0, "publication_id": None,
                           "created_at": row.created_at, "where": "", "channels": [], "schedule": describe(row)})
    return report


def stale_cutoff(now: datetime, stale_seconds: float) -> datetime:
    return now - timedelta(seconds=stale_seconds)
