"""The host's use of ``sessapp.sessions``: its table, and a member as the identity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .models import member_sessions, members


@dataclass(frozen=True)
class Member:
    member_id: int
    email: str
    display_name: str


def member_from_row(columns: Mapping[str, Any]) -> Member:
    return Member(columns["member_id"], columns["email"], columns["display_name"])


def includeme(config: Any) -> None:
    config.include("sessapp.sessions")
    config.set_sessions_table(member_sessions)
    config.set_session_identity(table=members, key=members.c.member_id, build=member_from_row)
