"""Publishing a draft: /cgi-bin/freepublish/submit, get, batchget and getarticle, with jobs that
finish after a scripted number of polls and the PUBLISHJOBFINISH callback; also /cgi-bin/clear_quota.
https://developers.weixin.qq.com/doc/offiaccount/Publish/Publish.html,
https://developers.weixin.qq.com/doc/offiaccount/Publish/Get_status.html,
https://developers.weixin.qq.com/doc/offiaccount/Publish/Callback_on_finish.html
"""
from __future__ import annotations

import threading
from typing import Any

import requests
from flask import Flask

from publisher.sandbox.wechat_api.answers import _json_answer, _json_body, _ok
from publisher.sandbox.wechat_api.drafts import _find_draft, _maybe_without_content, _page
from publisher.sandbox.wechat_api.state import WeChatError, WeChatState


def _add_publish_routes(app: Flask, state: WeChatState) -> None:
    @app.post("/cgi-bin/freepublish/submit")
    def publish_submit():
        _require_publish_permission(state)
        draft = _find_draft(state, _json_body().get("media_id"))
        with state.lock:
            serial = state.next_serial()
            publish_id = str(2247483647 + serial)
            state.jobs[publish_id] = {
                "publish_id": publish_id, "media_id": draft["media_id"], "msg_data_id": str(1000000000 + serial),
                "polls_left": state.options.publish_polls, "final_status": state.options.publish_status,
                "status": 1, "article_id": None,
            }
            if state.options.publish_polls == 0:
                _finish_job(state, state.jobs[publish_id])
        return _ok(publish_id=publish_id, msg_data_id=state.jobs[publish_id]["msg_data_id"])

    @app.post("/cgi-bin/freepublish/get")
    def publish_get():
        _require_publish_permission(state)
        publish_id = str(_json_body().get("publish_id", ""))
        with state.lock:
            job = state.jobs.get(publish_id)
            if job is None:
                raise WeChatError(40007, f"no publish job {publish_id!r}")
            if job["status"] == 1 and job["polls_left"] > 0:
                job["polls_left"] -= 1
            elif job["status"] == 1:
                _finish_job(state, job)
            return _json_answer(_job_answer(state, job))

    @app.post("/cgi-bin/freepublish/batchget")
    def publish_batchget():
        _require_publish_permission(state)
        body = _json_body()
        with state.lock:
            articles = sorted(state.published.values(), key=lambda a: (a["update_time"], a["serial"]), reverse=True)
        items = [{"article_id": a["article_id"], "content": {"news_item": _maybe_without_content(a["news_item"], body)},
                  "update_time": a["update_time"]} for a in _page(articles, body)]
        return _json_answer({"total_count": len(articles), "item_count": len(items), "item": items})

    @app.post("/cgi-bin/freepublish/getarticle")
    def publish_getarticle():
        _require_publish_permission(state)
        article_id = _json_body().get("article_id")
        with state.lock:
            article = state.published.get(article_id) if isinstance(article_id, str) else None
        if article is None:
            raise WeChatError(40007, f"no article {article_id!r}")
        return _json_answer({"news_item": article["news_item"]})

    @app.post("/cgi-bin/clear_quota")
    def clear_quota():
        if _json_body().get("appid") != state.options.app_id:
            raise WeChatError(40013)
        with state.lock:
            state.calls.clear()
        return _ok()


def _require_publish_permission(state: WeChatState) -> None:
    if not state.options.publish_authorized:
        raise WeChatError(48001)


def _finish_job(state: WeChatState, job: dict[str, Any]) -> None:
    """Settle a job on its scripted status; a success moves the draft out of the draft box."""
    job["status"] = job["final_status"]
    draft = state.drafts.get(job["media_id"])
    if job["status"] in (0, 5, 6) and draft is not None:
        article_id = f"sandbox-article-{job['publish_id']}"
        job["article_id"] = article_id
        job["article_urls"] = [f"https://mp.weixin.qq.com/s/sandbox-{job['publish_id']}-{i}"
                               for i in range(1, len(draft["news_item"]) + 1)]
        news_item = [dict(item, url=url, is_deleted=job["status"] == 5)
                     for item, url in zip(draft["news_item"], job["article_urls"])]
        state.published[article_id] = {"article_id": article_id, "news_item": news_item,
                                       "update_time": int(state.now()), "serial": state.next_serial()}
        del state.drafts[job["media_id"]]
    elif draft is not None:
        job["fail_idx"] = list(range(1, len(draft["news_item"]) + 1))
    if state.options.callback_url:
        _post_publish_event(state.options.callback_url, state.options.app_id, _job_answer(state, job), int(state.now()))


def _job_answer(state: WeChatState, job: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"publish_id": job["publish_id"], "publish_status": job["status"],
                              "fail_idx": job.get("fail_idx", [])}
    if job.get("article_id"):
        answer["article_id"] = job["article_id"]
        answer["article_detail"] = {
            "count": len(job["article_urls"]),
            "item": [{"idx": i, "article_url": url} for i, url in enumerate(job["article_urls"], start=1)],
        }
    return answer


def _post_publish_event(url: str, app_id: str, answer: dict[str, Any], moment: int) -> None:
    """PUBLISHJOBFINISH as the platform pushes it, sent from a thread so the poll answers now."""
    items = "".join(f"<item><idx>{item['idx']}</idx><article_url><![CDATA[{item['article_url']}]]></article_url></item>"
                    for item in answer.get("article_detail", {}).get("item", []))
    xml = (
        f"<xml><ToUserName><![CDATA[gh_sandbox]]></ToUserName><FromUserName><![CDATA[{app_id}]]></FromUserName>"
        f"<CreateTime>{moment}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>"
        f"<publish_id>{answer['publish_id']}</publish_id><publish_status>{answer['publish_status']}</publish_status>"
        f"<article_id><![CDATA[{answer.get('article_id', '')}]]></article_id>"
        f"<article_detail><count>{answer.get('article_detail', {}).get('count', 0)}</count>{items}</article_detail>"
        f"<fail_idx>{','.join(map(str, answer['fail_idx']))}</fail_idx></PublishEventInfo></xml>"
    )

    def deliver() -> None:
        try:
            requests.post(url, data=xml.encode("utf-8"), headers={"Content-Type": "text/xml"}, timeout=5)
        except requests.RequestException:
            pass  # the platform does not retry a callback we cannot reach either

    threading.Thread(target=deliver, daemon=True).start()
