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
    "sessapp.base_url": "https://app.example",
    "mail.host": "smtp.example",
    "mail.sender": "sessapp <noreply@app.example>",
}
SECRET = "a-production-secret-of-at-least-32-bytes"
PRODUCTION_ENV = {"SESSAPP_SECRET": SECRET}


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
    check_environment(parse_settings(PRODUCTION, PRODUCTION_ENV), PRODUCTION)


def test_the_secret_comes_from_the_environment_first():
    settings = parse_settings({"sessapp.secret": "i" * 32}, PRODUCTION_ENV)
    assert settings.secret.value == SECRET.encode()
    assert settings.secret.source == "environment"
    from_ini = parse_settings({"sessapp.secret": "i" * 32}, {})
    assert (from_ini.secret.value, from_ini.secret.source) == (b"i" * 32, "settings")
    assert SECRET not in repr(settings) and "iiii" not in repr(from_ini)


def test_without_a_secret_development_signs_with_one_random_key_per_process():
    first, second = parse_settings({}, {}), parse_settings({}, {})
    assert first.secret.source == "generated"
    assert first.secret.value == second.secret.value
    assert len(first.secret.value) >= 32


@pytest.mark.parametrize(("raw", "environ", "named"), [
    ({"sessapp.secret": "short"}, {}, "sessapp.secret"),
    ({}, {"SESSAPP_SECRET": "x" * 31}, "SESSAPP_SECRET"),
    # Bytes, not characters: 16 two-byte characters are 32 bytes, 15 are not.
    ({}, {"SESSAPP_SECRET": "é" * 15}, "SESSAPP_SECRET"),
])
def test_a_short_secret_is_a_startup_error_that_does_not_echo_it(raw, environ, named):
    with pytest.raises(SettingsError, match=named) as raised:
        parse_settings(raw, environ)
    assert "xxxx" not in str(raised.value) and "short" not in str(raised.value)
    assert "32 bytes" in str(raised.value)
    parse_settings({}, {"SESSAPP_SECRET": "é" * 16})


@pytest.mark.parametrize(("raw", "environ"), [
    (PRODUCTION, {}),
    ({**PRODUCTION, "sessapp.secret": SECRET}, {}),
])
def test_production_refuses_a_secret_not_from_the_environment(raw, environ):
    with pytest.raises(SettingsError, match="SESSAPP_SECRET"):
        check_environment(parse_settings(raw, environ), raw)


def test_development_warns_that_a_generated_secret_changes_per_restart(caplog):
    raw = {"sessapp.environment": "development"}
    with caplog.at_level(logging.WARNING):
        check_environment(parse_settings(raw, {}), raw)
    assert "SESSAPP_SECRET is not set" in caplog.text
    assert "restart" in caplog.text


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
        check_environment(parse_settings(raw, PRODUCTION_ENV), raw)


def test_development_only_warns(caplog):
    raw = {"sessapp.environment": "development", "session.secure": "false"}
    with caplog.at_level(logging.WARNING):
        check_environment(parse_settings(raw), raw)
    assert "session.secure" in caplog.text


def test_production_on_sqlite_warns_single_process(caplog):
    raw = {**PRODUCTION, "sqlalchemy.url": "sqlite:///prod.sqlite"}
    with caplog.at_level(logging.WARNING):
        check_environment(parse_settings(raw, PRODUCTION_ENV), raw)
    assert "single process" in caplog.text
