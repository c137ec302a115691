"""The JSON API for scripts: who am I, and API tokens.

Each view's permission is the scope a token needs for it (``read`` for GETs,
``write`` for changes); making a token is ``issue_token``, which no token holds.
"""

from __future__ import annotations

from typing import Any

from pyramid.response import Response
from pyramid.view import view_config

from ..accounts import api_tokens, own_account
from ..accounts.errors import AccountError, NotFound, ProofRequired, Throttled
from ..models.meta import parse_id
from ..security.acl import ISSUE_TOKEN, READ, WRITE
from .helpers import FieldError, json_error, token_request


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _token_json(token: Any) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scopes": token.scopes,
        "created_at": _iso(token.created_at),
        "last_used_at": _iso(token.last_used_at),
        "expires_at": _iso(token.expires_at),
        "revoked": token.revoked_at is not None,
    }


@view_config(route_name="api_me", request_method="GET", renderer="json", permission=READ)
def me(request: Any) -> dict[str, Any]:
    user = request.identity
    return {"id": user.id, "username": user.username, "roles": user.roles}


@view_config(route_name="api_tokens", request_method="GET", renderer="json",
             permission=READ)
def list_tokens(request: Any) -> dict[str, Any]:
    tokens = api_tokens.list_for_user(request.dbsession, request.identity.id)
    return {"tokens": [_token_json(token) for token in tokens]}


@view_config(route_name="api_tokens", request_method="POST", permission=ISSUE_TOKEN,
             accepts_bearer=True, sudo=True)
def create_token(request: Any) -> Response:
    try:
        fields = token_request(request)
    except FieldError as exc:
        return json_error(400, str(exc))
    try:
        token, secret = own_account.issue_token(request, request.identity, **fields)
    except ProofRequired as exc:
        return Response(json_body={"error": str(exc), "sudo": request.route_path("sudo")},
                        status=403)
    except Throttled as exc:
        return json_error(429, str(exc), **{"Retry-After": str(exc.retry_after)})
    except AccountError as exc:
        return json_error(422, str(exc))
    return Response(
        json_body={"id": token.id, "name": token.name, "token": secret,
                   "expires_at": _iso(token.expires_at), "scopes": token.scopes},
        status=201,
    )


@view_config(route_name="api_token", request_method="DELETE", permission=WRITE,
             accepts_bearer=True)
def delete_token(request: Any) -> Response:
    try:
        own_account.withdraw_token(request, request.identity,
                                   parse_id(request.matchdict["token_id"]))
    except NotFound as exc:
        return json_error(404, str(exc))
    return Response(status=204)
