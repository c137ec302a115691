"""Every URL of the app, in one place."""

from typing import Any

from .static_files import add_static_files


def includeme(config: Any) -> None:
    # Pyramid's static view, with its files also answered from memory.
    add_static_files(config, "static", "sessapp:static/", cache_max_age=3600)
    config.add_route("home", "/")
    config.add_route("login", "/login")
    config.add_route("logout", "/logout")
    config.add_route("register", "/register")
    config.add_route("profile", "/profile")
    config.add_route("password", "/password")
    config.add_route("sessions", "/sessions")
    config.add_route("sessions_revoke_others", "/sessions/revoke-others")
    config.add_route("session_revoke", "/sessions/{public_id}/revoke")
    config.add_route("token_create", "/tokens")
    config.add_route("token_revoke", "/tokens/{token_id}/revoke")
    config.add_route("admin", "/admin")
    config.add_route("admin_revoke_everyone", "/admin/revoke-all-sessions")
    config.add_route("admin_user_action", "/admin/users/{user_id}/{action}")
    config.add_route("session_data", "/session-data")
    config.add_route("cookies", "/cookies")
    config.add_route("theme", "/preferences/theme")
    config.add_route("healthz", "/healthz")
    config.add_route("api_me", "/api/me")
    config.add_route("api_tokens", "/api/tokens")
    config.add_route("api_token", "/api/tokens/{token_id}")
