"""Long-running processes mask every configured secret in their log records, tracebacks included."""
from __future__ import annotations

import io
import logging

import pytest

from publisher.config import load_settings
from publisher.log_redaction import redact_log_records

TOKEN = "123456:SECRET-bot-token-value"


@pytest.fixture
def restored_factory():
    before = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(before)


def test_a_secret_in_a_message_or_a_traceback_never_reaches_the_log(restored_factory):
    settings = load_settings(env={"PUBLISHER_TELEGRAM_BOT_TOKEN": TOKEN, "PUBLISHER_SMTP_PASSWORD": "smtp-pass-word"})
    redact_log_records(settings)
    redact_log_records(settings)  # once per process, however often asked
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("publisher.test_log_redaction")
    logger.addHandler(handler)
    try:
        logger.warning("calling https://api.telegram.org/bot%s/sendMessage", TOKEN)
        try:
            raise ConnectionError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage with smtp-pass-word failed")
        except ConnectionError:
            logger.exception("pressing stopped")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert TOKEN not in text and "smtp-pass-word" not in text
    assert "sendMessage" in text and "ConnectionError" in text and "***" in text
