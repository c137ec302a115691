"""The shortcut that serves public pages without loading the session is exact."""

from __future__ import annotations

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow, Authenticated, Deny, Everyone

from sessapp.security.acl import ACCOUNT, ADMIN, PUBLIC, Root, granted_to_everyone


class Node:
    def __init__(self, acl, parent=None):
        self.__acl__ = acl
        self.__parent__ = parent


def test_public_permission_needs_no_identity():
    root = Root(None)
    assert granted_to_everyone(root, PUBLIC)
    assert not granted_to_everyone(root, ACCOUNT)
    assert not granted_to_everyone(root, ADMIN)
    assert not granted_to_everyone(root, "anything else")


def test_an_earlier_deny_for_some_principals_disables_the_shortcut():
    context = Node([(Deny, Authenticated, "view"), (Allow, Everyone, "view")])
    assert not granted_to_everyone(context, "view")


def test_the_first_entry_mentioning_the_permission_decides_across_the_lineage():
    parent = Node([(Allow, Everyone, "view"), DENY_ALL])
    assert granted_to_everyone(Node([(Allow, Authenticated, "edit")], parent), "view")
    assert not granted_to_everyone(Node([(Deny, "user:1", ALL_PERMISSIONS)], parent), "view")
    assert granted_to_everyone(Node([(Allow, Everyone, ("edit", "view"))]), "view")
    assert granted_to_everyone(Node(lambda: [(Allow, Everyone, "view")]), "view")
