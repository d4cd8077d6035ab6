"""Jinja2 templates, shipped as package data so `publisher` works from any folder."""
import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """One environment per process: it compiles each template once and caches it."""
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
