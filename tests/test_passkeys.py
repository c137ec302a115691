"""Passkeys over HTTP: registration, passwordless sign-in, removal, and every
refusal (origin, RP id, challenge reused or expired, counter gone back,
someone else's passkey, malformed JSON), with real attestations and
assertions from a software authenticator (tests/soft_authenticator.py) and
the real py_webauthn checks on the server."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Browser, new_browser, signed_in_as, who_is_signed_in
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from soft_authenticator import SoftAuthenticator, b64url, unb64url

from sessapp.accounts.webauthn_ceremony import CHALLENGE_LIFETIME


@pytest.fixture
def alice(harness: Any) -> int:
    return harness.make_user("alice")


@pytest.fixture
def signed_in(testapp: Browser, alice: int) -> Browser:
    testapp.login()
    return testapp


@pytest.fixture
def authenticator(harness: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=harness.registry.sessapp_settings.origin)


def csrf(browser: Browser) -> dict[str, str]:
    """The CSRF header for this browser: from /mfa when signed in (the page a
    user who must enrol may see too), else from /login."""
    page = browser.get("/mfa", status="*")
    path = "/mfa" if page.status_int == 200 else "/login"
    return {"X-CSRF-Token": browser.csrf_token(path)}


def registration_options(browser: Browser, status: int = 200) -> Any:
    return browser.post_json("/mfa/passkeys/options", {}, headers=csrf(browser), status=status)


def add_passkey(browser: Browser, credential: Any, name: Any = "Laptop", *,
                status: int = 201) -> Any:
    return browser.post_json("/mfa/passkeys", {"name": name, "credential": credential},
                             headers=csrf(browser), status=status)


def register(browser: Browser, authenticator: SoftAuthenticator, name: str = "Laptop") -> Any:
    options = registration_options(browser).json
    return add_passkey(browser, authenticator.create(options), name).json


def sign_in_options(browser: Browser) -> dict[str, Any]:
    return browser.post_json("/login/passkey/options", {}, headers=csrf(browser)).json


def passkey_sign_in(browser: Browser, assertion: Any, *, status: int = 200,
                    query: str = "") -> Any:
    return browser.post_json("/login/passkey" + query, assertion, headers=csrf(browser),
                             status=status)


def stored_passkeys(harness: Any) -> int:
    return harness.count("passkeys")


def events(harness: Any, name: str) -> int:
    return harness.count("auth_events", "event = :e", e=name)


# -- registration ---------------------------------------------------------------------


def test_registration_options_are_level_3_json_for_this_site(signed_in, harness):
    options = registration_options(signed_in).json
    assert options["rp"] == {"id": "localhost", "name": "sessapp"}
    assert options["user"]["name"] == "alice"
    assert len(unb64url(options["challenge"])) == 32
    assert len(unb64url(options["user"]["id"])) == 32
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["excludeCredentials"] == []


def test_a_passkey_is_added_named_and_audited(signed_in, harness, authenticator):
    created = register(signed_in, authenticator, "Work laptop")
    assert created["name"] == "Work laptop"
    assert created["last_used_at"] is None
    assert stored_passkeys(harness) == 1
    assert events(harness, "passkey_added") == 1


def test_several_passkeys_and_the_existing_ones_are_excluded(signed_in, harness,
                                                             authenticator):
    register(signed_in, authenticator, "Laptop")
    assert harness.count("users", "passkey_count = 1") == 1
    other = SoftAuthenticator(origin=authenticator.origin)
    options = registration_options(signed_in).json
    assert [unb64url(item["id"]) for item in options["excludeCredentials"]] == list(
        authenticator.credentials)
    add_passkey(signed_in, other.create(options), "Phone")
    assert stored_passkeys(harness) == 2
    assert harness.count("users", "passkey_count = 2") == 1
    # One user, one handle: every passkey of alice names the same account.
    handles = {c.user_handle for c in [*authenticator.credentials.values(),
                                       *other.credentials.values()]}
    assert len(handles) == 1


def test_registration_needs_signing_in(testapp, alice):
    response = testapp.post_json("/mfa/passkeys/options", {}, headers=csrf(testapp),
                                 status="*")
    assert response.status_int in (303, 401, 403)
    assert "challenge" not in response.text


def test_registration_needs_a_csrf_token(signed_in, harness, authenticator):
    signed_in.post_json("/mfa/passkeys/options", {}, status=400)
    options = registration_options(signed_in).json
    signed_in.post_json("/mfa/passkeys", {"name": "x", "credential":
                                          authenticator.create(options)}, status=400)
    assert stored_passkeys(harness) == 0


def test_registration_from_another_origin_is_refused(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    response = add_passkey(signed_in, authenticator.create(options, origin="https://evil.example"),
                           status=400)
    assert "error" in response.json
    assert stored_passkeys(harness) == 0


def test_registration_for_another_rp_id_is_refused(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    add_passkey(signed_in, authenticator.create(options, rp_id="evil.example"), status=400)
    assert stored_passkeys(harness) == 0


def test_a_registration_challenge_is_used_once(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    add_passkey(signed_in, authenticator.create(options))
    again = SoftAuthenticator(origin=authenticator.origin)
    add_passkey(signed_in, again.create(options), "Again", status=400)
    assert stored_passkeys(harness) == 1


def test_a_failed_registration_uses_the_challenge_up_too(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    add_passkey(signed_in, authenticator.create(options, origin="https://evil.example"),
                status=400)
    add_passkey(signed_in, authenticator.create(options), status=400)
    assert stored_passkeys(harness) == 0


def test_an_expired_registration_challenge_is_refused(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    harness.clock.advance(CHALLENGE_LIFETIME.total_seconds())
    add_passkey(signed_in, authenticator.create(options), status=400)
    assert stored_passkeys(harness) == 0


def test_a_challenge_just_before_expiry_is_accepted(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    harness.clock.advance(CHALLENGE_LIFETIME.total_seconds() - 1)
    add_passkey(signed_in, authenticator.create(options))


def test_a_challenge_issued_to_another_browser_is_not_this_ones(harness, alice,
                                                                authenticator):
    first, second = new_browser(harness), new_browser(harness)
    first.login()
    second.login()
    options = registration_options(first).json
    add_passkey(second, authenticator.create(options), status=400)
    assert stored_passkeys(harness) == 0


@pytest.mark.parametrize("body", [
    '{"name": "x", "credential": ',
    "[1, 2]",
    '"text"',
    '{"name": "x"}',
    '{"name": "x", "credential": "not an object"}',
    '{"name": "x", "credential": {"id": "AA", "rawId": "AA", "type": "public-key"}}',
    '{"name": "x", "credential": {"id": "!!", "rawId": "!!", "type": "public-key",'
    ' "response": {"clientDataJSON": "!!", "attestationObject": "%%"}}}',
])
def test_malformed_registration_json_is_400(signed_in, harness, body):
    registration_options(signed_in)
    response = signed_in.post("/mfa/passkeys", body, headers={
        **csrf(signed_in), "Content-Type": "application/json"}, status=400)
    assert response.json["error"]
    assert stored_passkeys(harness) == 0


def test_a_garbled_attestation_object_is_400(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    credential = authenticator.create(options)
    credential["response"]["attestationObject"] = b64url(b"\xa1\x63fmt")
    add_passkey(signed_in, credential, status=400)
    assert stored_passkeys(harness) == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there", None, 7])
def test_a_bad_name_is_422_and_nothing_is_stored(signed_in, harness, authenticator, name):
    options = registration_options(signed_in).json
    response = add_passkey(signed_in, authenticator.create(options), name, status=422)
    assert response.json["error"]
    assert stored_passkeys(harness) == 0


def test_the_same_credential_cannot_be_added_twice(signed_in, harness, authenticator):
    options = registration_options(signed_in).json
    credential = authenticator.create(options)
    add_passkey(signed_in, credential)
    registration_options(signed_in)
    # A replay of the same attestation against a fresh challenge fails on the
    # challenge before anything else; the check on the id is for two users.
    add_passkey(signed_in, credential, status=400)
    assert stored_passkeys(harness) == 1


# -- removal ---------------------------------------------------------------------------


def test_removing_ones_own_passkey(signed_in, harness, authenticator):
    created = register(signed_in, authenticator)
    signed_in.post(f"/mfa/passkeys/{created['id']}/delete", {"csrf_token":
                   signed_in.csrf_token("/profile")}, status=303)
    assert stored_passkeys(harness) == 0
    assert harness.count("users", "passkey_count = 0") == 1
    assert events(harness, "passkey_removed") == 1


def test_someone_elses_passkey_is_404_and_stays(harness, authenticator):
    harness.make_user("alice")
    harness.make_user("bob")
    alice_browser, bob_browser = new_browser(harness), new_browser(harness)
    alice_browser.login("alice")
    bob_browser.login("bob")
    created = register(alice_browser, authenticator)
    token = bob_browser.csrf_token("/profile")
    bob_browser.post(f"/mfa/passkeys/{created['id']}/delete", {"csrf_token": token}, status=404)
    bob_browser.post_json(f"/mfa/passkeys/{created['id']}/delete", {},
                          headers={"X-CSRF-Token": token}, status=404)
    assert stored_passkeys(harness) == 1
    assert events(harness, "passkey_removed") == 0


@pytest.mark.parametrize("passkey_id", ["abc", "0", "99999999999999", "-1"])
def test_a_passkey_id_that_names_nothing_is_404(signed_in, passkey_id):
    signed_in.post(f"/mfa/passkeys/{passkey_id}/delete",
                   {"csrf_token": signed_in.csrf_token("/profile")}, status=404)


# -- passwordless sign-in ------------------------------------------------------------


@pytest.fixture
def registered(signed_in, authenticator) -> SoftAuthenticator:
    register(signed_in, authenticator)
    signed_in.logout()
    return authenticator


def test_sign_in_options_ask_for_a_discoverable_verified_credential(testapp):
    options = sign_in_options(testapp)
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "required"
    assert options["allowCredentials"] == []
    assert len(unb64url(options["challenge"])) == 32


def test_signing_in_with_a_passkey_alone(harness, registered):
    browser = new_browser(harness)
    options = sign_in_options(browser)
    anonymous_token = browser.session_token
    response = passkey_sign_in(browser, registered.get(options), query="?next=/sessions")
    assert response.json == {"username": "alice", "location": "/sessions"}
    assert who_is_signed_in(browser) == "alice"
    assert browser.session_token != anonymous_token
    assert events(harness, "login_success") == 2  # the password, then the passkey
    assert harness.count("passkeys", "last_used_at IS NOT NULL") == 1


def test_an_unsafe_next_is_not_followed(harness, registered):
    browser = new_browser(harness)
    response = passkey_sign_in(browser, registered.get(sign_in_options(browser)),
                               query="?next=https://evil.example/")
    assert response.json["location"] == "/profile"


def test_the_new_session_is_a_full_one(harness, registered):
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser)))
    assert signed_in_as(browser) == "alice"
    browser.logout()
    assert who_is_signed_in(browser) is None


def test_passwordless_sign_in_needs_user_verification(harness, registered):
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser), uv=False), status=400)
    assert who_is_signed_in(browser) is None


def test_a_sign_in_answer_is_used_once(harness, registered):
    browser = new_browser(harness)
    assertion = registered.get(sign_in_options(browser))
    passkey_sign_in(browser, assertion)
    browser.logout()
    passkey_sign_in(browser, assertion, status=400)
    assert who_is_signed_in(browser) is None


def test_a_sign_in_answer_cannot_be_sent_again_from_another_browser(harness, registered):
    browser, thief = new_browser(harness), new_browser(harness)
    assertion = registered.get(sign_in_options(browser))
    sign_in_options(thief)
    passkey_sign_in(thief, assertion, status=400)
    assert who_is_signed_in(thief) is None


def test_an_expired_sign_in_challenge_is_refused(harness, registered):
    browser = new_browser(harness)
    options = sign_in_options(browser)
    harness.clock.advance(CHALLENGE_LIFETIME.total_seconds())
    passkey_sign_in(browser, registered.get(options), status=400)
    assert who_is_signed_in(browser) is None


def test_a_sign_in_from_another_origin_is_refused(harness, registered):
    browser = new_browser(harness)
    options = sign_in_options(browser)
    passkey_sign_in(browser, registered.get(options, origin="https://evil.example"),
                    status=400)
    assert who_is_signed_in(browser) is None


def test_a_sign_in_for_another_rp_id_is_refused(harness, registered):
    browser = new_browser(harness)
    options = sign_in_options(browser)
    passkey_sign_in(browser, registered.get(options, rp_id="evil.example"), status=400)
    assert who_is_signed_in(browser) is None


def test_a_bad_signature_is_refused(harness, registered):
    browser = new_browser(harness)
    assertion = registered.get(sign_in_options(browser))
    signature = bytearray(unb64url(assertion["response"]["signature"]))
    signature[-1] ^= 1
    assertion["response"]["signature"] = b64url(bytes(signature))
    passkey_sign_in(browser, assertion, status=400)
    assert who_is_signed_in(browser) is None


def test_a_key_that_is_not_the_registered_one_is_refused(harness, registered):
    """An authenticator claiming the credential id with another key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    credential = next(iter(registered.credentials.values()))
    credential.key = ec.generate_private_key(ec.SECP256R1())
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser)), status=400)
    assert who_is_signed_in(browser) is None


