"""The JSON API for scripts: who am I, and API tokens."""

from __future__ import annotations

from typing import Any

from pyramid.response import Response
from pyramid.view import view_config

from ..accounts import api_tokens, audit
from ..models.meta import parse_id
from ..security.acl import ACCOUNT
from .helpers import FieldError, json_body, json_error, now


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


@view_config(route_name="api_tokens", request_method="POST", permission=ACCOUNT)
def create_token(request: Any) -> Response:
    max_days = request.registry.sessapp_settings.auth.api_token_max_days
    try:
        body = json_body(request)
    except FieldError as exc:
        return json_error(400, str(exc))
    if body is None:
        body = dict(request.POST)
    name = body.get("name")
    days = body.get("expires_in_days", 30)
    if (not isinstance(name, str) or not name.strip() or len(name) > api_tokens.MAX_NAME_LENGTH
            or not name.isprintable()):
        return json_error(
            422, f"name must be 1 to {api_tokens.MAX_NAME_LENGTH} printable characters."
        )
    if isinstance(days, str) and days.strip().isdigit():
        days = int(days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        return json_error(422, f"expires_in_days must be a whole number from 1 to {max_days}.")
    user, when = request.identity, now(request)
    limit = request.registry.throttle_limits["api_token_user"]
    wait = limit.retry_after(request.dbsession, str(user.id), when)
    if wait is not None:
        audit.record(request, "api_token_throttled", user=user, store=False)
        return json_error(429, "Too many tokens created; try again later.",
                          **{"Retry-After": str(wait)})
    request.dbsession.add(limit.hit(str(user.id), when))
    token, secret = api_tokens.create(request.dbsession, user, name.strip(), days, when)
    audit.record(request, "api_token_created", user=user)
    return Response(
        json_body={"id": token.id, "name": token.name, "token": secret,
                   "expires_at": _iso(token.expires_at)},
        status=201,
    )


@view_config(route_name="api_token", request_method="DELETE", permission=ACCOUNT)
def delete_token(request: Any) -> Response:
    token_id = parse_id(request.matchdict["token_id"])
    user = request.identity
    if token_id is None or not api_tokens.revoke(request.dbsession, user.id, token_id,
                                                 now(request)):
        return json_error(404, "No such token.")
    audit.record(request, "api_token_revoked", user=user)
    return Response(status=204)
