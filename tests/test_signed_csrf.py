"""Anonymous CSRF is OWASP's signed double-submit cookie, keyed by sessapp.secret."""

from __future__ import annotations

import base64

import pytest
from conftest import new_browser

from sessapp import keys
from sessapp.security.csrf import SignedCookieTokenPolicy

SECRET = "s" * 40
OTHER_SECRET = "o" * 40


def csrf_cookie(response) -> str | None:
    for header in response.headers.getall("Set-Cookie"):
        if header.startswith("csrf_token="):
            return header.split(";")[0].split("=", 1)[1]
    return None


def test_rfc_5869_test_case_1():
    derived = keys.hkdf_sha256(bytes.fromhex("0b" * 22),
                               bytes.fromhex("000102030405060708090a0b0c"),
                               bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42)
    assert derived.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                             "34007208d5b887185865")


def test_each_purpose_gets_its_own_key():
    secret = SECRET.encode()
    csrf = keys.derive_key(secret, keys.CSRF_COOKIE)
    assert csrf == keys.derive_key(secret, keys.CSRF_COOKIE)
    assert csrf != keys.derive_key(secret, "device cookie")
    assert csrf != keys.derive_key(OTHER_SECRET.encode(), keys.CSRF_COOKIE)
    assert secret not in csrf and len(csrf) == 32
    with pytest.raises(ValueError):
        keys.derive_key(b"", keys.CSRF_COOKIE)


def test_the_issued_cookie_is_a_random_token_and_its_hmac(make_harness):
    harness = make_harness(**{"sessapp.secret": SECRET})
    value = csrf_cookie(new_browser(harness).get("/login"))
    token, signature = value.split(".")
    key = keys.derive_key(SECRET.encode(), keys.CSRF_COOKIE)
    expected = base64.urlsafe_b64encode(keys.sign(key, token)).rstrip(b"=").decode()
    assert signature == expected
    assert len(base64.urlsafe_b64decode(token + "=")) == 32


@pytest.mark.parametrize("chosen", ["attacker-chosen", "x" * 43 + "." + "A" * 43, "a.b", "."])
def test_a_self_chosen_cookie_and_field_pair_is_refused(testapp, harness, chosen):
    testapp.set_cookie("csrf_token", chosen)
    response = testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": chosen},
                            status=400)
    assert harness.count("sessions") == 0
    # Treated as absent: a new, signed token replaces it.
    issued = csrf_cookie(response)
    assert issued and issued != chosen
    testapp.set_cookie("csrf_token", chosen)
    testapp.post("/login", {"username": "x", "password": "y", "csrf_token": chosen}, status=400)


def test_a_cookie_signed_under_another_secret_is_refused(make_harness):
    ours = make_harness(**{"sessapp.secret": SECRET})
    theirs = make_harness(**{"sessapp.secret": OTHER_SECRET})
    browser = new_browser(theirs)
    token = browser.csrf_token()
    elsewhere = new_browser(ours)
    elsewhere.set_cookie("csrf_token", token)
    elsewhere.post("/session-data", {"key": "k", "value": "v", "csrf_token": token}, status=400)
    assert ours.count("sessions") == 0


def test_processes_sharing_the_secret_accept_each_others_tokens(make_harness):
    first = make_harness(**{"sessapp.secret": SECRET})
    second = make_harness(**{"sessapp.secret": SECRET})
    token = new_browser(first).csrf_token()
    browser = new_browser(second)
    browser.set_cookie("csrf_token", token)
    browser.post("/session-data", {"key": "k", "value": "v", "csrf_token": token}, status=303)


def test_a_signed_cookie_with_another_field_is_refused(testapp, harness):
    token = testapp.csrf_token()
    other = new_browser(harness, "198.51.100.9").csrf_token()
    assert other != token
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": other}, status=400)
    testapp.post("/session-data", {"key": "k", "value": "v", "csrf_token": token}, status=303)


@pytest.mark.parametrize("value", ["", "no-dot", "a.", ".b", "é.é", "a." + "b" * 300])
def test_malformed_cookie_values_never_verify(value):
    policy = SignedCookieTokenPolicy(keys.derive_key(SECRET.encode(), keys.CSRF_COOKIE))
    assert not policy.is_signed(value)