def test_an_unknown_passkey_is_refused(harness, registered):
    stranger = SoftAuthenticator(origin=registered.origin)
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": b64url(b"u" * 32)},
                     "challenge": b64url(b"c" * 32)})
    browser = new_browser(harness)
    passkey_sign_in(browser, stranger.get(sign_in_options(browser)), status=400)
    assert who_is_signed_in(browser) is None


def test_a_passkey_answer_naming_another_account_is_refused(harness, registered):
    browser = new_browser(harness)
    assertion = registered.get(sign_in_options(browser))
    assertion["response"]["userHandle"] = b64url(b"x" * 32)
    passkey_sign_in(browser, assertion, status=400)
    assert who_is_signed_in(browser) is None


def test_a_disabled_account_cannot_sign_in_with_a_passkey(harness, registered):
    from sqlalchemy import text

    with harness.engine.begin() as connection:
        connection.execute(text("UPDATE users SET disabled = :t"), {"t": True})
    browser = new_browser(harness)
    response = passkey_sign_in(browser, registered.get(sign_in_options(browser)), status=400)
    assert response.json["error"]
    assert who_is_signed_in(browser) is None


def test_a_registration_challenge_does_not_sign_anyone_in(harness, signed_in, authenticator):
    register(signed_in, authenticator)
    options = registration_options(signed_in).json
    signed_in.logout()
    passkey_sign_in(signed_in, authenticator.get({**options, "rpId": "localhost"}),
                    status=400)
    assert who_is_signed_in(signed_in) is None


