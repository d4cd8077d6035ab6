"""Dates as sites write them in front matter and file names (parse_date's docstring lists the forms)."""
from __future__ import annotations

import datetime as dt
import email.utils
import re

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_TIME = r"(?:(?:\s*[T ]\s*|,?\s+(?:at\s+)?)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*([ap]\.?m\.?)?)?"
_ZONE = r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_DATE_FORMS = (  # (pattern, order of year/month/day groups)
    (re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME + _ZONE, re.I), "ymd"),
    (re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日" + _TIME + _ZONE, re.I), "ymd"),
    (re.compile(r"(\d{1,2})[-/](\d{1,2})[-/](\d{4})" + _TIME + _ZONE, re.I), "mdy"),
    (re.compile(r"(?:[a-z]{3,9}\.?,?\s+)?([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})" + _TIME + _ZONE,
                re.I), "Mdy"),
    (re.compile(r"(?:[a-z]{3,9}\.?,?\s+)?(\d{1,2})(?:st|nd|rd|th)?\.?\s+([a-z]{3,9})\.?,?\s+(\d{4})" + _TIME + _ZONE,
                re.I), "dMy"),
)


def parse_date(value: object) -> dt.datetime:
    """A date or date-time as sites write it: ISO 8601 (with or without time and zone), Jekyll's
    `2026-01-24 08:00:00 +0800`, 2026/01/24, 01-24-2026 and 01/24/2026 (month first),
    January 24, 2026, 24 Jan 2026, 2026年1月24日, RFC 2822, Unix time in seconds or milliseconds
    (UTC). Naive when no zone is written. Raises ValueError for anything else."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and re.fullmatch(r"\d{9,13}", value.strip()):
        return _epoch(int(value))
    if not isinstance(value, str) or len(value) > 100:
        raise ValueError(value)
    text = " ".join(value.split())
    for pattern, order in _DATE_FORMS:
        m = pattern.fullmatch(text)
        if m:
            return _build(m, order)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        raise ValueError(value)
    return parsed



def file_name_date(stem: str, zone: dt.tzinfo) -> dt.datetime | None:
    """Jekyll's and Docusaurus's `2026-01-24-title.md` (or `2026-01-24_title.md`): the file name dates
    a post without `date:` (the slug stays the whole name, as posts already sent were filed under it)."""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})[-_]", stem)
    try:
        return dt.datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=zone) if m else None
    except ValueError:  # 2026-13-40-…: not a date
        return None


def parse_moment(value: object, zone: dt.tzinfo) -> dt.datetime:
    """A date with a time of day (`publish_at:`), aware: one written without a zone is in `zone`.
    Raises ValueError for a bare date (midnight is rarely meant) or anything parse_date refuses."""
    if isinstance(value, str) and not re.search(r"\d:\d\d", value):
        raise ValueError(value)
    if not isinstance(value, (str, dt.datetime)):
        raise ValueError(value)
    moment = parse_date(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _epoch(seconds: int) -> dt.datetime:
    """Unix time as some exporters write `date:`; 13 digits are milliseconds. Small numbers (a year,
    a day count) are not dates."""
    if seconds >= 10**11:
        seconds //= 1000
    if not 10**8 <= seconds < 10**11:
        raise ValueError(seconds)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def _build(m: re.Match, order: str) -> dt.datetime:
    parts = dict(zip(order, m.groups()[:3], strict=True))
    if "M" in parts:
        word = parts.pop("M").lower()
        month = next((i for i, name in enumerate(_MONTHS, 1) if len(word) >= 3 and name.startswith(word)), None)
        if month is None:
            raise ValueError(word)
        parts["m"] = str(month)
    hour, minute, second, fraction, meridiem, zone = m.groups()[3:]
    hour = int(hour or 0)
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError(hour)
        hour = hour % 12 + (12 if meridiem[0].lower() == "p" else 0)
    tz = None
    if zone:
        if zone.upper() in ("Z", "UTC", "GMT"):
            tz = dt.timezone.utc
        else:
            digits = zone[1:].replace(":", "")
            if int(digits[2:] or 0) > 59:
                raise ValueError(zone)
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            tz = dt.timezone(-offset if zone[0] == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return dt.datetime(int(parts["y"]), int(parts["m"]), int(parts["d"]), hour, int(minute or 0),
                       int(second or 0), micro, tzinfo=tz)
