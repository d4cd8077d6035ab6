"""An issue organised as items: one unit (title, one line, link, images) per item.

Newsletters list their stories in a few shapes:
- a link list: `- [Title](url) — one line` (or `: `, or the line under it);
- bold leads: `**[Title](url)**` (or `**Title**: line [source](url)`), the line after it;
- H2/H3/H4 items: `### Title` (or `### [Title](url)`), a paragraph, a link ("原文链接", "Read more").
A heading over two or more such items (`## Tools`, `## ⬆️ 发布`) is a category, not an item; a
heading with no content of its own (`## 📊 今日看点`) is dropped. The post is an issue when two or more
items, and at least half of them, carry a link.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import unquote, urldefrag, urlsplit

from markdown_it.tree import SyntaxTreeNode

from channels.x.hook import boilerplate, clean, lead_in, pick_line, substantive, title_like
from channels.x.text import _HTML_LINK, Block, _blocks, _TextContext, absolute_url, plain_children
from publisher.markdown import html_images, html_to_text, walk
from publisher.post import Post

ITEM_HEADINGS = ("h1", "h2", "h3", "h4")
MAX_ITEM_IMAGES = 4  # X allows 4 images per post
_SEPARATOR = re.compile(r"^\s*(?:[:：|·/]|[-–—]{1,2}\s|\(|（|$)")
# the post's back matter: a list of sources is not a list of stories, nor a section worth a tweet
BACK_MATTER = re.compile(r"^\W*(?:references?|sources?|further reading|see also|footnotes?|notes|links|resources|"
                          r"related(?: posts| links| reading)?|bibliography|credits|acknowledg\w*|参考(?:资料|文献|链接)?|"
                          r"引用(?:链接)?|相关(?:链接|阅读|文章)|延伸阅读|脚注|注释|参考リンク|参考文献|関連(?:記事|リンク))\W*$", re.I)
_SPONSOR = re.compile(r"\b(?:sponsor(?:ed|s)?|advertis\w*|partner content|promoted)\b|广告|赞助|推广|スポンサー|\bPR\b",
                      re.I)
# a link labelled like this is the item's own ("原文链接", "Read more"), not a mention in its text
_GENERIC_LABEL = re.compile(r"^(?:read (?:more|on|the (?:full )?(?:story|article|post))|more|source|link|"
                            r"here|original|full story|continue reading|→|»|原文|阅读原文|原文链接|链接|详情|查看详情|"
                            r"続きを読む|元記事|詳細|リンク|ソース)\W*$", re.I)
# "[Biome 2.5](url) is out with…", "[Oxlint added support](url). The new…": the link is part of a sentence
_CONTINUES = re.compile(r"^\s*(?:[.,;!?…)]|(?!by |via |from )[a-z])")
# "by Jane Doe", "via Hacker News": who wrote or sent the item, not what it says
_BYLINE = re.compile(r"^(?:by|via|from)\s+[^.!?。！？:：]{1,60}$", re.I)
_ENUMERATION = re.compile(r"^\s*(?:\d{1,3}[.)]\s+|\d{1,3}[、．）]\s*|[(（]\d{1,3}[)）]\s*|[①-⑳]\s*|#\d{1,3}\s+)")


_NOT_IN_ANCHOR = re.compile(r"[^\w\- ]")


def heading_anchor(text: str) -> str:
    """A heading's id as site generators make it (GitHub's slugger, which Docusaurus, Hugo's
    `github` style and Jekyll's kramdown follow closely): lower case, punctuation dropped, spaces
    as hyphens."""
    return _NOT_IN_ANCHOR.sub("", text.strip().lower()).replace(" ", "-")


@dataclass(frozen=True)
class Unit:
    """One summary tweet's content: a title (heading, bold lead or link text), one line, a link."""
    title: str = ""
    line: str = ""
    link: str = ""
    images: tuple[str, ...] = ()


def item_title(text: str) -> str:
    """A heading as an item title: no "1." numbering (the thread numbers itself), no ending colon."""
    stripped = _ENUMERATION.sub("", text, count=1).strip()
    return (stripped or text).strip().rstrip(":：、,，").strip()


