"""Who the request is and what it may do: the policy chain named by
``auth.policies``, the ACL root, passwords and CSRF.

Another Pyramid app can ``config.include("sessapp.security")`` (it brings
``sessapp.sessions`` with it) and guard its own views with the same policies.
"""

from __future__ import annotations

from typing import Any

from pyramid.exceptions import ConfigurationError

from . import throttle
from .acl import DEFAULT, Root
from .password_policy import PasswordPolicy
from .passwords import PasswordHasher
from .policies import BearerSecurityPolicy, PolicyChain, SessionSecurityPolicy

BUILTIN_POLICIES = {"session": SessionSecurityPolicy, "bearer": BearerSecurityPolicy}


def build_policy_chain(config: Any, names: tuple[str, ...]) -> PolicyChain:
    policies = []
    for name in names:
        factory = BUILTIN_POLICIES.get(name)
        if factory is None:
            try:
                factory = config.maybe_dotted(name)
            except (ImportError, AttributeError, ValueError) as exc:
                raise ConfigurationError(
                    f"auth.policies: cannot import security policy {name!r} ({exc})"
                ) from None
        policies.append(factory())
    return PolicyChain(policies)


def includeme(config: Any) -> None:
    config.include("sessapp.sessions")
    settings = config.registry.sessapp_settings
    config.registry.password_hasher = PasswordHasher(settings.auth.bcrypt_rounds)
    config.registry.password_policy = PasswordPolicy(settings.auth.password_min_length)
    config.registry.throttle_limits = throttle.limits(settings)
    config.set_security_policy(build_policy_chain(config, settings.auth.policies))
    config.set_root_factory(Root)
    config.set_default_permission(DEFAULT)
    config.include(".csrf")
