"""The HTML part: the Markdown tree as email-safe HTML in the Jinja2 layout, its CSS inlined.
The render context, site name and meta line are shared with the plain-text part (text.py)."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from typing import Iterable
from urllib.parse import urljoin, urlsplit

from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup

from channels.email.headers import parse_mailbox
from channels.email.image_sizes import ImageSizes
from channels.email.inline_css import inline_css
from channels.email.limits import (
    BLOCKQUOTE_INDENT,
    CONTENT_WIDTH,
    EMAIL_WIDTH,
    LIST_INDENT,
    PREHEADER_PADDING,
)
from channels.email.message import TO_EMAIL, UNSUBSCRIBE_URL
from publisher.config import Settings
from publisher.highlight import HighlightBudget, code_language, segments_html
from publisher.markdown import inline_text
from publisher.markdown_plugins import admonition_colours
from publisher.post import Post
from publisher.utm import LinkTag
from templates import environment


@dataclass(frozen=True)
class _Context:
    base_url: str  # relative links and images resolve against the post's web address
    heading_shift: int  # the email's title is the only h1
    labels: dict
    images: ImageSizes | None = None  # the sizes render may use; collects the images of unknown size
    room: int = CONTENT_WIDTH  # pixels an image has here: the column less list/quote indents, or a cell
    highlight: HighlightBudget = field(default_factory=HighlightBudget)  # shared by the render's copies
    tag_link: LinkTag | None = None  # UTM tags for links to the site (publisher.utm); None: links as written


def _heading_shift(tree: SyntaxTreeNode) -> int:
    return 1 if any(b.type == "heading" and b.tag == "h1" for b in tree.children) else 0


def _render_html(post: Post, settings: Settings, subject: str, preheader: str, lang: str, labels: dict,
                 context: _Context) -> str:
    cover_size = _size_attributes(post.cover_image, EMAIL_WIDTH, context) if post.cover_image else ""
    document = environment().get_template("email.html").render(
        lang=lang, title=post.title, subject=subject, preheader=preheader,
        preheader_padding=Markup(PREHEADER_PADDING), site_name=_site_name(settings),
        site_url=settings.site_url, post_url=post.url, cover_image=post.cover_image,
        cover_size=Markup(cover_size),
        meta_line=_meta_line(post, labels), summary=list(post.summary), labels=labels,
        body_html=Markup(_html_blocks(post.tree.children, context)),
        unsubscribe_url=UNSUBSCRIBE_URL, to_email=TO_EMAIL,
        footer_text=labels["footer"].format(site=_site_name(settings)),
    )
    return inline_css(document)


def _site_name(settings: Settings) -> str:
    parsed = parse_mailbox(settings.email_from)  # our own reading: the name is literal text
    name = parsed[0] if parsed else ""
    return name or (urlsplit(settings.site_url).hostname or settings.site_url)


def _meta_line(post: Post, labels: dict) -> str:
    parts = []
    if post.date:
        months = labels["months"]
        d = post.date
        parts.append(f"{months[d.month - 1]} {d.day}, {d.year}" if months else f"{d.year}年{d.month}月{d.day}日")
    parts += [p for p in (post.category, post.author) if p]
    return " · ".join(parts)


def _absolute(url: str, context: _Context) -> str:
    return url if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url) else urljoin(context.base_url, url)


def _tagged(url: str, context: _Context) -> str:
    """A link's address as readers get it (the HTML part is tagged in one pass over its hrefs)."""
    return context.tag_link(url) if context.tag_link else url


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _size_attributes(src: str, room: int, context: _Context, width: str | None = None,
                     height: str | None = None) -> str:
    if context.images is None:
        return f' width="{room}"'
    return context.images.attributes(src, room, width, height)


_IMG_TAG = re.compile(r"<img\b([^>]*)>", re.I)
_ATTRIBUTE = re.compile(r'([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*"([^"]*)"')


def _sized_images(fragment: str, context: _Context) -> str:
    """The <img> tags of sanitized raw HTML (nh3 writes every attribute double-quoted) with an
    absolute src and a pixel width (and height) from the post's own attributes or the size cache."""
    def sized(match: re.Match) -> str:
        attributes = {name.lower(): html.unescape(value) for name, value in _ATTRIBUTE.findall(match.group(1))}
        src = attributes.pop("src", "")
        if not src:
            return match.group(0)
        src = _absolute(src, context)
        size = _size_attributes(src, context.room, context, attributes.pop("width", None),
                                attributes.pop("height", None))
        rest = "".join(f' {name}="{_attr(value)}"' for name, value in attributes.items())
        return f'<img src="{_attr(src)}"{rest}{size}>'

    return _IMG_TAG.sub(sized, fragment)


def _table_columns(node: SyntaxTreeNode) -> int:
    rows = [row for part in node.children for row in part.children if row.type == "tr"]
    return max((len(row.children) for row in rows), default=1) or 1


def _html_blocks(nodes: Iterable[SyntaxTreeNode], context: _Context) -> str:
    return "".join(_html_block(node, context) for node in nodes)


