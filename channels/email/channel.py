"""The email channel as the publisher sees it: render, checks, preview, its parts in words. Delivery
(send_batch) lives in deliver.py and is imported only when something is sent."""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence
from urllib.parse import parse_qsl, urlsplit

from channels.base import BatchedChannel, PartView, PlanSummary, Receipt, SendContext
from channels.email.html import _Context, _heading_shift, _render_html
from channels.email.image_sizes import ImageSizes, cache_path
from channels.email.limits import (
    CONTENT_WIDTH,
    EMAIL_WIDTH,
    GMAIL_CLIP_BYTES,
    MAX_SUBJECT_CHARS,
    OUTLOOK_UNSUPPORTED_IMAGES,
)
from channels.email.message import (
    _BODY_TOKEN,
    EXAMPLE_EMAIL,
    HTML_SLOTS,
    TEXT_SLOTS,
    TO_EMAIL,
    UNSUBSCRIBE_URL,
    EmailPayload,
    _address_of,
    _message_id_domain,
    _message_template,
)
from channels.email.parts import address_parts, describe_part
from channels.email.subject import LABELS, _preheader, _refuse_reserved, _subject
from channels.email.text import _render_text
from channels.email.transfer import encode_part
from publisher.config import Settings
from publisher.language import primary
from publisher.markdown import html_images
from publisher.post import Post
from publisher.utm import link_tagger, tag_hrefs

if TYPE_CHECKING:
    from channels.base import Recipient
    from publisher.store import Store


class EmailChannel(BatchedChannel):
    name = "email"
    title = "Email"
    reconciles_itself = False  # SMTP keeps no record to check a message against
    options = frozenset({"enabled", "subject", "preheader"})

    def render(self, post: Post, settings: Settings) -> EmailPayload:
        options = post.channel_options("email")
        subject, subject_field = _subject(post, options)  # refuses control characters and oversize first
        lang = post.language
        labels = LABELS.get(primary(lang), LABELS["en"])
        preheader = _preheader(post, options, lang)
        _refuse_reserved(post, settings, subject, preheader)

        images = ImageSizes.load(settings)  # reads the size cache; never the network
        tag_link = link_tagger(post, settings, self.name)
        context = _Context(base_url=post.url, heading_shift=_heading_shift(post.tree), labels=labels, images=images,
                           tag_link=tag_link)
        html_doc = _render_html(post, settings, subject, preheader, lang, labels, context)
        if tag_link:  # every <a href> of the finished page: the template's post links and the body's
            html_doc = tag_hrefs(html_doc, tag_link)
        text_doc = _render_text(post, settings, labels, context)
        html_part = encode_part(html_doc, HTML_SLOTS, html=True)  # base64 when shorter
        text_part = encode_part(text_doc, TEXT_SLOTS, html=False)
        template = _message_template(subject_field, settings, text_part, html_part)
        return EmailPayload(
            subject=subject, preheader=preheader, html=html_doc, text=text_doc, template=template,
            slug=post.slug, message_id_domain=_message_id_domain(settings), post_date=post.date,
            example_unsubscribe_url=f"{settings.site_url.rstrip('/')}/unsubscribe/EXAMPLE-TOKEN",
            html_part_bytes=len(html_part[1]), html_encoding=html_part[0].decode("ascii"),
            unsized_images=tuple(images.unsized),
        )

    def checks(self, payload: EmailPayload, settings: Settings) -> list[str]:
        problems = []
        if payload.html_part_bytes > GMAIL_CLIP_BYTES:
            problems.append(f"The HTML part is {payload.html_part_bytes:,} bytes encoded; Gmail clips messages "
                            f"over about {GMAIL_CLIP_BYTES:,} bytes and hides the rest, including the "
                            "unsubscribe link, so shorten the post.")
        if not payload.subject:
            problems.append("The subject is empty; set a title or channels.email.subject.")
        elif len(payload.subject) > MAX_SUBJECT_CHARS:
            problems.append(f"The subject is {len(payload.subject)} characters; keep it under "
                            f"{MAX_SUBJECT_CHARS} (channels.email.subject).")
        if not _address_of(settings.email_from):
            problems.append(f"The sender {settings.email_from!r} has no email address; set PUBLISHER_EMAIL_FROM "
                            "to something like 'Newsletter <news@example.com>'.")
        if settings.email_reply_to and not _address_of(settings.email_reply_to):
            problems.append(f"The Reply-To {settings.email_reply_to!r} has no email address.")
        if not settings.site_url.startswith("https://"):
            problems.append(f"The site URL {settings.site_url!r} is not https; Gmail and Yahoo require an HTTPS "
                            "one-click unsubscribe link (RFC 8058).")
        for src in sorted(set(html_images(payload.html))):
            if not src.startswith(("http://", "https://")):
                problems.append(f"The image {_shown(src)} is not an http(s) URL; mail clients will not show it.")
        return problems

    def learn(self, post: Post, settings: Settings) -> None:
        """The pixel sizes of the email's images (every <img> gets a width Outlook obeys)."""
        from channels.email.image_sizes import learn_image_sizes, post_image_urls

        learn_image_sizes(post_image_urls(post), settings)

    def notes(self, payload: EmailPayload, settings: Settings) -> list[str]:
        """What degrades in some inboxes without stopping the mailing."""
        notes = []
        for src in sorted(set(html_images(payload.html))):
            kind = _outlook_unsupported(src)
            if kind:
                notes.append(f"The image {_shown(src)} is {kind}, which Outlook for Windows does not show"
                             f"{' (nor Gmail)' if kind == 'SVG' else ''}; use a PNG or JPEG.")
        if payload.unsized_images:
            notes.append(_unsized_line(payload.unsized_images, settings))
        return notes

    def preview_json(self, payload: EmailPayload) -> dict:
        return {
            "subject": payload.subject,
            "preheader": payload.preheader,
            "html_bytes": len(payload.html.encode("utf-8")),
            "html_part_bytes": payload.html_part_bytes,
            "html_encoding": payload.html_encoding,
            "unsized_images": list(payload.unsized_images),
            "text_chars": len(payload.text),
            "message_bytes": len(payload.example_message()),
        }

    def preview_files(self, payload: EmailPayload) -> dict[str, str]:
        url = payload.example_unsubscribe_url
        fill = {UNSUBSCRIBE_URL: url, TO_EMAIL: EXAMPLE_EMAIL}
        return {
            "email.html": _BODY_TOKEN.sub(lambda m: html.escape(fill[m.group(1)]), payload.html),
            "email.txt": _BODY_TOKEN.sub(lambda m: fill[m.group(1)], payload.text),
            "email.eml": payload.example_message().decode("ascii"),
        }

    def recipient_parts(self, payload: EmailPayload, addresses: Iterable[str]) -> list[tuple[str, str]]:
        return address_parts(payload, addresses)

    def describe_part(self, part: str, total: int) -> PartView:
        return describe_part(part)

    def plan_summary(self, payload: EmailPayload, settings: Settings, recipients: int = 0) -> PlanSummary:
        return PlanSummary(recipients, f"one email to each of {recipients} active "
                                       f"{'subscriber' if recipients == 1 else 'subscribers'}: {payload.subject}")

    # --- delivery: see deliver.py ---------------------------------------------------------------
    def configured(self, settings: Settings) -> bool:
        return bool(settings.smtp_host)

    def missing_settings(self, settings: Settings) -> list[str]:
        """What a live mailing needs besides the relay: readers see the site URL (unsubscribe links)
        and the sender, so neither may be a silent default."""
        missing = [] if settings.smtp_host else ["PUBLISHER_SMTP_HOST"]
        missing += [variable for name, variable in (("site_url", "PUBLISHER_SITE_URL"),
                                                    ("email_from", "PUBLISHER_EMAIL_FROM"))
                    if name not in settings.explicit]
        return missing

    def write_outbox(self, payload: EmailPayload, folder: Path, settings: Settings, store: "Store") -> None:
        from channels.email.outbox import write_mbox

        super().write_outbox(payload, folder, settings, store)
        write_mbox(payload, folder / "outbox.mbox", settings, store)

    def send_batch(self, payload: EmailPayload, ctx: SendContext, recipients: Sequence["Recipient"]) -> Receipt:
        from channels.email.deliver import (
            send_batch,  # the delivery side loads only when something is sent
        )

        return send_batch(payload, ctx, recipients)


