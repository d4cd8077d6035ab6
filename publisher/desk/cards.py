"""Each channel's status card and the post's overall state: what the status panel, the post
page and status.json show (rendered by the same templates, so the live panel cannot drift)."""
from __future__ import annotations

from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.desk.blueprint import CHANNEL_TITLES, _app_parts
from publisher.desk.shelf import ShelfEntry
from publisher.outbox import outbox_folder
from publisher.publish import post_sha256
from publisher.secrets import redact
from publisher.states import DELIVERY_COMPLETE_STATES
from publisher.status import DESK_ACTIVE_STATES, delivery_detail, latest_publication
from publisher.store import Publication, Store


def part_rows(channel: str, entries: list, expected: int) -> list[dict]:
    """The ledger parts of one channel as a person reads them (Channel.describe_part); parts not
    worth a row once sent (an image upload, one of thousands of recipients) only while unsent."""
    describe = CHANNELS[channel].describe_part
    rows = []
    for entry in entries:
        view = describe(entry.part, expected)
        if entry.state == "sent" and not view.listed_when_sent:
            continue
        url = entry.remote_url or ""
        rows.append({"label": view.label, "counted": view.counted, "state": entry.state,
                     "remote_id": entry.remote_id or "", "url": url if url.startswith(("https://", "http://")) else "",
                     "id_text": (view.id_label + " " if view.id_label and entry.remote_id else "") + (entry.remote_id or ""),
                     "error": entry.last_error or ""})
    return rows


def expected_parts(rendered, active_subscribers: int, settings: Settings) -> dict[str, tuple[int, str]]:
    """What a press will send, per channel: (count, words) before anything was sent."""
    plans = {name: CHANNELS[name].plan_summary(rendered.payloads[name], settings, active_subscribers)
             for name in CHANNELS}
    return {name: (plan.count, plan.words) for name, plan in plans.items()}


def stopping_problems(name: str, rendered, settings: Settings) -> list[str]:
    """What keeps a channel out of a press of the ready channels: its checks' problems, and the
    settings a live send of it lacks (publisher.publish.blocking_problems, for one channel)."""
    channel = CHANNELS[name]
    missing = channel.missing_settings(settings) if channel.configured(settings) else []
    return [*rendered.problems[name], *(f"set {variable} before a live send" for variable in missing)]


def press_running(publication_id: int) -> bool:
    """An in-process press of this publication is still working through its channels (a channel
    it has not reached yet has no delivery row; with a broker every row exists once queued)."""
    from publisher import publish

    thread = getattr(publish, "_running", {}).get(publication_id)
    return thread is not None and thread.is_alive()


def channel_card(name: str, entry: ShelfEntry, publication: Publication | None, expected: tuple[int, str],
                 settings: Settings, store: Store, problems: list[str] | None = None) -> dict:
    """`problems`: what blocks the channel (a press of the ready channels left it out)."""
    post = entry.post
    assert post is not None
    count, words = expected
    card = {"name": name, "title": CHANNEL_TITLES.get(name, name), "state": "not published", "note": "",
            "sent": 0, "total": count, "rows": [], "error": "", "retry": False, "reconcile": None,
            "attempts": 0, "seconds": None, "link": ""}
    configured = CHANNELS[name].configured(settings)
    detail = delivery_detail(store, publication.id, name) if publication is not None else None
    if not post.channel_enabled(name):
        return {**card, "state": "disabled", "note": f"channels.{name}.enabled is false in the post"}
    if detail is None:
        folder = outbox_folder(settings, post, name)
        if publication is None:
            if problems:
                return {**card, "note": "blocked until its problems are fixed: " + "; ".join(problems)}
            return {**card, "note": f"no credentials: publishing writes to {folder}" if not configured
                    else f"will send {words}"}
        if not configured and folder.is_dir():
            return {**card, "state": "outbox", "note": f"no credentials: written to {folder}"}
        if problems:
            return {**card, "state": "blocked", "note": "left out: " + "; ".join(problems)}
        if press_running(publication.id):
            return {**card, "state": "queued", "note": "waiting for its turn"}
        return {**card, "note": "not pressed yet: Publish shows what it will send"}
    rows = part_rows(name, detail["entries"], count)
    sent, total = _progress(name, detail, rows, count)
    state = detail["state"]
    note = ""
    if detail["delivery_state"] == "retrying":
        note = "retrying after a temporary failure"
    card.update(state=state, note=note, sent=sent, total=total, rows=rows, attempts=detail["attempts"],
                seconds=detail["seconds"], link=_first_link(detail["remote_urls"]),
                error=redact(detail["last_error"] or "", settings) if state != "sent" else "")
    for row in card["rows"]:
        row["error"] = redact(row["error"], settings)
        if row["error"] and row["error"] in card["error"]:
            row["error"] = ""  # the card shows it already
    card["retry"] = state in ("failed", "partial")
    if state == "uncertain":
        card["reconcile"] = "auto" if CHANNELS[name].reconciles_itself else "decide"
    return card


