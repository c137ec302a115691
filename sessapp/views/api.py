"""The JSON API for scripts: who am I, and API tokens."""

from __future__ import annotations

from typing import Any

from pyramid.response import Response
from pyramid.view import view_config

from ..accounts import api_tokens
from ..accounts.errors import AccountError, NotFound, Throttled
from ..models.meta import parse_id
from ..security.acl import ACCOUNT
from .helpers import FieldError, json_body, json_error, whole_number


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _token_json(token: Any) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": _iso(token.created_at),
        "last_used_at": _iso(token.last_used_at),
        "expires_at": _iso(token.expires_at),
        "revoked": token.revoked_at is not None,
    }


@view_config(route_name="api_me", request_method="GET", renderer="json", permission=ACCOUNT)
def me(request: Any) -> dict[str, Any]:
    user = request.identity
    return {"id": user.id, "username": user.username, "roles": user.roles}


@view_config(route_name="api_tokens", request_method="GET", renderer="json",
             permission=ACCOUNT)
def list_tokens(request: Any) -> dict[str, Any]:
    tokens = api_tokens.list_for_user(request.dbsession, request.identity.id)
    return {"tokens": [_token_json(token) for token in tokens]}


@view_config(route_name="api_tokens", request_method="POST", permission=ACCOUNT,
             accepts_bearer=True)
def create_token(request: Any) -> Response:
    try:
        body = json_body(request)
    except FieldError as exc:
        return json_error(400, str(exc))
    if body is None:
        body = dict(request.POST)
    days = body.get("expires_in_days", 30)
    if isinstance(days, str):
        # A form sends text; only ASCII digits make it a number.
        days = whole_number(days)
    try:
        token, secret = api_tokens.issue(request, request.identity, body.get("name"), days)
    except Throttled as exc:
        return json_error(429, str(exc), **{"Retry-After": str(exc.retry_after)})
    except AccountError as exc:
        return json_error(422, str(exc))
    return Response(
        json_body={"id": token.id, "name": token.name, "token": secret,
                   "expires_at": _iso(token.expires_at)},
        status=201,
    )


@view_config(route_name="api_token", request_method="DELETE", permission=ACCOUNT,
             accepts_bearer=True)
def delete_token(request: Any) -> Response:
    try:
        api_tokens.withdraw(request, request.identity, parse_id(request.matchdict["token_id"]))
    except NotFound as exc:
        return json_error(404, str(exc))
    return Response(status=204)