@dataclass
class _Lead:
    title: str
    link: str
    rest: list[SyntaxTreeNode]
    separated: bool  # "**Title**: line", not "**OpenAI** raised..."
    linked: bool  # the opening is a link (a link list's title), not bold text


class _Asked(set):
    """The keys already used, remembering every key it was asked about."""

    def __init__(self, keys: Iterable[str] = ()):
        super().__init__(keys)
        self.asked: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.asked.add(key)  # type: ignore[arg-type]
        return super().__contains__(key)


class _Reader:
    def __init__(self, post: Post, used: set[str]):
        self.post = post
        self.used = used
        self.ctx = _TextContext(post.url, show_urls=False)
        # what is found under one node, by id (the node is kept too, so that its id stays its own)
        self._links: dict[int, tuple[SyntaxTreeNode, list[tuple[str, str]]]] = {}
        self._images: dict[int, tuple[SyntaxTreeNode, list[str]]] = {}
        self._anchors: set[str] | None = None  # the post's headings as anchors, when first needed

    def plain(self, children: Iterable[SyntaxTreeNode]) -> str:
        return plain_children(children, self.ctx, [])

    def links(self, nodes: Iterable[SyntaxTreeNode]) -> list[tuple[str, str]]:
        """(label, absolute URL) of every link in `nodes`, in order."""
        return [link for top in nodes for link in self._links_under(top)]

    def _links_under(self, top: SyntaxTreeNode) -> list[tuple[str, str]]:
        known = self._links.get(id(top))
        if known is not None:
            return known[1]
        out = []
        for node in walk(top):
            kind = node.type
            if kind == "link":
                url = absolute_url(str(node.attrs.get("href", "")), self.post.url)
                if url and not self.in_post(url):
                    out.append((self.plain(node.children), url))
            elif kind == "html_block":
                for match in _HTML_LINK.finditer(node.content):
                    url = absolute_url(html.unescape(match.group(1)), self.post.url)
                    if url and not self.in_post(url):
                        out.append((html_to_text(match.group(2)), url))
        self._links[id(top)] = (top, out)
        return out

    def in_post(self, url: str) -> bool:
        """A link to a place in this post ("/blog/2026/04/07/release#highlights"): the contents
        list of a release post, not a story with a link of its own. The site's path for the post
        may not be the one we know, so a fragment naming one of the post's headings counts too."""
        target, fragment = urldefrag(url)
        if not fragment:
            return False
        if target.rstrip("/") == urldefrag(self.post.url)[0].rstrip("/"):
            return True
        if self._anchors is None:
            self._anchors = {heading_anchor(self.plain(node.children[0].children))
                             for node in self.post.tree.children if node.type == "heading" and node.children}
        return heading_anchor(unquote(fragment)) in self._anchors

    def is_contents(self, content: list[SyntaxTreeNode]) -> bool:
        """A section that is only a list of links to places in this post."""
        if not content or any(node.type not in ("bullet_list", "ordered_list") for node in content):
            return False
        items = [item for node in content for item in node.children]
        hrefs = [str(node.attrs.get("href", "")).strip() for item in items for node in walk(item) if node.type == "link"]
        return len(hrefs) >= len(items) and all(
            href.startswith("#") or self.in_post(absolute_url(href, self.post.url) or "") for href in hrefs)

    def best_link(self, nodes: list[SyntaxTreeNode]) -> str:
        links = self.links(nodes)
        for label, url in links:
            if _GENERIC_LABEL.match(label.strip()) or label.strip() == url:
                return url
        return links[0][1] if links else ""

    def images(self, nodes: Iterable[SyntaxTreeNode]) -> tuple[str, ...]:
        found = [url for top in nodes for url in self._images_under(top)]
        return tuple(dict.fromkeys(u for u in found if u))[:MAX_ITEM_IMAGES]

    def _images_under(self, top: SyntaxTreeNode) -> list[str]:
        known = self._images.get(id(top))
        if known is not None:
            return known[1]
        found: list[str] = []
        for node in walk(top):
            kind = node.type
            if kind == "image":
                found.append(absolute_url(str(node.attrs.get("src", "")), self.post.url) or "")
            elif kind in ("html_block", "html_inline"):
                found.extend(absolute_url(src, self.post.url) or "" for src in html_images(node.content))
        self._images[id(top)] = (top, found)
        return found

    def line(self, nodes: list[SyntaxTreeNode], title: str = "") -> str:
        return pick_line(_blocks(nodes, self.ctx), self.used, title)

    # --- the shapes of an item ------------------------------------------------------------------

    def lead(self, inline: SyntaxTreeNode) -> _Lead | None:
        """A paragraph's bold or linked opening, as a title."""
        children = list(inline.children)
        k = next((i for i, c in enumerate(children) if not (c.type == "text" and not c.content.strip())
                  and c.type not in ("softbreak", "hardbreak")), None)
        if k is None or children[k].type not in ("strong", "link"):
            return None
        first = children[k]
        title = self.plain(first.children)
        if first.type == "link":
            link = absolute_url(str(first.attrs.get("href", "")), self.post.url) or ""
        else:
            link = next((url for _, url in self.links([first])), "")
        rest = children[k + 1:]
        rest_text = self.plain(rest)
        separated = (not rest_text or bool(_SEPARATOR.match(rest_text)) or title.rstrip().endswith((":", "："))
                     or (rest and rest[0].type in ("softbreak", "hardbreak")))
        return _Lead(item_title(title), link, rest, separated, first.type == "link") if title.strip() else None

    def lead_paragraph(self, node: SyntaxTreeNode, follow: list[SyntaxTreeNode]) -> Unit | None:
        lead = self.lead(node.children[0])
        if lead is None:
            return None
        link = lead.link or self.best_link([node] + follow)
        if not link:
            return None
        if not lead.separated:
            return Unit("", self.line([node]), link, self.images([node] + follow))
        line = self.rest_line(lead.rest, lead.title) or self.line(follow, lead.title)
        return Unit(lead.title, line, link, self.images([node] + follow))

    def rest_line(self, rest: list[SyntaxTreeNode], title: str) -> str:
        text = re.sub(r"^\s*(?:[:：|·/]|[-–—]{1,2})\s*", "", self.plain(rest))
        text = re.sub(r"^\((.*)\)$", r"\1", text.strip())
        return pick_line([Block(text)], self.used, title) if clean(text) else ""

    def list_item(self, item: SyntaxTreeNode) -> Unit | None:
        link = self.best_link([item])
        if not link:
            return None
        first = next((c for c in item.children if c.type == "paragraph"), None)
        images = self.images([item])
        nested = [c for c in item.children if c is not first]
        lead = self.lead(first.children[0]) if first is not None else None
        # "- [Fuzzing parsers for fun](url) by J. Doe": a link list's title, though no ":" follows;
        # "- [OpenAI](url) raised...": a name that starts a sentence
        if lead is not None and (lead.separated or lead.linked and title_like(lead.title)
                                 and not _CONTINUES.match(self.plain(lead.rest))):
            line = self.rest_line(lead.rest, lead.title)
            title = lead.title
            byline = _BYLINE.match(line)
            if byline and nested:  # "[Title](url) by Jane Doe" over a quoted excerpt: the excerpt says more
                excerpt = self.line(nested, lead.title)
                if excerpt:
                    joint = " " if lead.title.endswith(("?", "!", "？", "！", "…")) else ", "
                    title, line = f"{lead.title}{joint}{line}", excerpt
            return Unit(title, line or self.line(nested, lead.title), lead.link or link, images)
        return Unit("", self.line([first] if first is not None else nested), link, images)

    def inner_items(self, content: list[SyntaxTreeNode]) -> list[Unit]:
        """The items inside one section: lead paragraphs (with the paragraphs after them) and list items."""
        items: list[Unit] = []
        index = 0
        while index < len(content):
            node = content[index]
            index += 1
            if node.type == "paragraph" and self.lead(node.children[0]) is not None:
                follow = []
                while index < len(content) and content[index].type in ("paragraph", "blockquote", "html_block") \
                        and not (content[index].type == "paragraph" and self.lead(content[index].children[0])):
                    follow.append(content[index])
                    index += 1
                unit = self.lead_paragraph(node, follow)
                if unit is not None:
                    items.append(unit)
            elif node.type in ("bullet_list", "ordered_list"):
                items.extend(u for u in map(self.list_item, node.children) if u is not None)
        return items

    def opens_with_prose(self, content: list[SyntaxTreeNode]) -> bool:
        """A section that starts with a paragraph of its own is an item, whatever links follow."""
        first = content[0] if content else None
        if first is None or first.type != "paragraph" or self.lead(first.children[0]) is not None:
            return False
        text = clean(self.plain(first.children[0].children))
        return substantive(text) and not lead_in(text) and not boilerplate(text)

    def heading_item(self, heading: SyntaxTreeNode, content: list[SyntaxTreeNode], inner: list[Unit]) -> Unit | None:
        inline = heading.children[0]
        title = item_title(self.plain(inline.children))
        link = next((url for _, url in self.links([inline])), "") or \
            (inner[0].link if len(inner) == 1 else self.best_link(content))
        line = self.line(content, title) or (inner[0].line if len(inner) == 1 else "")
        if not title or not (line or link):
            return None
        return Unit(title, line, link, self.images(content))


