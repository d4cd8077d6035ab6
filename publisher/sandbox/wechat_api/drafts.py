"""The draft box: /cgi-bin/draft/add, update, get, batchget, count and delete (each article is
checked in articles.py): https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html"""
from __future__ import annotations

from typing import Any

from flask import Flask

from publisher.sandbox.wechat_api.answers import _json_answer, _json_body, _ok
from publisher.sandbox.wechat_api.articles import _accept_article
from publisher.sandbox.wechat_api.limits import ARTICLES_MAX, BATCHGET_MAX_COUNT
from publisher.sandbox.wechat_api.state import WeChatError, WeChatState


def _add_draft_routes(app: Flask, state: WeChatState) -> None:
    @app.post("/cgi-bin/draft/add")
    def draft_add():
        body = _json_body(refuse_unicode_escapes=True)
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            raise WeChatError(47001, "articles must be a non-empty list")
        if len(articles) > ARTICLES_MAX:
            raise WeChatError(45008)
        stored = [_accept_article(state, article, index) for index, article in enumerate(articles)]
        with state.lock:
            serial = state.next_serial()
            media_id = f"sandbox-draft-{serial:06d}"
            moment = int(state.now())
            _attach_preview_urls(media_id, stored)
            state.drafts[media_id] = {"media_id": media_id, "news_item": stored, "create_time": moment,
                                      "update_time": moment, "serial": serial}
        return _json_answer({"media_id": media_id})

    @app.post("/cgi-bin/draft/update")
    def draft_update():
        body = _json_body(refuse_unicode_escapes=True)
        draft = _find_draft(state, body.get("media_id"))
        index = body.get("index")
        if not isinstance(index, int) or not 0 <= index < len(draft["news_item"]):
            raise WeChatError(47001, f"index {index!r} out of range")
        if not isinstance(body.get("articles"), dict):
            raise WeChatError(47001, "articles must be one article object")
        article = _accept_article(state, body["articles"], index)
        with state.lock:
            draft["news_item"][index] = article
            _attach_preview_urls(draft["media_id"], draft["news_item"])
            draft["update_time"] = int(state.now())
            draft["serial"] = state.next_serial()
        return _ok()

    @app.post("/cgi-bin/draft/get")
    def draft_get():
        draft = _find_draft(state, _json_body().get("media_id"))
        return _json_answer({"news_item": draft["news_item"], "create_time": draft["create_time"],
                             "update_time": draft["update_time"]})

    @app.post("/cgi-bin/draft/batchget")
    def draft_batchget():
        body = _json_body()
        with state.lock:
            drafts = sorted(state.drafts.values(), key=lambda d: (d["update_time"], d["serial"]), reverse=True)
        page = _page(drafts, body)
        items = [{"media_id": d["media_id"], "content": {"news_item": _maybe_without_content(d["news_item"], body)},
                  "update_time": d["update_time"]} for d in page]
        return _json_answer({"total_count": len(drafts), "item_count": len(items), "item": items})

    @app.post("/cgi-bin/draft/count")
    def draft_count():
        with state.lock:
            return _ok(total_count=len(state.drafts))

    @app.post("/cgi-bin/draft/delete")
    def draft_delete():
        media_id = _json_body().get("media_id")
        with state.lock:
            _find_draft(state, media_id)
            del state.drafts[media_id]
        return _ok()


def _find_draft(state: WeChatState, media_id: Any) -> dict[str, Any]:
    with state.lock:
        draft = state.drafts.get(media_id) if isinstance(media_id, str) else None
    if draft is None:
        raise WeChatError(40007, f"no draft {media_id!r}")
    return draft


def _page(items: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    offset, count = body.get("offset", 0), body.get("count")
    if not isinstance(offset, int) or offset < 0 or not isinstance(count, int) or not 1 <= count <= BATCHGET_MAX_COUNT:
        raise WeChatError(47001, f"offset >= 0 and count 1..{BATCHGET_MAX_COUNT} required")
    return items[offset:offset + count]


def _maybe_without_content(news_items: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    if not body.get("no_content"):
        return news_items
    return [{k: v for k, v in item.items() if k != "content"} for item in news_items]


def _attach_preview_urls(media_id: str, articles: list[dict[str, Any]]) -> None:
    for position, article in enumerate(articles, start=1):
        article["url"] = f"http://mp.weixin.qq.com/s?__biz=U2FuZGJveA==&tempkey={media_id}&idx={position}#rd"