@pytest.mark.parametrize("body", ["{", "[]", '"x"', "{}", '{"rawId": 5}',
                                  '{"id": "AA", "rawId": "AA"}',
                                  '{"id": "%%", "rawId": "%%", "response": {}}'])
def test_malformed_sign_in_json_is_400(harness, registered, body):
    browser = new_browser(harness)
    sign_in_options(browser)
    browser.post("/login/passkey", body, headers={**csrf(browser),
                 "Content-Type": "application/json"}, status=400)
    assert who_is_signed_in(browser) is None


def test_a_garbled_authenticator_data_is_400(harness, registered):
    browser = new_browser(harness)
    assertion = registered.get(sign_in_options(browser))
    assertion["response"]["authenticatorData"] = b64url(b"short")
    passkey_sign_in(browser, assertion, status=400)


# -- the signature counter -----------------------------------------------------------


def test_a_counter_that_goes_backwards_is_refused_and_audited(harness, registered):
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser), counter=5))
    browser.logout()
    passkey_sign_in(browser, registered.get(sign_in_options(browser), counter=3), status=400)
    assert who_is_signed_in(browser) is None
    assert events(harness, "passkey_counter_regressed") == 1
    assert harness.count("passkeys", "sign_count = 5") == 1


def test_a_counter_that_stands_still_is_refused(harness, registered):
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser), counter=5))
    browser.logout()
    passkey_sign_in(browser, registered.get(sign_in_options(browser), counter=5), status=400)
    assert events(harness, "passkey_counter_regressed") == 1


