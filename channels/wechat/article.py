"""Rendering: post → WechatArticle. Pure: `render_article(post)` builds a `WechatArticle` whose
`content` is the HTML that goes into draft/add. Body images keep their original URLs here (listed
in `images`); `send` uploads them through uploadimg and rewrites the `src` attributes
(https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html).

How the content is made WeChat-safe (after doocs/md's WeChat export, https://github.com/doocs/md):
the post tree is rendered to plain HTML once, re-parsed with html.parser (tree.py) and re-emitted
from a small tag vocabulary with every style inline (writer.py, theme.py): WeChat ignores class
and <style> CSS.

What a post that says little still gets, so it can be published as written
(https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html):
- the cover (thumb_media_id is required for a news article): the front matter's cover, else the
  first body image WeChat can take as a cover, else (no image at all) a plain card in the theme
  colour made at send time;
- the digest: channels.wechat.digest, else the front matter description, else the summary points,
  else the first paragraph, cut at a natural boundary to DIGEST_TARGET;
- the author (≤16 字): the first of several authors "et al." when all of them do not fit.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

from channels.wechat.checks import image_format, visible_text
from channels.wechat.limits import (
    AUTHOR_LIMIT,
    COVER_IMAGE_CONVERTIBLE_FORMATS,
    COVER_IMAGE_FORMATS,
    DIGEST_TARGET,
)
from channels.wechat.shorten import Shortened, fits, longest_fitting_head
from channels.wechat.tree import _parse_html
from channels.wechat.writer import _ArticleWriter, _Context, _is_block, _tag
from publisher.language import is_cjk_text, primary, words
from publisher.markdown import block_text, inline_text
from publisher.utm import LinkTag
from publisher.post import Post


@dataclass(frozen=True)
class WechatArticle:
    title: str
    author: str
    digest: str
    content: str  # HTML, every style inline; image src still the original URLs
    content_source_url: str  # 阅读原文
    thumb: str | None  # cover image URL (uploaded as thumb_media_id at send time)
    images: tuple[str, ...]  # body image URLs in order of appearance, de-duplicated
    # No image in the post at all: the cover is a plain card in the theme colour, made when sent
    # (cover_card.py), so a text-only post still publishes.
    thumb_card: bool = False
    # Longer than an article may be: the head that was kept (shorten.py), else None.
    shortened: Shortened | None = None
    # The post's author when no form of it fits WeChat's author field, so the article has none.
    author_left_out: str = ""
    # The closing line of a shortened article (a block in the theme), in the post's language.
    continued: str = ""


def render_article(post: Post, tag_link: LinkTag | None = None) -> WechatArticle:
    """`tag_link`: UTM tags for the links to the site (publisher.utm): 阅读原文 and the references."""
    options = post.channel_options("wechat")
    content, images, shortened = render_content(post, tag_link)
    thumb = article_cover(post, images)
    author = _option_text(options, "author") or article_author(post)
    return WechatArticle(
        title=_option_text(options, "title") or post.title,
        author=author,
        digest=_option_text(options, "digest") or article_digest(post, cjk=post.cjk),
        content=content,
        content_source_url=tag_link(post.url) if tag_link else post.url,
        thumb=thumb,
        images=images,
        thumb_card=thumb is None,
        shortened=shortened,
        author_left_out="" if author else (post.author or ""),
        continued=continued_block(post),
    )


def _option_text(options, key: str) -> str:
    value = options.get(key)
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return " ".join(str(value).split())


def is_mostly_cjk(post: Post) -> bool:
    """True when the post's text reads as Chinese/Japanese/Korean (publisher.language's rule); the
    channel itself follows `post.language`."""
    return is_cjk_text(" ".join([post.title, *post.summary, block_text(post.tree)]))


def article_cover(post: Post, images: tuple[str, ...]) -> str | None:
    """The front matter's cover; else the first body image in a format a cover can be made from
    (an SVG badge is skipped for the photo after it); else the first body image, which the checks
    then name."""
    if post.cover_image:
        return post.cover_image
    candidates = list(dict.fromkeys(
        url for url in (post.first_image, *images) if url and urlsplit(url).scheme in ("http", "https")))
    for url in candidates:
        fmt = image_format(url)
        if fmt is None or fmt in COVER_IMAGE_FORMATS or fmt in COVER_IMAGE_CONVERTIBLE_FORMATS:
            return url
    return candidates[0] if candidates else None


_OTHERS = {"zh": "等", "ja": "ほか", "ko": " 외"}  # "and others" after a name; else " et al."


def article_author(post: Post) -> str:
    """The post's author; several authors that do not fit AUTHOR_LIMIT together become the first
    one "and others" (等, ほか, et al.); a name that does not fit at all is left out (the author is
    optional: WeChat shows the account's name) and the notes say so."""
    author = post.author or ""
    names = author.split(", ")
    if len(author) <= AUTHOR_LIMIT:
        return author
    if len(names) >= 2:
        for shorter in (names[0] + _OTHERS.get(primary(post.language), " et al."), names[0]):
            if len(shorter) <= AUTHOR_LIMIT:
                return shorter
    return ""


def article_digest(post: Post, *, cjk: bool) -> str:
    """The description, else the summary points joined, else the first paragraph with text; cut to
    DIGEST_TARGET at a natural boundary. (WeChat itself would take the content's first 54 字.)"""
    if post.description:
        text = post.description
    elif post.summary:
        if cjk:
            text = "；".join(p.rstrip("；;，,、。") for p in post.summary)
        else:
            text = " ".join(p if p.endswith((".", "!", "?", "…")) else p.rstrip(";,") + "." for p in post.summary)
    else:
        text = next((t for t in (" ".join(inline_text(node.children[0]).split()) for node in post.tree.children
                                 if node.type == "paragraph" and node.children and _has_words(node)) if t), "")
    return truncate_at_boundary(" ".join(text.split()), DIGEST_TARGET)


def _has_words(node) -> bool:
    """A paragraph of text, not one holding only images or linked badges (inline_text would give
    their alt text)."""
    if node.type in ("text", "code_inline"):
        return bool(node.content.strip())
    return node.type != "image" and any(_has_words(child) for child in node.children)


_SENTENCE_END = re.compile(r"[。！？!?]|\.(?=\s)")
_CLAUSE_END = re.compile(r"[；;，,、：:]")
_SPACE = re.compile(r"\s")


def truncate_at_boundary(text: str, limit: int) -> str:
    """`text` if it fits; else its longest head (at least half the limit) that ends a sentence, else
    a clause plus "…", else a word plus "…"; a hard cut only when none of these exists."""
    if len(text) <= limit:
        return text
    for boundary in (_SENTENCE_END, _CLAUSE_END, _SPACE):
        cuts = [m for m in boundary.finditer(text, 0, limit) if limit // 2 <= m.start() and m.end() <= limit]
        if cuts and boundary is _SENTENCE_END:
            return text[: cuts[-1].end()]  # a whole sentence needs no "…"
        if cuts:
            return text[: cuts[-1].start()].rstrip(" ,;:，；：、-—") + "…"
    return text[: limit - 1].rstrip(" ,;:，；：、-—") + "…"


def render_content(post: Post, tag_link: LinkTag | None = None) -> tuple[str, tuple[str, ...], Shortened | None]:
    """The article HTML, its body image URLs (ordered, unique), and what was left out when the post
    is longer than an article may be (shorten.py). The references heading is in the post's
    language (引用链接, References, 参考リンク...)."""
    nodes = _parse_html(_markdown_html(post)).children
    content, images = _write(post, nodes, tag_link)
    if fits(content):
        return content, images, None
    cut = longest_fitting_head(nodes, lambda k: _write(post, nodes[:k], tag_link, continued=True)[0], _is_block)
    if cut is None:
        return content, images, None  # not even the first block fits: the checks name the length
    head, head_images = _write(post, nodes[:cut], tag_link, continued=True)
    blocks = sum(1 for node in nodes if _is_block(node))
    kept = sum(1 for node in nodes[:cut] if _is_block(node))
    return head, head_images, Shortened(len(visible_text(head)), len(visible_text(content)), kept, blocks)


def continued_block(post: Post) -> str:
    return _tag("p", "continued", html.escape(words(post.language)["continued"], quote=False))


def _write(post: Post, nodes: list, tag_link: LinkTag | None, continued: bool = False) -> tuple[str, tuple[str, ...]]:
    writer = _ArticleWriter(base_url=post.url, tag_link=tag_link)
    body = writer.blocks(nodes, _Context())
    if continued:
        body += continued_block(post)
    references = writer.references_html(words(post.language)["references"])
    return _tag("section", "article", body + references), tuple(writer.images)


_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _markdown_html(post: Post) -> str:
    return _MARKDOWN.renderer.render(_fresh(post.tree.to_tokens()), _MARKDOWN.options, {})


def _fresh(tokens: list) -> list:
    """Tokens markdown-it's renderer may write into (its image rule sets attrs["alt"]) without
    touching the post's shared tree: each token and its attrs copied (a deepcopy cost ~3 ms)."""
    return [token.copy(attrs=dict(token.attrs), children=_fresh(token.children) if token.children else token.children)
            for token in tokens]
