"""Images in Telegram text. A message cannot hold an inline image
(https://core.telegram.org/bots/api#html-style), so every body image becomes a link to the image,
labelled by what the writer said about it (alt text, title, figure caption) or else by its place
in the post: "Image 3", "图片 3". Never a bare "Image" repeated forty times."""
from __future__ import annotations

import re
from typing import NamedTuple

from channels.telegram.context import RenderContext, allowed_url
from channels.telegram.runs import Run, Tag, link_tag, normalize_tags
from publisher.language import WORDS, words


class Image(NamedTuple):
    src: str
    texts: tuple[str, ...]  # what the writer said about it, best first: alt, title, figure caption


# Alt texts that say nothing about the image: empty, the word "image" in any language we have words
# for, editors' defaults (Typora's "image-20230612103036485", cameras' "IMG_1234") and file names.
_GENERIC_WORDS = ("image", "img", "picture", "pic", "photo", "screenshot", "screen shot", "alt", "alt text",
                  "图片", "图像", "截图", "屏幕截图", "插图", "画像", "写真", "スクリーンショット", "이미지", "사진",
                  *(w["image"].lower() for w in WORDS.values()))
_GENERIC = re.compile(r"(?:%s)?[\s_.-]*[\d_.-]*" % "|".join(re.escape(w) for w in sorted(set(_GENERIC_WORDS),
                                                                                          key=len, reverse=True)),
                      re.I)
_FILE_NAME = re.compile(r"[^\s/]+\.(?:png|jpe?g|gif|webp|svg|avif|bmp|tiff?|heic)", re.I)
LINK_TEXT_MAX = 60  # a link shown by its address is cut to this many characters (the href stays whole)


def is_generic_alt(text: str) -> bool:
    """True when an alt text or title names no image in particular."""
    text = " ".join(text.split())
    return not text or _GENERIC.fullmatch(text) is not None or _FILE_NAME.fullmatch(text) is not None


def numbered(number: int, language: str) -> str:
    return f"{words(language)['image']} {number}"


def telling(texts: tuple[str, ...]) -> str | None:
    """The first text among `texts` (alt, title, caption) that says something about the image."""
    for text in texts:
        text = " ".join((text or "").split())
        if not is_generic_alt(text):
            return text
    return None


def image_label(texts: tuple[str, ...], number: int, language: str) -> str:
    return telling(texts) or numbered(number, language)


def link_display(href: str) -> str:
    """What a link with no text of its own shows: its address, without the scheme."""
    shown = re.sub(r"^(?:https?://|mailto:)", "", href, flags=re.I).rstrip("/") or href
    if len(shown) > LINK_TEXT_MAX:
        shown = shown[:LINK_TEXT_MAX - 1] + "…"
    return shown


def without_links(tags: tuple[Tag, ...]) -> tuple[Tag, ...]:
    return tuple(tag for tag in tags if tag.name != "a")


def image_runs(image: Image, tags: tuple[Tag, ...], ctx: RenderContext) -> list[Run]:
    """One image as a link to it, under the styles around it but outside any link around it (the
    image keeps its own address; the link around it goes on on both sides)."""
    number = ctx.images.next()
    label = image_label(image.texts, number, ctx.language)
    url = allowed_url(image.src, ctx.base_url)
    base = ctx.quote + without_links(tags)
    return [Run(label, normalize_tags(base + ((link_tag(url),) if url else ())))]


def linked_images_runs(href: str, images: list[Image], tags: tuple[Tag, ...], ctx: RenderContext) -> list[Run]:
    """A link whose only content is images (a clickable thumbnail, a badge, a sponsor logo): the
    link keeps the images' alt text (else its address) and each image follows as "(Image N)"."""
    numbers = [ctx.images.next() for _ in images]
    text = " ".join(filter(None, (telling(image.texts) for image in images))) or link_display(href)
    outside = ctx.quote + without_links(tags)
    runs = [Run(text, normalize_tags(outside + (link_tag(href),)))]
    kept = [(numbered(n, ctx.language), url) for n, image in zip(numbers, images)
            if (url := allowed_url(image.src, ctx.base_url))]
    for index, (label, url) in enumerate(kept):
        runs.append(Run(" (" if index == 0 else ", ", normalize_tags(outside)))
        runs.append(Run(label, normalize_tags(outside + (link_tag(url),))))
    if kept:
        runs.append(Run(")", normalize_tags(outside)))
    return runs


def empty_link_runs(href: str, tags: tuple[Tag, ...], ctx: RenderContext) -> list[Run]:
    """A link with no text of its own (`[](url)`, `<a href=…></a>`) shows its address."""
    return [Run(link_display(href), normalize_tags(ctx.quote + without_links(tags) + (link_tag(href),)))]
