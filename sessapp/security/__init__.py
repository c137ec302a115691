"""Only what Pyramid calls: the policy chain named by ``auth.policies``, the
ACL root, CSRF and safe redirects. No business rule lives here; those are in
``sessapp.accounts``.

Another Pyramid app can ``config.include("sessapp.security")`` (it brings
sessapp's settings, models and ``sessapp.sessions`` with sessapp's users as the
identity) and guard its own views with the same policies.
"""

from __future__ import annotations

from typing import Any

from ..settings import SettingsError
from .acl import DEFAULT, Root
from .policies import BearerSecurityPolicy, PolicyChain, SessionSecurityPolicy

BUILTIN_POLICIES = {"session": SessionSecurityPolicy, "bearer": BearerSecurityPolicy}


# What the chain calls on each of its policies.
POLICY_METHODS = ("identity", "authenticated_userid", "permits")


def build_policy_chain(config: Any, names: tuple[str, ...]) -> PolicyChain:
    """The chain named by ``auth.policies``. A name that does not import, or names
    something that is not a security policy, is a SettingsError, so ``main()``
    stops startup with one line naming the key instead of failing every request."""
    policies = []
    for name in names:
        factory = BUILTIN_POLICIES.get(name)
        if factory is None:
            try:
                factory = config.maybe_dotted(name)
            except (ImportError, AttributeError, ValueError) as exc:
                raise SettingsError(
                    f"auth.policies: cannot import security policy {name!r} ({exc})"
                ) from None
        policy = factory() if callable(factory) else None
        if not all(callable(getattr(policy, method, None)) for method in POLICY_METHODS):
            raise SettingsError(
                f"auth.policies: {name!r} is not a security policy "
                f"(it needs {', '.join(POLICY_METHODS)})"
            )
        policies.append(policy)
    return PolicyChain(policies)


def includeme(config: Any) -> None:
    config.include("sessapp.settings")
    config.include("sessapp.clock")
    config.include("sessapp.models")
    config.include("sessapp.accounts")
    settings = config.registry.sessapp_settings
    config.set_security_policy(build_policy_chain(config, settings.auth.policies))
    config.set_root_factory(Root)
    config.set_default_permission(DEFAULT)
    config.include(".csrf")
    config.include(".bearer")
    config.include(".sudo")
    config.include(".half_signed_in")
