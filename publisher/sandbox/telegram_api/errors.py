"""How the Bot API refuses: {"ok": false, "error_code", "description", "parameters"}
(https://core.telegram.org/bots/api#making-requests), and the HTML page its nginx front end
sends instead."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify


class BotApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def bad_request(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


def error_response(error: BotApiError) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
    if error.parameters:
        body["parameters"] = error.parameters
    response = jsonify(body)
    response.status_code = error.status
    if error.parameters and "retry_after" in error.parameters:
        response.headers["Retry-After"] = str(error.parameters["retry_after"])
    return response


def nginx_page(status: int, reason: str) -> Response:
    html = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
            f"</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n")
    return Response(html, status=status, content_type="text/html")
