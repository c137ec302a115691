"""Settings: typed, validated, and refused when unsafe for production."""

from __future__ import annotations

import logging

import pytest

from sessapp.settings import (
    SettingsError,
    apply_database_url,
    check_environment,
    parse_settings,
)

PRODUCTION = {
    "sessapp.environment": "production",
    "sqlalchemy.url": "postgresql+psycopg://db/sessapp",
    "session.cookie_name": "__Host-session",
    "session.secure": "true",
    "session.httponly": "true",
    "session.samesite": "Lax",
    "sessapp.csrf_cookie_name": "__Host-csrf_token",
    "sessapp.hsts": "true",
}


def test_defaults_are_typed():
    settings = parse_settings({})
    assert settings.session.cookie_name == "session"
    assert settings.session.idle_timeout == 1800
    assert settings.session.cookie.samesite == "Lax"
    assert settings.auth.policies == ("session", "bearer")
    assert settings.auth.bcrypt_rounds == 12


def test_values_are_parsed():
    settings = parse_settings({
        "session.idle_timeout": " 600 ",
        "session.samesite": "strict",
        "session.secure": "yes",
        "auth.policies": "bearer\nsession",
        "auth.throttle.max_failures": "3",
        "auth.throttle.ip_max_failures": "250",
        "sessapp.registration": "off",
    })
    assert settings.session.idle_timeout == 600
    assert settings.session.cookie.samesite == "Strict"
    assert settings.session.cookie.secure is True
    assert settings.auth.policies == ("bearer", "session")
    assert settings.auth.throttle_max_failures == 3
    assert settings.auth.throttle_ip_max_failures == 250
    assert settings.registration is False


@pytest.mark.parametrize(("key", "value", "named"), [
    ("session.idel_timeout", "5", "session.idel_timeout"),
    ("auth.bcrypt_round", "5", "auth.bcrypt_round"),
    ("sessapp.registraton", "true", "sessapp.registraton"),
    ("session.idle_timeout", "ten", "session.idle_timeout"),
    ("session.idle_timeout", "-5", "session.idle_timeout"),
    ("session.max_size", "0", "session.max_size"),
    ("session.samesite", "Sometimes", "session.samesite"),
    ("session.secure", "maybe", "session.secure"),
    ("auth.bcrypt_rounds", "40", "auth.bcrypt_rounds"),
    ("auth.password_min_length", "7", "auth.password_min_length"),
    ("auth.throttle.ip_max_failures", "0", "auth.throttle.ip_max_failures"),
    ("auth.throttle.ip_max_failures", "many", "auth.throttle.ip_max_failures"),
    ("auth.policies", "", "auth.policies"),
    ("auth.policies", "session session", "auth.policies"),
    ("sessapp.environment", "staging", "sessapp.environment"),
])
def test_bad_settings_are_startup_errors_naming_the_key(key, value, named):
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        parse_settings({key: value})


def test_other_prefixes_are_left_alone():
    parse_settings({"pyramid.reload_templates": "true", "retry.attempts": "3", "tm.x": "y"})


def test_inconsistent_timeouts_are_refused():
    with pytest.raises(SettingsError, match="idle_timeout"):
        parse_settings({"session.idle_timeout": "100", "session.absolute_timeout": "50"})
    with pytest.raises(SettingsError, match="touch_interval"):
        parse_settings({"session.idle_timeout": "100", "session.touch_interval": "100"})
    with pytest.raises(SettingsError, match="samesite"):
        parse_settings({"session.samesite": "None", "session.secure": "false"})


def test_environment_variable_overrides_the_database_url():
    raw = {"sqlalchemy.url": "sqlite:///x.sqlite"}
    apply_database_url(raw, {"SESSAPP_DATABASE_URL": "postgresql+psycopg://h/db"})
    assert raw["sqlalchemy.url"] == "postgresql+psycopg://h/db"
    apply_database_url(raw, {})
    assert raw["sqlalchemy.url"] == "postgresql+psycopg://h/db"
    with pytest.raises(SettingsError, match="SESSAPP_DATABASE_URL"):
        apply_database_url({}, {})


def test_secure_production_starts():
    check_environment(parse_settings(PRODUCTION), PRODUCTION)


@pytest.mark.parametrize(("change", "reason"), [
    ({"session.secure": "false"}, "session.secure"),
    ({"session.cookie_name": "session"}, "__Host-"),
    ({"sessapp.csrf_cookie_name": "csrf"}, "__Host-"),
    ({"session.domain": "example.com"}, "Domain"),
    ({"session.path": "/app"}, "Path"),
    ({"session.httponly": "false"}, "httponly"),
    ({"pyramid.reload_templates": "true"}, "reload_templates"),
    ({"pyramid.debug_authorization": "true"}, "debug_authorization"),
    ({"pyramid.includes": "pyramid_debugtoolbar"}, "debugtoolbar"),
    ({"sessapp.hsts": "false"}, "hsts"),
])
def test_insecure_production_is_refused(change, reason):
    raw = {**PRODUCTION, **change}
    with pytest.raises(SettingsError, match=reason):
        check_environment(parse_settings(raw), raw)


def test_development_only_warns(caplog):
    raw = {"sessapp.environment": "development", "session.secure": "false"}
    with caplog.at_level(logging.WARNING):
        check_environment(parse_settings(raw), raw)
    assert "session.secure" in caplog.text


def test_production_on_sqlite_warns_single_process(caplog):
    raw = {**PRODUCTION, "sqlalchemy.url": "sqlite:///prod.sqlite"}
    with caplog.at_level(logging.WARNING):
        check_environment(parse_settings(raw), raw)
    assert "single process" in caplog.text
