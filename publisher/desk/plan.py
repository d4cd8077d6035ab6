"""The confirmation step: what pressing Publish would do, channel by channel (the CLI's own
publisher.press_plan lines: N recipients, N posts, the Telegram chat, WeChat draft or publish),
read from the store without creating anything, so looking at a plan and walking away leaves no
trace. Only the Confirm form (with the fingerprint of the post it was shown for) presses."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import jsonify, render_template, url_for

from channels.registry import CHANNELS
from publisher.desk.auth import wants_json
from publisher.desk.blueprint import CHANNEL_TITLES, _app_parts, desk
from publisher.desk.shelf import ShelfEntry, shelf_entry_or_404
from publisher.press_plan import PlanLine, press_plan
from publisher.publish import Pressed, blocking_problems, post_sha256
from publisher.rounds import delivery_state, round_publication
from publisher.status import latest_publication

ACTION_WORDS = {"send": "sends", "outbox": "outbox", "blocked": "blocked", "disabled": "off", "skipped": "sent"}


@dataclass
class Plan:
    slug: str
    lines: list[PlanLine]
    problems: dict[str, list[str]]  # every problem of every blocked channel
    sha: str  # the post file the plan was made for: Confirm presses only that version
    never_pressed: set[str] = field(default_factory=set)  # channels to send that no press started yet
    sandbox: bool = False

    @property
    def blocked(self) -> bool:
        return bool(self.problems)

    @property
    def has_work(self) -> bool:
        """Something to send or to write to the outbox (with the blocked channels left out)."""
        return any(line.action in ("send", "outbox") for line in self.lines)

    @property
    def ready_titles(self) -> list[str]:
        return [CHANNEL_TITLES.get(line.channel, line.channel) for line in self.lines
                if line.action in ("send", "outbox")]

    def as_json(self) -> dict:
        return {"slug": self.slug, "post_sha256": self.sha, "blocked": self.blocked, "has_work": self.has_work,
                "problems": self.problems, "confirm_needed": True,
                "plan": [{"channel": line.channel, "action": line.action, "words": line.words} for line in self.lines]}


def plan_for(entry: ShelfEntry) -> Plan:
    """The plan of a press of this post now (the blocked channels shown as blocked, as a press
    with "Publish the ready channels" would leave them)."""
    settings, store, _, shelf = _app_parts()
    rendered = shelf.rendered(entry)
    publication = latest_publication(store, entry.slug)
    newest = publication.id if publication is not None else 0  # 0: no row yet, and none is created
    rounds = {name: round_publication(store, entry.slug, name, newest) for name in CHANNELS}
    pressed = Pressed(rendered, store, newest, rounds)
    lines = press_plan(pressed, settings, ready_only=True)
    never = {line.channel for line in lines
             if line.action == "send" and delivery_state(store, pressed.round_of(line.channel), line.channel) is None}
    return Plan(entry.slug, lines, blocking_problems(pressed, settings), post_sha256(entry.path), never,
                settings.sandbox)


def show_plan(entry: ShelfEntry, status: int = 200, note: str = "", bad: bool = False):
    """The plan with its Confirm form: a page of its own (no script), or JSON for the page's
    script and other clients."""
    plan = plan_for(entry)
    if wants_json():
        body = {**plan.as_json(), **({"error" if bad else "message": note} if note else {})}
        return jsonify(body), status
    assert entry.post is not None
    return render_template("desk_confirm.html", plan=plan, post=entry.post, entry=entry, note=note, bad=bad,
                           action_words=ACTION_WORDS), status


@desk.get("/posts/<slug>/plan.html")
def plan_panel(slug: str):
    """The plan as a fragment, for the post page's script to show in place."""
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        return render_template("desk_message.html", heading="This post does not load",
                               message=f"not loadable: {entry.error or ''}"), 422
    return render_template("desk_plan.html", plan=plan_for(entry), entry=entry, note="", bad=False,
                           action_words=ACTION_WORDS, cancel_url=url_for("desk.post_page", slug=slug))
