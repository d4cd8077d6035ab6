"""The one place channels are registered. Adding a channel: one module + its template + one line here."""
from __future__ import annotations

from channels import email, telegram, wechat, x
from channels.base import Channel

CHANNELS: dict[str, Channel] = {c.name: c for c in (email.CHANNEL, x.CHANNEL, telegram.CHANNEL, wechat.CHANNEL)}
