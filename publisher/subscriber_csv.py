"""Reading subscriber rows from a CSV file (`publisher subscribers import`, the desk's import):
the file is checked as a whole (UTF-8 text, a header with an email column), then each row on its
own, so the good rows are taken and the bad ones reported by line with a reason.

Columns: email (required), name, status (active, unsubscribed or bounced; "pending" is only ever
set by a sign-up, publisher.signup, and is refused here). Other columns are ignored and named."""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from publisher.addresses import InvalidAddress, normalize_email
from publisher.errors import InputError
from publisher.states import SUBSCRIBER_STATUSES

MAX_NAME = 200
CSV_DELIMITERS = (",", ";", "\t")  # spreadsheets in many locales export ";" or tabs
EMAIL_COLUMN, NAME_COLUMN, STATUS_COLUMN = "email", "name", "status"
IMPORT_STATUSES = tuple(status for status in SUBSCRIBER_STATUSES if status != "pending")


def clean_name(raw: str | None) -> str:
    name = " ".join(unicodedata.normalize("NFC", raw or "").split())
    if len(name) > MAX_NAME:
        raise InvalidAddress(f"name longer than {MAX_NAME} characters")
    return name


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    value: str  # the email cell as written (or the whole row if there is none)


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str
    status: str | None


def _read_csv_text(path: Path) -> str:
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(where, "file not found") from None
    except IsADirectoryError:
        raise InputError(where, "is a directory; expected a CSV file") from None
    except OSError as exc:
        raise InputError(where, f"cannot read the file: {exc.strerror}") from None
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise InputError(f"{where}: line {line}", "binary data; expected a CSV text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{where}: line {line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                         "save the file as CSV UTF-8") from None


def _header(text: str, where: str) -> tuple[str, list[str]]:
    """The delimiter and the lowercase column names of the first line."""
    first_line = text.splitlines()[0] if text.strip() else ""
    if not first_line.strip():
        raise InputError(f"{where}: line 1", "empty first line; expected a header such as email,name,status")
    for delimiter in CSV_DELIMITERS:
        try:
            names = next(csv.reader([first_line], delimiter=delimiter))
        except csv.Error as exc:
            raise InputError(f"{where}: line 1", f"not valid CSV: {exc}") from None
        names = [name.strip().lower() for name in names]
        if EMAIL_COLUMN in names:
            return delimiter, names
    raise InputError(f"{where}: line 1", f"no 'email' column in the header (found: {first_line.strip()[:80]!r}); "
                     "expected columns email[,name][,status]")


def parse_subscriber_csv(path: Path, smtputf8: bool = False) -> tuple[list[ImportRow], list[BadLine], list[str]]:
    """Good rows, bad lines (with reasons) and ignored column names. File-level problems raise."""
    where = str(path)
    text = _read_csv_text(path)
    if not text.strip():
        raise InputError(where, "empty file; expected a header line with an 'email' column")
    delimiter, names = _header(text, where)
    ignored = [name for name in names if name not in (EMAIL_COLUMN, NAME_COLUMN, STATUS_COLUMN)]
    # strict: an unclosed quote is an error instead of silently swallowing the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[ImportRow] = []
    bad: list[BadLine] = []
    first_seen: dict[str, int] = {}
    line = 1
    try:
        next(reader)
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            row = _parse_row(start, cells, names, bad, smtputf8)
            if row is None:
                continue
            if row.email in first_seen:
                bad.append(BadLine(start, f"duplicate of line {first_seen[row.email]}", row.email))
                continue
            first_seen[row.email] = start
            rows.append(row)
    except csv.Error as exc:
        raise InputError(f"{where}: line {line}", f"not valid CSV: {exc} (in the record starting on "
                         "this line; check its quotes)") from None
    return rows, bad, ignored


def _parse_row(line: int, cells: list[str], names: list[str], bad: list[BadLine],
               smtputf8: bool = False) -> ImportRow | None:
    values = dict(zip(names, cells))
    raw_email = values.get(EMAIL_COLUMN, "")
    if len(cells) > len(names):
        bad.append(BadLine(line, f"{len(cells)} fields but the header has {len(names)} "
                           "(put quotes around values that contain the delimiter)", raw_email))
        return None
    status = (values.get(STATUS_COLUMN) or "").strip().lower() or None
    try:
        email = normalize_email(raw_email, smtputf8=smtputf8)
        name = clean_name(values.get(NAME_COLUMN))
    except InvalidAddress as exc:
        bad.append(BadLine(line, str(exc), raw_email))
        return None
    if status is not None and status not in IMPORT_STATUSES:
        reason = ("pending is set only by a sign-up, which mails the confirmation link"
                  if status == "pending" else "unknown status")
        bad.append(BadLine(line, f"{reason} {status!r}; expected one of {', '.join(IMPORT_STATUSES)}", raw_email))
        return None
    return ImportRow(line, email, name, status)
