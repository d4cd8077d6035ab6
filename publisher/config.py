"""Settings: environment variables (PUBLISHER_*) over an optional TOML file, validated at start.

Secrets come only from the environment and print masked (see `Settings.masked`).
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.errors import ConfigError

SECRET_FIELDS = frozenset({
    "smtp_password", "x_consumer_secret", "x_access_token_secret", "x_access_token",
    "telegram_bot_token", "wechat_app_secret", "desk_password", "secret_key",
})


def state_dir(env: dict[str, str] | None = None) -> Path:
    """Where the default state lives: $PUBLISHER_HOME, else the user's data folder (XDG), so every
    press of a post finds the same ledger from any folder."""
    env = os.environ if env is None else env
    if env.get("PUBLISHER_HOME"):
        return Path(env["PUBLISHER_HOME"]).expanduser()
    # The user's folders come from the process even when the PUBLISHER_* settings were given apart.
    xdg = env.get("XDG_DATA_HOME") or os.environ.get("XDG_DATA_HOME")
    base = xdg or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base).expanduser() / "publisher"


def default_db_url(env: dict[str, str] | None = None, sandbox: bool = False) -> str:
    return f"sqlite:///{state_dir(env) / ('sandbox.db' if sandbox else 'state.db')}"


@dataclass(frozen=True)
class Settings:
    site_url: str = "https://example.com"
    timezone: str = "UTC"
    db_url: str = ""  # "" = default_db_url(): one state per user, whatever the current folder
    secret_key: str = "dev-secret-change-me"
    max_post_bytes: int = 1_000_000
    outbox_dir: str = ""  # "" = the outbox folder beside the default state
    image_proxy: str = ""  # fetch post images through {image_proxy}?url=... (a cache, or the sandbox)
    allow_private_fetch: bool = False  # fetch images from loopback/private hosts too (sandbox, local tests)
    image_fetch_seconds: float = 30.0  # one deadline for downloading one image
    image_max_bytes: int = 20 * 1024 * 1024
    image_max_pixels: int = 40_000_000  # checked from the header, before decoding
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0
    read_timeout_seconds: float = 0.0  # HTTP read timeout for platform APIs; 0 = each channel's default
    # Transient failures are retried with backoff for this long without progress, then given up.
    retry_for_seconds: float = 1800.0
    journal_dir: str = ""  # per-message marks of email sends (publisher.journal); default beside the state
    utm: bool = False  # tag links to the site's own host with utm_source/medium/campaign (publisher.utm)
    # `publisher test` and the desk's "Send a test", all posts together, counted in the store: the
    # desk must not become a relay that mails anyone on demand.
    test_sends_per_hour: int = 10

    # email
    email_from: str = "Newsletter <newsletter@example.com>"
    email_reply_to: str = ""
    email_list_id: str = ""
    email_unsubscribe_mailto: str = ""
    email_batch_size: int = 500
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_utf8: bool = False  # the relay offers SMTPUTF8 (RFC 6531): non-ASCII local parts may be imported
    smtp_max_per_second: float = 0.0  # the relay's rate limit; 0 = as fast as it accepts

    # x
    x_mode: str = "summary"  # summary | full
    x_link_position: str = "last"  # first | last
    x_daily_budget: int = 17  # posts/24h on X's free tier; PLATFORMS.md 1.6
    x_pause_seconds: float = 1.0
    x_api_base: str = "https://api.twitter.com"
    x_upload_base: str = "https://upload.twitter.com"
    x_consumer_key: str = ""
    x_consumer_secret: str = ""
    x_access_token: str = ""
    x_access_token_secret: str = ""

    # telegram
    telegram_mode: str = "full"  # full | summary
    telegram_api_base: str = "https://api.telegram.org"
    telegram_bot_token: str = ""
    telegram_chat_id: str = ""

    # wechat
    wechat_publish: str = "draft"  # draft | publish
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_app_id: str = ""
    wechat_app_secret: str = ""

    # desk / broker
    broker_url: str = ""
    # Names of the settings given by the environment or the file (not defaults): a live send refuses
    # to go out on a default readers would see (an example.com site, an example sender).
    explicit: frozenset = frozenset()
    sandbox: bool = False  # this run publishes to the loopback stand-ins (set by --sandbox, not by hand)
    worker_wait_seconds: float = 30.0  # a press with a broker says so when no worker starts its work by then
    # How often `serve` and `worker` look for due schedules (publisher.scheduler); 0 = never here.
    schedule_poll_seconds: float = 5.0
    desk_password: str = ""
    content_dir: str = "."
    # The public sign-up form (publisher.signup): how long a confirmation link works, and the
    # origins besides the site's own (PUBLISHER_SITE_URL) whose pages may post the form.
    signup_confirm_hours: float = 48.0
    signup_origins: str = ""  # comma-separated, e.g. "https://blog.example.org,https://example.net"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def timeouts(self, default: tuple[float, float]) -> tuple[float, float]:
        """(connect, read) timeouts: the channel's default, or PUBLISHER_READ_TIMEOUT_SECONDS."""
        return (default[0], self.read_timeout_seconds) if self.read_timeout_seconds > 0 else default

    def masked(self) -> dict[str, object]:
        """All settings with secrets replaced, safe to print or log."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = ("***" if value else "") if f.name in SECRET_FIELDS else value
        return out


INTERNAL_FIELDS = frozenset({"explicit", "sandbox"})  # set by the program, never by a variable or the file

CHOICES = {
    "smtp_security": {"none", "starttls", "ssl"},
    "x_mode": {"summary", "full"},
    "x_link_position": {"first", "last"},
    "telegram_mode": {"full", "summary"},
    "wechat_publish": {"draft", "publish"},
}


def _coerce(name: str, raw: object, kind: type, where: str) -> object:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(where, f"expected true or false, got {raw!r}")
    if kind in (int, float):
        try:
            return kind(raw)
        except (TypeError, ValueError):
            raise ConfigError(where, f"expected a number, got {raw!r}") from None
    if not isinstance(raw, (str, int, float)):
        raise ConfigError(where, f"expected text, got {type(raw).__name__}")
    return str(raw)


def load_settings(env: dict[str, str] | None = None, config_file: str | Path | None = None) -> Settings:
    """Build Settings from an optional TOML file (flat keys) and PUBLISHER_* variables (which win)."""
    env = dict(os.environ if env is None else env)
    types = {f.name: f.type for f in dataclasses.fields(Settings) if f.name not in INTERNAL_FIELDS}
    kinds = {name: {"int": int, "float": float, "bool": bool}.get(t, str) for name, t in types.items()}
    values: dict[str, object] = {}

    path = config_file or env.get("PUBLISHER_CONFIG")
    if path:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(str(path), "config file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in types:
                raise ConfigError(f"{path}: {key}", "unknown setting")
            if name in SECRET_FIELDS:
                raise ConfigError(f"{path}: {key}", "secrets are read only from the environment "
                                  f"(PUBLISHER_{name.upper()})")
            values[name] = _coerce(name, raw, kinds[name], f"{path}: {key}")

    for name in types:
        var = f"PUBLISHER_{name.upper()}"
        if var in env and env[var] != "":
            values[name] = _coerce(name, env[var], kinds[name], var)

    for name, allowed in CHOICES.items():
        if name in values and values[name] not in allowed:
            raise ConfigError(_where(name, path, env), f"expected one of {', '.join(sorted(allowed))}, "
                              f"got {values[name]!r}")
    values["explicit"] = frozenset(values)
    values.setdefault("db_url", default_db_url(env))
    values.setdefault("outbox_dir", str(state_dir(env) / "outbox"))
    settings = Settings(**values)
    try:
        settings.tz
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(_where("timezone", path, env), f"unknown time zone {settings.timezone!r}") from None
    if not settings.site_url.startswith(("http://", "https://")):
        raise ConfigError(_where("site_url", path, env), "expected an http(s) URL")
    return settings


def _where(name: str, path: object, env: dict[str, str]) -> str:
    var = f"PUBLISHER_{name.upper()}"
    return var if var in env else f"{path}: {name}" if path else var
