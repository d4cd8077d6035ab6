"""The cover of a post without any image: a plain card in the theme's accent colour, made at send
time. WeChat requires a cover (thumb_media_id) for every news article
(https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html), and a text-only
issue should still publish as written; the feed shows the title beside it. No text is drawn on it:
a title in Chinese or Japanese would need a CJK font the server may not have.
"""
from __future__ import annotations

import io

from channels.wechat.theme import ACCENT_COLOR

# 2.35:1, the shape WeChat crops a first article's cover to in the feed (900 × 383 px)
CARD_SIZE = (900, 383)


def _rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def cover_card_png() -> bytes:
    """The card as PNG bytes: the accent colour, a lighter band along its foot. Same bytes every
    time, so the store's upload cache uploads it once per account."""
    from PIL import Image, ImageDraw  # the delivery side only: rendering never draws

    width, height = CARD_SIZE
    accent = _rgb(ACCENT_COLOR)
    image = Image.new("RGB", CARD_SIZE, accent)
    lighter = tuple(min(255, c + (255 - c) // 5) for c in accent)
    ImageDraw.Draw(image).rectangle((0, height * 5 // 6, width, height), fill=lighter)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