def test_a_counter_that_falls_to_zero_is_refused(harness, registered):
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser), counter=2))
    browser.logout()
    passkey_sign_in(browser, registered.get(sign_in_options(browser), counter=0), status=400)


def test_a_passkey_without_a_counter_signs_in_again_and_again(harness, registered):
    registered.counts = False
    browser = new_browser(harness)
    for _ in range(3):
        passkey_sign_in(browser, registered.get(sign_in_options(browser)))
        browser.logout()
    assert harness.count("passkeys", "sign_count = 0") == 1


def test_a_counter_moving_forward_is_stored(harness, registered):
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser), counter=4_000_000_000))
    assert harness.count("passkeys", "sign_count = 4000000000") == 1


# -- hostile answers ------------------------------------------------------------------

HOSTILE = settings(max_examples=30, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=60)
    | st.binary(max_size=80).map(b64url),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=20), children, max_size=3),
    max_leaves=8,
)
REGISTRATION_FIELDS = ["id", "rawId", "type", "response", "response.clientDataJSON",
                       "response.attestationObject", "response.transports",
                       "authenticatorAttachment"]
ASSERTION_FIELDS = ["id", "rawId", "type", "response", "response.clientDataJSON",
                    "response.authenticatorData", "response.signature",
                    "response.userHandle"]


