"""The host's own pages: sign in by e-mail (its business, not the package's),
who am I, sign out, and a greeting from its own setting."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPUnprocessableEntity
from pyramid.response import Response
from sqlalchemy import select

from .models import members
from .sessions import member_from_row


def login(request: Any) -> Response:
    row = request.dbsession.execute(
        select(members).where(members.c.email == request.POST.get("email", ""))
    ).mappings().first()
    if row is None:
        raise HTTPUnprocessableEntity()
    member = member_from_row(row)
    request.session.rotate(user_id=member.member_id, identity=member, keep=[])
    return Response("signed in")


def me(request: Any) -> Response:
    member = request.session.identity
    return Response(json_body=None if member is None else {
        "member_id": member.member_id, "email": member.email,
        "greeting": request.registry.settings["hostapp.greeting"]})


def logout(request: Any) -> Response:
    request.session.invalidate()
    return Response("signed out")


def includeme(config: Any) -> None:
    for name, path in [("login", "/login"), ("me", "/me"), ("logout", "/logout")]:
        config.add_route(name, path)
    config.add_view(login, route_name="login", request_method="POST")
    config.add_view(me, route_name="me", request_method="GET")
    config.add_view(logout, route_name="logout", request_method="POST")