def issue_items(post: Post, used: set[str]) -> list[Unit]:
    """The post's items in order, or [] when the post is not organised as items with links."""
    return issue_items_asked(post, used)[0]


def issue_items_asked(post: Post, used: set[str]) -> tuple[list[Unit], set[str]]:
    """issue_items, and every key it looked up in `used`: with another `used` that differs from
    this one in none of them, issue_items gives the same items (the lookups answer the same)."""
    asked = _Asked(used)
    reader = _Reader(post, asked)
    # every link an item can carry is found under a top-level block, as these are: with none, no
    # item has a link and the post is no issue
    if not reader.links(post.tree.children):
        return [], asked.asked
    return _read_items(reader, post), asked.asked


_ACCOUNT_HOSTS = frozenset({"github.com", "gitlab.com", "gitee.com", "twitter.com", "x.com", "www.youtube.com",
                            "youtube.com", "www.linkedin.com", "bsky.app", "mastodon.social", "weibo.com"})


def _homepage(url: str) -> bool:
    """A site's or an account's front page (https://acme.dev, https://github.com/acme)."""
    parts = urlsplit(url)
    depth = len([p for p in parts.path.split("/") if p])
    return bool(url) and not parts.query and (depth == 0 or depth == 1 and (parts.hostname or "") in _ACCOUNT_HOSTS)