def bent(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    document = {**document, "response": dict(document["response"])}
    *parents, leaf = path.split(".")
    target = document
    for part in parents:
        target = target[part]
    target[leaf] = value
    return document


@HOSTILE
@given(path=st.sampled_from(REGISTRATION_FIELDS), value=json_values)
def test_a_bent_attestation_is_a_clean_400_and_stores_nothing(signed_in, harness, path, value):
    authenticator = SoftAuthenticator(origin=harness.registry.sessapp_settings.origin)
    options = registration_options(signed_in).json
    credential = bent(authenticator.create(options), path, value)
    response = add_passkey(signed_in, credential, status="*")
    assert response.status_int in (201, 400), response.text
    if response.status_int == 201:  # only a field the checks do not read was bent
        assert path in ("authenticatorAttachment", "response.transports")
        signed_in.post(f"/mfa/passkeys/{response.json['id']}/delete",
                       {"csrf_token": signed_in.csrf_token("/profile")}, status=303)
    assert stored_passkeys(harness) == 0


@HOSTILE
@given(path=st.sampled_from(ASSERTION_FIELDS), value=json_values)
def test_a_bent_assertion_is_a_clean_400(harness, registered, path, value):
    browser = new_browser(harness)
    assertion = bent(registered.get(sign_in_options(browser)), path, value)
    response = passkey_sign_in(browser, assertion, status="*")
    assert response.status_int == 400, response.text
    assert who_is_signed_in(browser) is None


def test_a_sign_in_answer_without_a_user_handle_is_refused(harness, registered):
    """A discoverable credential names its account; one that does not was not
    made for signing in without a username."""
    browser = new_browser(harness)
    passkey_sign_in(browser, registered.get(sign_in_options(browser), user_handle=False),
                    status=400)
    assert who_is_signed_in(browser) is None


# -- the guards one by one, without HTTP ----------------------------------------------


def request_on(harness: Any, dbsession: Any = None) -> Any:
    """A real Pyramid request on the app's registry, with a plain dict for a
    session (what the ceremony reads and writes)."""
    from pyramid.request import Request

    request = Request.blank("/", environ={"REMOTE_ADDR": "192.0.2.1"})
    request.registry = harness.registry
    request.session = {}
    request.dbsession = dbsession
    return request


def test_a_challenge_is_only_for_the_user_it_was_issued_to(harness):
    from sessapp.accounts import webauthn_ceremony as ceremony

    request = request_on(harness)
    ceremony.request_options(request, "sudo", user_id=1, allowed=[], user_verification=False)
    with pytest.raises(ceremony.CeremonyFailed):
        ceremony.take_challenge(request, "sudo", 2)
    # ... and it is gone, used up by the refused attempt.
    with pytest.raises(ceremony.CeremonyFailed):
        ceremony.take_challenge(request, "sudo", 1)


def test_a_challenge_is_only_for_its_purpose(harness):
    from sessapp.accounts import webauthn_ceremony as ceremony

    request = request_on(harness)
    options = ceremony.request_options(request, "sign_in", user_id=None, allowed=[],
                                       user_verification=True)
    with pytest.raises(ceremony.CeremonyFailed):
        ceremony.take_challenge(request, "second_factor", None)
    assert ceremony.take_challenge(request, "sign_in", None).challenge == unb64url(
        options["challenge"])


def test_of_two_answers_racing_with_one_count_the_second_is_refused(harness, registered):
    """Two processes loaded the passkey at count 5; the faster stored 6. The
    slower, also at 6, passes the check on what it loaded, and must then match
    no row in its conditional UPDATE."""
    from sqlalchemy import select, update

    from sessapp.accounts import passkeys
    from sessapp.accounts.webauthn_ceremony import CeremonyFailed
    from sessapp.models import Passkey, User

    with harness.transaction() as dbsession:
        dbsession.execute(update(Passkey).values(sign_count=6))
    with harness.transaction() as dbsession:
        stale = dbsession.scalars(select(Passkey)).one()
        user = dbsession.scalars(select(User)).one()
        dbsession.expunge(stale)
        stale.sign_count = 5  # what the slower process had loaded
        with pytest.raises(CeremonyFailed):
            passkeys._record_use(request_on(harness, dbsession), user, stale, 6)
    assert harness.count("passkeys", "sign_count = 6 AND last_used_at IS NULL") == 1


@pytest.mark.parametrize("transports", [True, 7, "internal", {"a": 1}, [None, 3, "usb", "usb"]])
def test_odd_transports_are_ignored_not_a_crash(signed_in, harness, authenticator, transports):
    options = registration_options(signed_in).json
    credential = authenticator.create(options)
    credential["response"]["transports"] = transports
    add_passkey(signed_in, credential)
    expected = "usb" if isinstance(transports, list) else ""
    assert harness.count("passkeys", "transports = :t", t=expected) == 1
