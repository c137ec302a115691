"""The passkey relying party from the settings: its origin, RP id and name,
and the mistakes refused at start-up."""

from __future__ import annotations

import pytest

from sessapp.settings import SettingsError, parse_settings


def test_by_default_the_relying_party_is_the_base_urls_host():
    settings = parse_settings({})
    assert settings.origin == "http://localhost:6543"
    assert settings.webauthn_rp_id == "localhost"
    assert settings.auth.webauthn_rp_name == "sessapp"


def test_the_origin_is_the_base_urls_scheme_host_and_port():
    settings = parse_settings({"sessapp.base_url": "https://App.example:8443/sub/"})
    assert settings.base_url == "https://App.example:8443/sub"
    assert settings.origin == "https://App.example:8443"
    assert settings.webauthn_rp_id == "app.example"


def test_a_parent_domain_may_be_the_rp_id():
    settings = parse_settings({"sessapp.base_url": "https://login.example.com",
                               "auth.webauthn.rp_id": "Example.com",
                               "auth.webauthn.rp_name": "Example"})
    assert settings.webauthn_rp_id == "example.com"
    assert settings.auth.webauthn_rp_name == "Example"


@pytest.mark.parametrize(("raw", "named"), [
    ({"sessapp.base_url": "ftp://app.example"}, "sessapp.base_url"),
    ({"sessapp.base_url": "app.example"}, "sessapp.base_url"),
    ({"sessapp.base_url": "https://app.example/?x=1"}, "sessapp.base_url"),
    ({"sessapp.base_url": "https://user:pw@app.example"}, "sessapp.base_url"),
    ({"sessapp.base_url": "https://app.example:port"}, "sessapp.base_url"),
    ({"auth.webauthn.rp_id": "localhost:6543"}, "auth.webauthn.rp_id"),
    ({"auth.webauthn.rp_id": "https://localhost"}, "auth.webauthn.rp_id"),
    ({"auth.webauthn.rp_id": ""}, "auth.webauthn.rp_id"),
    ({"auth.webauthn.rp_name": " "}, "auth.webauthn.rp_name"),
    # Not the host nor a domain it belongs to: every ceremony would fail.
    ({"sessapp.base_url": "https://app.example", "auth.webauthn.rp_id": "other.example"},
     "auth.webauthn.rp_id"),
    ({"sessapp.base_url": "https://badexample.com", "auth.webauthn.rp_id": "example.com"},
     "auth.webauthn.rp_id"),
])
def test_bad_relying_party_settings_are_startup_errors_naming_the_key(raw, named):
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        parse_settings(raw)
