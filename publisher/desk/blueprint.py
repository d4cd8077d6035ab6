"""The desk's blueprint and what all its pages read: the app's settings, store, subscribers and
posts shelf (put there by publisher.web.create_app and attach_desk), and the channels' titles."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, current_app

from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.store import Store
from publisher.subscribers import Subscribers

if TYPE_CHECKING:
    from publisher.desk.shelf import PostShelf

desk = Blueprint("desk", __name__)

CHANNEL_TITLES = {name: channel.title or name for name, channel in CHANNELS.items()}


def _app_parts() -> tuple[Settings, Store, Subscribers, PostShelf]:
    parts = current_app.extensions["publisher"]
    return parts["settings"], parts["store"], parts["subscribers"], parts["shelf"]
