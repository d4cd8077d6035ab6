"""Rendering: post → WechatArticle. Pure: `render_article(post)` builds a `WechatArticle` whose
`content` is the HTML that goes into draft/add. Body images keep their original URLs here (listed
in `images`); `send` uploads them through uploadimg and rewrites the `src` attributes
(https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html).

How the content is made WeChat-safe (after doocs/md's WeChat export, https://github.com/doocs/md):
the post tree is rendered to plain HTML once, re-parsed with html.parser (tree.py) and re-emitted
from a small tag vocabulary with every style inline (writer.py, theme.py): WeChat ignores class
and <style> CSS.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from channels.wechat.limits import DIGEST_LIMIT
from channels.wechat.theme import REFERENCES_TITLE
from channels.wechat.tree import _parse_html
from channels.wechat.writer import _ArticleWriter, _Context, _tag
from publisher.markdown import block_text, inline_text
from publisher.post import Post

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class WechatArticle:
    title: str
    author: str
    digest: str
    content: str  # HTML, every style inline; image src still the original URLs
    content_source_url: str  # 阅读原文
    thumb: str | None  # cover image URL (uploaded as thumb_media_id at send time)
    images: tuple[str, ...]  # body image URLs in order of appearance, de-duplicated


def render_article(post: Post) -> WechatArticle:
    options = post.channel_options("wechat")
    cjk = is_mostly_cjk(post)
    content, images = render_content(post, cjk=cjk)
    return WechatArticle(
        title=_option_text(options, "title") or post.title,
        author=_option_text(options, "author") or post.author or "",
        digest=_option_text(options, "digest") or article_digest(post, cjk=cjk),
        content=content,
        content_source_url=post.url,
        thumb=post.cover_image,
        images=images,
    )


def _option_text(options, key: str) -> str:
    value = options.get(key)
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return " ".join(str(value).split())


def is_mostly_cjk(post: Post) -> bool:
    """True when the post reads as Chinese/Japanese/Korean; one CJK character ≈ a short word."""
    text = " ".join([post.title, *post.summary, block_text(post.tree)])
    return len(_CJK.findall(text)) * 3 >= len(_LATIN.findall(text)) and bool(_CJK.search(text))


def article_digest(post: Post, *, cjk: bool) -> str:
    """The summary points joined (or the first paragraph), cut to DIGEST_LIMIT at a natural boundary."""
    if post.summary:
        if cjk:
            text = "；".join(p.rstrip("；;，,、。") for p in post.summary)
        else:
            text = " ".join(p if p.endswith((".", "!", "?", "…")) else p.rstrip(";,") + "." for p in post.summary)
    else:
        text = next((" ".join(inline_text(node.children[0]).split()) for node in post.tree.children
                     if node.type == "paragraph" and node.children), "")
    return truncate_at_boundary(text, DIGEST_LIMIT)


_BOUNDARY = re.compile(r"[；;。！？!?，,、：:]|\.(?=\s)|\s")


def truncate_at_boundary(text: str, limit: int) -> str:
    """`text` if it fits; else its longest head ending at punctuation or a space, plus "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cuts = [m.start() for m in _BOUNDARY.finditer(text, 0, limit) if limit // 2 <= m.start() < limit]
    if cuts:
        head = text[: cuts[-1]]
    return head.rstrip(" ,;:，；：、-—") + "…"


def render_content(post: Post, *, cjk: bool) -> tuple[str, tuple[str, ...]]:
    """The article HTML and its body image URLs (ordered, unique)."""
    tree = _parse_html(_markdown_html(post))
    writer = _ArticleWriter(base_url=post.url)
    body = writer.blocks(tree.children, _Context())
    references = writer.references_html(REFERENCES_TITLE["cjk" if cjk else "latin"])
    return _tag("section", "article", body + references), tuple(writer.images)


_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _markdown_html(post: Post) -> str:
    # A copy: markdown-it's image rule writes the alt text into the token, and the tree is shared.
    tokens = copy.deepcopy(post.tree.to_tokens())
    return _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