def _first_link(urls: list[str]) -> str:
    return next((u for u in urls if u.startswith(("https://", "http://"))), "")


def _progress(name: str, detail: dict, rows: list[dict], expected: int) -> tuple[int, int]:
    """Counted parts sent / counted parts (steps such as image uploads are not counted)."""
    if len(detail["entries"]) == detail["total_parts"] and any(not r["counted"] for r in rows):
        counted = [r for r in rows if r["counted"]]
        return sum(r["state"] == "sent" for r in counted), len(counted) or expected
    return detail["sent_parts"], detail["total_parts"] or expected


def overall_state(cards: list[dict], publication: Publication | None) -> str:
    words = [c["state"] for c in cards if c["state"] != "disabled"]
    if publication is None or not words:
        return "not published"
    if any(w in DESK_ACTIVE_STATES for w in words):
        return "sending"
    if "uncertain" in words:
        return "uncertain"
    done = DELIVERY_COMPLETE_STATES | {"outbox"}
    if all(w in done for w in words):
        return "drafted" if "drafted" in words else "sent"
    if "blocked" in words and all(w in done | {"blocked"} for w in words):
        return "blocked"
    if any(w in DELIVERY_COMPLETE_STATES | {"partial"} for w in words) or any(c["sent"] for c in cards):
        return "partial"
    return "failed"


def post_status(entry: ShelfEntry) -> dict:
    """Every channel's card and the post's overall state: what the status panel and JSON show."""
    settings, store, subscribers, shelf = _app_parts()
    publication = latest_publication(store, entry.slug)
    rendered = shelf.rendered(entry)
    expected = expected_parts(rendered, subscribers.count()["active"], settings)
    cards = [channel_card(name, entry, publication, expected[name], settings, store,
                          stopping_problems(name, rendered, settings)) for name in CHANNELS]
    overall = overall_state(cards, publication)
    changed = publication is not None and publication.post_sha256 != post_sha256(entry.path)
    return {"slug": entry.slug, "state": overall, "active": overall == "sending", "cards": cards,
            "publication": None if publication is None else {
                "id": publication.id, "generation": publication.generation,
                "created_at": publication.created_at.isoformat(), "post_changed_since": changed},
            "summary": _summary(overall, cards, changed)}


def _summary(overall: str, cards: list[dict], changed: bool) -> str:
    text = {
        "not published": "Nothing has been sent yet. Publish shows what each channel will receive; "
                         "Confirm sends every channel once.",
        "sending": "Publishing… pressing again joins this press; nothing is sent twice.",
        "sent": "Every channel is sent. Pressing Publish again sends nothing new.",
        "drafted": "Every channel is sent; the WeChat article waits in the account's draft box: publish it "
                   "there. Pressing Publish again sends nothing new.",
        "partial": "Some parts were not sent: retry them below (what was sent is never sent again).",
        "failed": "Nothing was sent: read the platform's message below, fix the cause, and retry.",
        "uncertain": "Some parts may or may not have reached the platform: settle them below before anything is resent.",
        "blocked": "The ready channels are sent; the blocked ones were left out. Fix the post, then Publish "
                   "to send them.",
    }[overall]
    if changed:
        text += " The post file changed since it was first pressed; channels already sent keep the earlier version."
    return text
