"""A post's per-channel overrides (`channels:` in its front matter), validated against each
channel's own options: an unknown channel or option is an error naming the nearest valid one."""
from __future__ import annotations

import difflib
from types import MappingProxyType
from typing import Any, Mapping

from publisher.errors import PostError


def channels_field(value: object, name: str) -> Mapping[str, Mapping[str, Any]]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise PostError(f"{name}, field 'channels'", "expected a mapping like {x: {enabled: false}}")
    out = {}
    for channel, opts in value.items():
        where = f"{name}, field 'channels.{channel}"
        from channels.registry import CHANNELS  # the channels import this module: look them up at call time

        if channel not in CHANNELS:
            raise PostError(where + "'", f"unknown channel; expected one of {', '.join(CHANNELS)}")
        if opts is None:
            opts = {}
        if not isinstance(opts, dict):
            raise PostError(where + "'", "expected a mapping of options")
        if "enabled" in opts and not isinstance(opts["enabled"], bool):
            raise PostError(f"{where}.enabled'", "expected true or false")
        _refuse_unknown_options(channel, opts, where)
        out[channel] = MappingProxyType(dict(opts))
    return MappingProxyType(out)


def _refuse_unknown_options(channel: str, opts: dict, where: str) -> None:
    from channels.registry import CHANNELS  # the channels import this module: look them up at call time

    known = CHANNELS[channel].options
    for key in opts:
        if key not in known:
            near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise PostError(f"{where}.{key}'", f"unknown option; {hint}expected one of {', '.join(sorted(known))}")
