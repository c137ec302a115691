"""The view predicate ``half_signed_in=True``: matches a browser that gave the
right password and still owes its second factor (see
:mod:`sessapp.accounts.pending`). Such a browser has no identity, so views for
signed-in users never match it; this lets a view (signing out) serve it too."""

from __future__ import annotations

from typing import Any

from ..accounts import pending


class HalfSignedInPredicate:
    def __init__(self, value: bool, config: Any) -> None:
        self.value = bool(value)

    def text(self) -> str:
        return f"half_signed_in = {self.value}"

    phash = text

    def __call__(self, context: Any, request: Any) -> bool:
        return pending.is_present(request) == self.value


def includeme(config: Any) -> None:
    config.add_view_predicate("half_signed_in", HalfSignedInPredicate)
