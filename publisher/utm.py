"""Campaign tags on the links that lead readers back to the site: with PUBLISHER_UTM=on (or `utm: true`
in a post's front matter) every link to the site's own host gets utm_source=<channel>,
utm_medium=email|social and utm_campaign=<slug>, so the site's analytics can tell where a reader came
from. Parameter names as Google Analytics reads them:
https://support.google.com/analytics/answer/10917952

Only absolute http(s) links whose host is the site's (PUBLISHER_SITE_URL's, or the post URL's) are
tagged: never another host, never mailto:/tg:, never an unsubscribe link, never one of the post's
images. Everything else in the URL is kept as written; a utm_* parameter the link already has wins.
Pure and total: a URL it cannot read with certainty is returned unchanged, never an exception.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

from publisher.errors import PostError

if TYPE_CHECKING:
    from publisher.config import Settings
    from publisher.post import Post

MEDIUMS = {"email": "email"}  # the medium of each channel; every other channel is "social"
KEYS = ("utm_source", "utm_medium", "utm_campaign")
# A host as the channels write one (name, IPv4, [IPv6], port): no userinfo, no backslash, nothing a
# browser would read as a different host than urlsplit does.
_PLAIN_NETLOC = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # whitespace and control characters: left alone
_HREF = re.compile(r'(<a\b[^>]*?\shref=")([^"]*)(")', re.I)

LinkTag = Callable[[str], str]


def tag_url(url: str, hosts: Iterable[str], source: str, medium: str, campaign: str) -> str:
    """`url` with the utm_* parameters it lacks, when it is an absolute http(s) URL on one of `hosts`
    (host names, compared case-insensitively); any other URL exactly as given. The query keeps its
    parameters and spelling, a fragment stays after the query."""
    try:
        if not isinstance(url, str) or _UNSAFE.search(url):
            return url
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not _PLAIN_NETLOC.fullmatch(parts.netloc):
            return url
        if (parts.hostname or "") not in {h.lower() for h in hosts if h}:
            return url
        if "unsubscribe" in parts.path.lower().split("/"):
            return url
        present = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
        added = "&".join(f"{key}={quote(value, safe='')}" for key, value in zip(KEYS, (source, medium, campaign))
                         if key not in present and value)
        if not added:
            return url
        head, hash_mark, fragment = url.partition("#")
        if "?" not in head:  # an empty path is "/" (RFC 3986 6.2.3): https://site/?utm_… reads better
            head += ("" if parts.path else "/") + "?" + added
        else:
            head += added if head.endswith(("?", "&")) else "&" + added
        return head + hash_mark + fragment
    except (ValueError, TypeError):  # an unreadable URL (a bad IPv6 literal, a bad port) stays as it is
        return url


@dataclass(frozen=True)
class LinkTagger:
    """tag_url for one channel and post: call it with a URL, get the URL readers should follow."""

    hosts: frozenset[str]
    source: str
    medium: str
    campaign: str
    images: frozenset[str] = frozenset()  # the post's image URLs: an image is not a visit to the site

    def __call__(self, url: str) -> str:
        if url in self.images:
            return url
        return tag_url(url, self.hosts, self.source, self.medium, self.campaign)


def utm_enabled(post: "Post", settings: "Settings") -> bool:
    """The post's `utm: true|false` when it says, else PUBLISHER_UTM."""
    if "utm" not in post.extra:
        return settings.utm
    from publisher.front_matter import truthy

    value = truthy(post.extra["utm"])
    if value is None:
        raise PostError(f"{post.source}, field 'utm'", f"expected true or false, got {post.extra['utm']!r}")
    return value


def link_tagger(post: "Post", settings: "Settings", channel: str) -> LinkTagger | None:
    """How `channel` tags this post's links, or None when UTM is off (the channel then emits its
    links untouched, byte for byte as without this module)."""
    if not utm_enabled(post, settings):
        return None
    hosts = frozenset(h for h in (_host(settings.site_url), _host(post.url)) if h)
    return LinkTagger(hosts, channel, MEDIUMS.get(channel, "social"), post.slug, _image_urls(post))


def tag_hrefs(document: str, tag: LinkTag) -> str:
    """Every double-quoted href of an <a> tag in `document` (HTML) passed through `tag`; image
    sources and the text readers see are not touched."""
    def tagged(match: re.Match) -> str:
        url = html.unescape(match.group(2))
        new = tag(url)
        return match.group(0) if new == url else match.group(1) + _attribute(new) + match.group(3)

    return _HREF.sub(tagged, document)


def _attribute(value: str) -> str:
    # Named entities Telegram's HTML style knows too (https://core.telegram.org/bots/api#html-style)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _image_urls(post: "Post") -> frozenset[str]:
    from publisher.markdown import html_images, walk

    urls = {post.cover_image, post.first_image}
    for node in walk(post.tree):
        if node.type == "image":
            urls.add(_resolved(str(node.attrs.get("src", "")), post.url))
        elif node.type in ("html_block", "html_inline"):
            urls.update(_resolved(src, post.url) for src in html_images(node.content))
    return frozenset(u for u in urls if u)


def _resolved(src: str, base: str) -> str:
    try:
        return urljoin(base, src.strip())
    except ValueError:
        return src