def _shown(src: str) -> str:
    return repr(src if len(src) <= 80 else src[:79] + "…")


def _outlook_unsupported(src: str) -> str:
    """"WebP"/"SVG" when the image is one (by its data: type, file name or a format hint), else ""."""
    if src.startswith("data:"):
        return OUTLOOK_UNSUPPORTED_IMAGES.get(src[5:].split(";", 1)[0].split(",", 1)[0].lower().removeprefix("image/"), "")
    parts = urlsplit(src)
    extension = re.search(r"\.([A-Za-z0-9]+)$", parts.path)
    if extension and extension.group(1).lower() in OUTLOOK_UNSUPPORTED_IMAGES:
        return OUTLOOK_UNSUPPORTED_IMAGES[extension.group(1).lower()]
    hints = {k.lower(): v.lower() for k, v in parse_qsl(parts.query)}  # image CDNs: ?fm=webp, ?format=webp
    return next((OUTLOOK_UNSUPPORTED_IMAGES[hints[k]] for k in ("fm", "format", "f")
                 if hints.get(k) in OUTLOOK_UNSUPPORTED_IMAGES), "")


def _unsized_line(unsized: Sequence[str], settings: Settings) -> str:
    named = ", ".join(_shown(src) for src in unsized[:3]) + (f" and {len(unsized) - 3} more" if len(unsized) > 3 else "")
    count = f"{len(unsized)} image has" if len(unsized) == 1 else f"{len(unsized)} images have"
    return (f"{count} no known pixel size, so Outlook for Windows draws {'it' if len(unsized) == 1 else 'them'} "
            f"as wide as the column ({CONTENT_WIDTH} pixels, the cover {EMAIL_WIDTH}) whatever the real size: "
            f"{named}. Give width and height (HTML) or a ?w= hint in the post, or let publishing measure them "
            f"(kept in {cache_path(settings)}).")


CHANNEL = EmailChannel()
