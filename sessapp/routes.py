"""Every URL of the app, in one place."""

from typing import Any

from .accounts import one_time_links


def includeme(config: Any) -> None:
    config.add_static_view("static", "sessapp:static/", cache_max_age=3600)
    config.add_route("home", "/")
    config.add_route("login", "/login")
    config.add_route("login_mfa", "/login/mfa")
    config.add_route("logout", "/logout")
    config.add_route("sudo", "/sudo")
    config.add_route("mfa", "/mfa")
    config.add_route("mfa_totp", "/mfa/totp")
    config.add_route("mfa_totp_disable", "/mfa/totp/disable")
    config.add_route("mfa_recovery_codes", "/mfa/recovery-codes")
    config.add_route("register", "/register")
    config.add_route("profile", "/profile")
    config.add_route("password", "/password")
    config.add_route("password_forgot", "/password/forgot")
    config.add_route("password_reset", one_time_links.PATHS[one_time_links.RESET])
    config.add_route("email", "/email")
    config.add_route("email_verify", one_time_links.PATHS[one_time_links.VERIFY])
    config.add_route("email_undo", one_time_links.PATHS[one_time_links.UNDO_EMAIL])
    config.add_route("session_end", one_time_links.PATHS[one_time_links.END_SESSION])
    config.add_route("sessions", "/sessions")
    config.add_route("sessions_revoke_others", "/sessions/revoke-others")
    config.add_route("session_revoke", "/sessions/{public_id}/revoke")
    config.add_route("token_create", "/tokens")
    config.add_route("token_revoke", "/tokens/{token_id}/revoke")
    config.add_route("admin", "/admin")
    config.add_route("admin_revoke_everyone", "/admin/revoke-all-sessions")
    config.add_route("admin_revoke_everyone_confirm", "/admin/revoke-all-sessions/confirm")
    config.add_route("admin_user_action", "/admin/users/{user_id}/{action}")
    config.add_route("admin_user_confirm", "/admin/users/{user_id}/{action}/confirm")
    config.add_route("session_data", "/session-data")
    config.add_route("cookies", "/cookies")
    config.add_route("theme", "/preferences/theme")
    config.add_route("healthz", "/healthz")
    config.add_route("api_me", "/api/me")
    config.add_route("api_tokens", "/api/tokens")
    config.add_route("api_token", "/api/tokens/{token_id}")
