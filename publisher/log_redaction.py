"""Every log record of a long-running process (`publisher serve`, the Celery worker) with the
configured secrets masked, in its message and in its traceback: a client library's exception may
quote a URL that carries a token (Telegram's /bot<token>/, WeChat's access_token=) or an SMTP
answer that echoes credentials. Installed once per process as the logging record factory, so it
covers every logger (ours, Celery's, waitress's) and is inherited by forked pool processes."""
from __future__ import annotations

import logging
import traceback

from publisher.config import Settings
from publisher.secrets import redact


def redact_log_records(settings: Settings) -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_secrets", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the logging module's to report
            return record
        record.msg, record.args = redact(message, settings), ()
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(text, settings)  # formatters use it instead of formatting again
        return record

    factory.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
