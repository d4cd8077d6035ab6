"""How X refuses: RFC 7807 problem bodies and the v2 "Invalid Request" shape
(https://developer.x.com/en/support/x-api/error-troubleshooting), and the JSON answers of the stand-in."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from publisher.sandbox.x_api.limits import PROBLEMS


class XApiError(Exception):
    """An answer the platform gives instead of a result."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> XApiError:
    """RFC 7807 body as X v2 sends it."""
    return XApiError(status, {"title": title, "detail": detail, "type": type_, "status": status})


def invalid_request(message: str, parameters: dict[str, list[Any]]) -> XApiError:
    return XApiError(400, {
        "errors": [{"parameters": parameters, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    })


UNAUTHORIZED = ("Unauthorized", "Unauthorized")
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
APP_ONLY_DETAIL = (
    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
    "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
)


def _json(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _error_json(error: XApiError) -> Response:
    return _json(error.status, error.body, error.headers)


def _not_found(resource: str, parameter: str, value: str) -> XApiError:
    return XApiError(404, {
        "value": value, "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error", "resource_type": resource, "parameter": parameter, "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    })