def _merged(units: list[Unit]) -> list[Unit]:
    """One item per link: an issue that lists its stories up front and tells them below names each
    link twice; the item that says more (a line, then images) stands where the link came first."""
    first: dict[str, int] = {}
    out: list[Unit] = []
    for unit in units:
        if not unit.link or unit.link not in first:
            if unit.link:
                first[unit.link] = len(out)
            out.append(unit)
            continue
        kept = out[first[unit.link]]
        if (bool(unit.line), len(unit.images)) > (bool(kept.line), len(kept.images)):
            out[first[unit.link]] = unit
    return out


def _read_items(reader: _Reader, post: Post) -> list[Unit]:
    sections: list[tuple[SyntaxTreeNode | None, list[SyntaxTreeNode]]] = []
    for node in post.tree.children:
        if node.type == "heading" and node.tag in ITEM_HEADINGS:
            sections.append((node, []))
        elif node.type != "hr":
            if not sections:
                sections.append((None, []))
            sections[-1][1].append(node)
    units: list[Unit] = []
    for heading, content in sections:
        inner = reader.inner_items(content)
        if heading is None:
            units += inner if len(inner) >= 2 else []
            continue
        heading_text = reader.plain(heading.children[0].children)
        if _SPONSOR.search(heading_text) or BACK_MATTER.match(heading_text) or reader.is_contents(content):
            continue
        if len(inner) >= 2 and not reader.opens_with_prose(content):
            units += inner
            continue
        unit = reader.heading_item(heading, content, inner)
        if unit is not None:
            units.append(unit)
    units = _merged([u for u in units if (u.title or u.line)  # a bare link tells nothing
                     and (u.line or not _homepage(u.link))  # "Acme" → acme.dev is the masthead, not a story
                     and not _SPONSOR.search(u.title) and not boilerplate(u.title or u.line)])
    linked = sum(1 for u in units if u.link)
    return units if linked >= 2 and 2 * linked >= len(units) else []
