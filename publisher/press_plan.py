"""What a press is about to do, channel by channel, before anything is sent: the CLI shows it and
asks on a terminal, the desk shows it as a confirmation step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.publish import Pressed, blocking_problems
from publisher.rounds import nothing_left


@dataclass(frozen=True)
class PlanLine:
    channel: str
    action: str  # send | outbox | blocked | disabled | skipped
    words: str


def active_subscribers(pressed: Pressed, settings: Settings) -> int:
    from publisher.subscribers import Subscribers

    return Subscribers(pressed.store, settings).count().get("active", 0)


def press_plan(pressed: Pressed, settings: Settings, only: Sequence[str] = (), *, force: bool = False,
               ready_only: bool = False) -> list[PlanLine]:
    post = pressed.rendered.post
    blocked = blocking_problems(pressed, settings, only)
    recipients = active_subscribers(pressed, settings)
    lines = []
    for name, channel in CHANNELS.items():
        if only and name not in only:
            continue
        title = channel.title or name
        if not post.channel_enabled(name):
            lines.append(PlanLine(name, "disabled", f"{title}: turned off in the post"))
        elif done := nothing_left(pressed.store, pressed.round_of(name), channel, pressed.rendered.payloads[name],
                                  settings):
            lines.append(PlanLine(name, "skipped", f"{title}: already {done}; nothing is sent again"))
        elif name in blocked and not force:
            lines.append(PlanLine(name, "blocked", f"{title}: blocked: {'; '.join(blocked[name])}"))
        elif not channel.configured(settings):
            lines.append(PlanLine(name, "outbox", f"{title}: no credentials; written to the outbox folder"))
        else:
            plan = channel.plan_summary(pressed.rendered.payloads[name], settings, recipients)
            lines.append(PlanLine(name, "send", f"{title}: {plan.words}"))
    return lines


def sends_anything(lines: list[PlanLine]) -> bool:
    return any(line.action == "send" for line in lines)
