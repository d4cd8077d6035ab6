"""Start every stand-in at once: `publisher sandbox` (foreground) and `publisher publish --sandbox`
(in-process, for one run). `Sandbox.env()` gives the PUBLISHER_* lines that point the publisher
at them; every secret in those lines is a sandbox value, never a real one."""
from __future__ import annotations

from dataclasses import dataclass

from publisher.sandbox import images, telegram_api, wechat_api, x_api
from publisher.sandbox.common import RunningServer
from publisher.sandbox.smtp_server import SandboxSMTP, make_http_app

SANDBOX_CHAT_ID = "@sandbox_channel"
SANDBOX_SITE_URL = "https://example.com"  # a documentation domain (RFC 2606): links lead nowhere real
SANDBOX_EMAIL_FROM = "Newsletter <newsletter@example.com>"
DEFAULT_PORTS = {"smtp": 2525, "smtp_http": 8100, "x": 8101, "telegram": 8102, "wechat": 8103, "images": 8104}


@dataclass
class Sandbox:
    smtp: SandboxSMTP
    servers: dict[str, RunningServer]

    def env(self) -> dict[str, str]:
        return {
            "PUBLISHER_SMTP_HOST": "127.0.0.1",
            "PUBLISHER_SMTP_PORT": str(self.smtp.port),
            "PUBLISHER_SMTP_SECURITY": "none",
            "PUBLISHER_X_API_BASE": self.servers["x"].url,
            "PUBLISHER_X_UPLOAD_BASE": self.servers["x"].url,
            "PUBLISHER_X_CONSUMER_KEY": x_api.DEFAULT_CONSUMER_KEY,
            "PUBLISHER_X_CONSUMER_SECRET": x_api.DEFAULT_CONSUMER_SECRET,
            "PUBLISHER_X_ACCESS_TOKEN": x_api.DEFAULT_ACCESS_TOKEN,
            "PUBLISHER_X_ACCESS_TOKEN_SECRET": x_api.DEFAULT_ACCESS_TOKEN_SECRET,
            "PUBLISHER_TELEGRAM_API_BASE": self.servers["telegram"].url,
            "PUBLISHER_TELEGRAM_BOT_TOKEN": telegram_api.DEFAULT_TOKEN,
            "PUBLISHER_TELEGRAM_CHAT_ID": SANDBOX_CHAT_ID,
            "PUBLISHER_WECHAT_API_BASE": self.servers["wechat"].url,
            "PUBLISHER_WECHAT_APP_ID": wechat_api.DEFAULT_APP_ID,
            "PUBLISHER_WECHAT_APP_SECRET": wechat_api.DEFAULT_APP_SECRET,
            "PUBLISHER_IMAGE_PROXY": f"{self.servers['images'].url}/fetch",
            "PUBLISHER_ALLOW_PRIVATE_FETCH": "1",  # the stand-ins are on loopback
            # What readers would see must be set for a live send; the stand-ins have their own.
            "PUBLISHER_SITE_URL": SANDBOX_SITE_URL,
            "PUBLISHER_EMAIL_FROM": SANDBOX_EMAIL_FROM,
        }

    def readouts(self) -> dict[str, str]:
        """Where to read what each stand-in received."""
        return {
            "email": f"{self.servers['smtp_http'].url}/_sandbox/messages",
            "x": f"{self.servers['x'].url}/_sandbox/tweets",
            "telegram": f"{self.servers['telegram'].url}/_sandbox/messages",
            "wechat": f"{self.servers['wechat'].url}/_sandbox/drafts",
        }

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.smtp.stop()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(ports: dict[str, int] | None = None) -> Sandbox:
    """Start all stand-ins on loopback; ports 0 (the default) pick free ones."""
    ports = ports or {}
    smtp = SandboxSMTP(port=ports.get("smtp", 0)).start()
    apps = {
        "smtp_http": make_http_app(smtp),
        "x": x_api.make_app(),
        "telegram": telegram_api.make_app(),
        "wechat": wechat_api.make_app(),
        "images": images.make_app(),
    }
    servers = {name: RunningServer(app, port=ports.get(name, 0)).start() for name, app in apps.items()}
    return Sandbox(smtp, servers)