def _html_block(node: SyntaxTreeNode, context: _Context) -> str:
    kind = node.type
    if kind == "paragraph":
        inner = _html_inline(node.children[0], context)
        return inner + "\n" if node.hidden else f"<p>{inner}</p>\n"
    if kind == "heading":
        level = min(6, int(node.tag[1]) + context.heading_shift)
        return f"<h{level}>{_html_inline(node.children[0], context)}</h{level}>\n"
    if kind == "bullet_list":
        return f"<ul>\n{_html_blocks(node.children, context)}</ul>\n"
    if kind == "ordered_list":
        start = node.attrs.get("start")
        start_attr = f' start="{int(start)}"' if start not in (None, 1) else ""
        notes = ' style="font-size:14px"' if node.attrs.get("class") == "footnotes" else ""
        return f"<ol{start_attr}{notes}>\n{_html_blocks(node.children, context)}</ol>\n"
    if kind == "list_item":
        inner = _html_blocks(node.children, replace(context, room=max(40, context.room - LIST_INDENT)))
        # a task's ☐/☑ opens its text and stands in for the bullet
        task = ' style="list-style:none"' if node.attrs.get("class") == "task-list-item" else ""
        return f"<li{task}>{inner.rstrip()}</li>\n"
    if kind == "blockquote":
        inner = _html_blocks(node.children, replace(context, room=max(40, context.room - BLOCKQUOTE_INDENT)))
        return f"<blockquote>\n{inner}</blockquote>\n"
    if kind in ("fence", "code_block"):
        return _code_html(node, context)
    if kind == "admonition":
        return _admonition_html(node, context)
    if kind == "dl":
        return f"<dl>\n{_html_blocks(node.children, context)}</dl>\n"
    if kind == "dt":
        return f"<dt><strong>{_html_blocks(node.children, context).strip()}</strong></dt>\n"
    if kind == "dd":
        inner = _html_blocks(node.children, replace(context, room=max(40, context.room - LIST_INDENT)))
        return f'<dd style="margin:0 0 12px 24px">{inner.rstrip()}</dd>\n'
    if kind == "hr":
        return "<hr>\n"
    if kind == "html_block":  # already sanitized by publisher.markdown; only its images are sized
        return f'<div class="raw-html">\n{_sized_images(node.content.strip(), context)}\n</div>\n'
    if kind == "table":  # an image in a cell has its share of the width (cell padding aside)
        cells = replace(context, room=max(40, context.room // _table_columns(node) - 20))
        return f'<table class="md-table" role="table">\n{_html_blocks(node.children, cells)}</table>\n'
    if kind in ("thead", "tbody", "tr"):
        return f"<{kind}>\n{_html_blocks(node.children, context)}</{kind}>\n"
    if kind in ("th", "td"):
        style = node.attrs.get("style")
        style_attr = f' style="{_attr(str(style))}"' if style else ""
        inner = _html_inline(node.children[0], context) if node.children else ""
        return f"<{kind}{style_attr}>{inner}</{kind}>\n"
    return _html_blocks(node.children, context)  # unknown containers: keep their content


def _html_inline(node: SyntaxTreeNode, context: _Context) -> str:
    out = []
    for child in node.children:
        kind = child.type
        if kind == "text":
            out.append(html.escape(child.content, quote=False))
        elif kind == "softbreak":
            out.append("\n")
        elif kind == "hardbreak":
            out.append("<br>\n")
        elif kind == "code_inline":
            out.append(f"<code>{html.escape(child.content, quote=False)}</code>")
        elif kind in ("em", "strong", "s"):
            out.append(f"<{kind}>{_html_inline(child, context)}</{kind}>")
        elif kind == "link":
            href = _absolute(str(child.attrs.get("href", "")), context)
            title = child.attrs.get("title")
            title_attr = f' title="{_attr(str(title))}"' if title else ""
            out.append(f'<a href="{_attr(href)}"{title_attr}>{_html_inline(child, context)}</a>')
        elif kind == "image":
            src = _absolute(str(child.attrs.get("src", "")), context)
            title = child.attrs.get("title")
            title_attr = f' title="{_attr(str(title))}"' if title else ""
            size = _size_attributes(src, context.room, context)
            out.append(f'<img src="{_attr(src)}" alt="{_attr(inline_text(child))}"{title_attr}{size}>')
        elif kind == "html_inline":  # sanitized by publisher.markdown; only an <img> is rewritten (sized)
            out.append(_sized_images(child.content, context))
        else:
            out.append(_html_inline(child, context))
    return "".join(out)


def _code_html(node: SyntaxTreeNode, context: _Context) -> str:
    """A code block; one whose fence names a language Pygments knows is coloured with inline
    styles (the inliner keeps them; mail clients drop classes)."""
    code = node.content.rstrip("\n")
    language = code_language(node.info) if node.type == "fence" else ""
    lines = context.highlight.lines(code, language) if language else None
    if not language:
        return f"<pre><code>{html.escape(code)}</code></pre>\n"
    inner = "\n".join(segments_html(line) for line in lines) if lines is not None else html.escape(code)
    return f'<pre><code class="language-{_attr(language)}">{inner}</code></pre>\n'


def _admonition_html(node: SyntaxTreeNode, context: _Context) -> str:
    """A Docusaurus admonition as a callout: its title on top, a coloured rule on the left."""
    border, _ = admonition_colours(node.meta.get("kind"))
    # a tint of the rule's colour, not a light background: dark modes turn the text light
    # (clients without rgba, like Outlook for Windows, show no tint at all)
    rgb = border.lstrip("#") if len(border) == 7 else "".join(c * 2 for c in border.lstrip("#"))
    background = "rgba({},{},{},0.1)".format(*(int(rgb[i:i + 2], 16) for i in (0, 2, 4)))
    title, *body = node.children
    heading = _html_inline(title.children[0], context) if title.children else ""
    inner = _html_blocks(body, replace(context, room=max(40, context.room - BLOCKQUOTE_INDENT)))
    return (f'<div class="callout" style="margin:0 0 16px 0;padding:12px 16px 1px 16px;'
            f'border-left:4px solid {border};background-color:{background}">\n'
            f'<p style="margin:0 0 8px 0">{heading}</p>\n{inner}</div>\n')
