"""The email's stylesheet moved onto its elements as `style` attributes, as mail clients need
(Gmail drops most of a <head> sheet, Outlook for Windows reads only inline styles).

The sheet is our own (templates/email.html), so this does what premailer does for it and no more,
at a fraction of its cost (premailer re-parses every declaration with cssutils on every render):
- the rules of each <style> without `data-premailer="ignore"` are applied, then that <style> goes;
  an ignored one (the @media and dark-mode overrides, which must stay a sheet) is kept as is;
- rules apply in premailer's order: (ids, classes, elements) of the selector, then sheet order;
  declarations already in an element's `style` attribute win over the sheet;
- `text-align`, `vertical-align` and `background-color` are also written as the `align`, `valign`
  and `bgcolor` attributes older clients read (three-digit colours made six-digit for Lotus Notes);
  `width`/`height` are never turned into attributes (Outlook reads width="100%" on an image as its
  natural size; the template sets pixel widths where Outlook needs them).
Selectors are simple: type, `.class`, `type.class`, and the descendant combinator. A sheet using
anything else is refused when it is first read, so a template edit cannot silently lose a rule.
tests/test_email_inline_css.py holds the result equal, element by element, to premailer's.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lxml import etree

IGNORE = ("data-premailer", "ignore")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_SIMPLE = re.compile(r"^(?P<tag>[a-zA-Z][a-zA-Z0-9]*)?(?P<classes>(?:\.[a-zA-Z_][\w-]*)*)$")
_SHORT_COLOUR = re.compile(r"#([0-9a-fA-F])([0-9a-fA-F])([0-9a-fA-F])\b(?![0-9a-fA-F])")


class UnsupportedSelector(ValueError):
    pass


Compound = tuple[str, frozenset[str]]  # a type ("*" for any) and the classes an element must carry


@dataclass(frozen=True)
class _Rule:
    order: tuple[int, int, int, int, int]  # premailer's crude specificity, then sheet order
    compounds: tuple[Compound, ...]  # outermost first; each a descendant of the one before
    declarations: tuple[tuple[str, str], ...]


def _declarations(body: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for declaration in body.split(";"):
        name, colon, value = declaration.partition(":")
        if colon and name.strip() and value.strip():
            pairs.append((name.strip().lower(), " ".join(value.split())))
    return tuple(pairs)


def _compound(text: str) -> Compound:
    match = _SIMPLE.match(text)
    if not match or not text:
        raise UnsupportedSelector(f"selector part {text!r}: only type, .class and descendants are inlined")
    return (match["tag"] or "*").lower(), frozenset(match["classes"].split(".")[1:])


@functools.lru_cache(maxsize=8)
def parse_sheet(css: str, sheet_index: int = 0) -> tuple[_Rule, ...]:
    """The rules of one sheet (cached: the template's sheet is read once per process)."""
    rules = []
    for selectors, body in _RULE.findall(_COMMENT.sub("", css)):
        declarations = _declarations(body)
        if not declarations:
            continue
        for selector in (s.strip() for s in selectors.split(",")):
            if selector.startswith("@") or any(c in selector for c in ":#*>+~[]"):
                raise UnsupportedSelector(f"selector {selector!r}: only type, .class and descendants are inlined")
            compounds = tuple(_compound(part) for part in selector.split())
            elements = sum(1 for tag, _ in compounds if tag != "*")
            order = (0, selector.count("."), elements, sheet_index, len(rules))
            rules.append(_Rule(order, compounds, declarations))
    return tuple(sorted(rules, key=lambda rule: rule.order))


def _fits(element, compound: Compound) -> bool:
    tag, classes = compound
    if tag != "*" and element.tag != tag:
        return False
    return not classes or classes <= set(element.get("class", "").split())


def _matches(element, compounds: tuple[Compound, ...]) -> bool:
    """Whether the element matches the selector: it fits the last compound, and ancestors fit the
    others in order (nearest first: with descendant combinators only, that choice never misses)."""
    if not _fits(element, compounds[-1]):
        return False
    ancestor = element.getparent()
    for compound in reversed(compounds[:-1]):
        while ancestor is not None and not _fits(ancestor, compound):
            ancestor = ancestor.getparent()
        if ancestor is None:
            return False
        ancestor = ancestor.getparent()
    return True


def _basic_attributes(element, style: dict[str, str]) -> None:
    if "text-align" in style:
        element.set("align", style["text-align"])
    if "vertical-align" in style:
        element.set("valign", style["vertical-align"])
    colour = style.get("background-color")
    if colour and "transparent" not in colour.lower():
        element.set("bgcolor", _SHORT_COLOUR.sub(r"#\1\1\2\2\3\3", colour))


def inline_css(document: str) -> str:
    """The HTML document with its sheets' rules written into `style` attributes."""
    stripped = document.strip()
    tree = etree.fromstring(stripped, etree.HTMLParser()).getroottree()
    page = tree.getroot()
    rules: list[_Rule] = []
    for index, style in enumerate(page.iter("style")):
        if style.get(IGNORE[0]) == IGNORE[1]:
            del style.attrib[IGNORE[0]]
            continue
        rules.extend(parse_sheet(style.text or "", index))
        style.getparent().remove(style)
    rules.sort(key=lambda rule: rule.order)
    by_key: dict[str, list[_Rule]] = {}  # each rule under its last compound's type, or its first class
    for rule in rules:
        tag, classes = rule.compounds[-1]
        by_key.setdefault(tag if tag != "*" else "." + min(classes, default=""), []).append(rule)
    styles: dict[int, tuple[object, dict[str, str]]] = {}
    for element in page.iter(etree.Element):
        keys = [element.tag, *("." + name for name in element.get("class", "").split())]
        candidates = [rule for key in keys for rule in by_key.get(key, ())]
        matched = sorted((rule for rule in candidates if _matches(element, rule.compounds)), key=lambda r: r.order)
        if matched:
            style = styles.setdefault(id(element), (element, {}))[1]
            for rule in matched:
                style.update(rule.declarations)
    for element, style in styles.values():
        style.update(_declarations(element.get("style", "")))  # the element's own styles win
        element.set("style", "; ".join(f"{name}:{value}" for name, value in style.items()))
        _basic_attributes(element, style)
    root = tree if tree.docinfo.doctype and stripped.startswith(tree.docinfo.doctype) else page
    return etree.tostring(root, method="html", encoding="utf-8").decode("utf-8")
