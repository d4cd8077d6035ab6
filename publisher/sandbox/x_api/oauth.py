"""OAuth 1.0a as X checks it (RFC 5849 section 3.4,
https://developer.x.com/en/docs/authentication/oauth-1-0a/creating-a-signature); an OAuth 2.0 user
token is accepted when configured, an app-only bearer token is refused."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from flask import request

from publisher.sandbox.x_api.errors import APP_ONLY_DETAIL, UNAUTHORIZED, problem
from publisher.sandbox.x_api.limits import PROBLEMS
from publisher.sandbox.x_api.state import XAccount


def _pct(value: str) -> str:
    return quote(value, safe="~")


def _oauth_header_params(header: str) -> dict[str, str]:
    return {unquote(k): unquote(v) for k, v in re.findall(r'([\w.-]+)="([^"]*)"', header[len("OAuth "):])}


def _base_string_uri(url: str) -> str:
    parts = urlsplit(url)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def oauth1_signature(method: str, url: str, oauth: dict[str, str], form: list[tuple[str, str]],
                     consumer_secret: str, token_secret: str) -> str:
    """HMAC-SHA1 over method, base URI and the query, oauth_* and form-urlencoded parameters
    (JSON and multipart bodies are not signed)."""
    params = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    params += [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
    params += form
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in params))
    base = "&".join((method.upper(), _pct(_base_string_uri(url)), _pct(normalized)))
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def _signed_url() -> str:
    original = request.headers.get("X-Original-URL")
    if original:
        return original
    raw = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
    return f"{request.scheme}://{request.host}{raw}"


def authenticate(account: XAccount) -> str:
    """The user token of a properly signed request, or XApiError 401/403."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer "):].strip()
        if account.oauth2_user_token and hmac.compare_digest(token, account.oauth2_user_token):
            return token
        raise problem(403, "Unsupported Authentication", APP_ONLY_DETAIL, PROBLEMS + "unsupported-authentication")
    if not header.startswith("OAuth "):
        raise problem(401, *UNAUTHORIZED)
    oauth = _oauth_header_params(header)
    if (oauth.get("oauth_consumer_key") != account.consumer_key or oauth.get("oauth_token") != account.access_token
            or oauth.get("oauth_signature_method") != "HMAC-SHA1"):
        raise problem(401, *UNAUTHORIZED)
    form = list(request.form.items(multi=True)) if request.mimetype == "application/x-www-form-urlencoded" else []
    expected = oauth1_signature(request.method, _signed_url(), oauth, form,
                                account.consumer_secret, account.access_token_secret)
    if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
        raise problem(401, *UNAUTHORIZED)
    return account.access_token
