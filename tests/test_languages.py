"""Pages in the reader's language: the ``language`` cookie, else
``Accept-Language``, else English; ``<html lang>`` saying which; the picker's
route; and the words themselves (messages from Python, plurals, dates)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, new_browser
from mfa_helpers import code_step, enrol, password_step
from pyramid.i18n import make_localizer
from pyramid.testing import DummyRequest

from sessapp.accounts import throttle, webauthn_ceremony
from sessapp.accounts.errors import FormErrors, form_errors
from sessapp.accounts.users import check_new_account
from sessapp.i18n import LANGUAGES, english, language_from_header, negotiate_language, ngettext
from sessapp.templating import ago

LOCALE_DIR = str(Path(__file__).resolve().parent.parent / "sessapp" / "locale")


def german(harness, ip="192.0.2.10"):
    browser = new_browser(harness, ip)
    browser.set_cookie("language", "de")
    return browser


def page_language(response) -> str:
    return response.html.find("html")["lang"]


# -- negotiation ------------------------------------------------------------------


def _request(cookie=None, header=None):
    request = DummyRequest()
    if cookie is not None:
        request.cookies["language"] = cookie
    if header is not None:
        request.headers["Accept-Language"] = header
    return request


def test_without_cookie_or_header_pages_are_english():
    assert negotiate_language(_request()) == "en"


def test_the_cookie_beats_accept_language():
    assert negotiate_language(_request(cookie="en", header="de")) == "en"
    assert negotiate_language(_request(cookie="de", header="en")) == "de"


def test_a_cookie_naming_no_supported_language_is_ignored():
    assert negotiate_language(_request(cookie="xx", header="de")) == "de"
    assert negotiate_language(_request(cookie="../../etc", header=None)) == "en"


@pytest.mark.parametrize(("header", "expected"), [
    ("de", "de"),
    ("de-AT", "de"),
    ("DE-de", "de"),
    ("fr, de;q=0.3", "de"),                 # fr unsupported: the next choice
    ("en-US,en;q=0.9,de;q=0.8", "en"),
    ("de;q=0.5, en;q=0.9", "en"),           # q-values, not order, decide
    ("en;q=0.1, de;q=0.2", "de"),
    ("de;q=0, *", "en"),                    # q=0 rules German out
    ("fr", "en"),                           # nothing supported: English
    ("*", "en"),
    ("not a language;;q=x", "en"),          # malformed: English, no error
    ("", "en"),
])
def test_accept_language_picks_the_preferred_supported_language(header, expected):
    assert language_from_header(header) == expected
    assert negotiate_language(_request(header=header)) == expected


def test_only_the_first_kilobyte_of_a_header_counts():
    filler = ", ".join(["fr;q=0.9"] * 200)
    assert language_from_header("de;q=0.5, " + filler) == "de"
    assert language_from_header(filler + ", de;q=0.5") == "en"


def test_a_very_long_header_is_judged_without_being_remembered():
    header = ", ".join(f"q{chr(97 + i % 26)}{chr(97 + i // 26)};q=0.{i % 9 + 1}"
                       for i in range(80)) + ", de;q=0.05"
    assert language_from_header(header) == "de"


# -- the route ----------------------------------------------------------------------


def _choose(browser, language, *, next_path="/login", status=303, **headers):
    token = browser.csrf_token("/login")
    return browser.post("/preferences/language",
                        {"language": language, "next": next_path, "csrf_token": token},
                        headers=headers, status=status)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_choosing_a_language_sets_the_cookie_and_returns_to_the_page(testapp, language):
    response = _choose(testapp, language, next_path="/login?next=%2Fprofile")
    assert response.location.endswith("/login?next=%2Fprofile")
    assert testapp.cookies["language"] == language
    assert page_language(testapp.get("/login")) == language


def test_english_and_german_at_least_are_supported():
    assert {"en", "de"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", ["fr", "", "DE", "de-DE", "english", "de\nx", "x" * 30])
def test_an_unsupported_language_is_422_and_sets_nothing(testapp, language):
    response = _choose(testapp, language, status=422)
    assert "language" in response.json["error"]
    assert "language=" not in response.headers.get("Set-Cookie", "")


def test_a_missing_language_field_is_422(testapp):
    token = testapp.csrf_token("/login")
    testapp.post("/preferences/language", {"csrf_token": token}, status=422)


def test_choosing_a_language_needs_a_csrf_token(testapp):
    response = testapp.post("/preferences/language", {"language": "de"}, status=400)
    assert "language=" not in response.headers.get("Set-Cookie", "")


def test_an_unsafe_next_returns_home_instead(testapp):
    response = _choose(testapp, "de", next_path="//evil.example/")
    assert response.location.endswith("/") and "evil" not in response.location


def _language_cookie(response) -> str:
    headers = [value for name, value in response.headerlist
               if name == "Set-Cookie" and value.startswith("language=")]
    assert len(headers) == 1, headers
    return headers[0]


def test_the_cookie_has_the_development_flags(testapp):
    cookie = _language_cookie(_choose(testapp, "de"))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/", "max-age=31536000"} <= attributes
    assert "secure" not in attributes


def test_the_cookie_has_the_production_flags(make_harness):
    app = make_harness(**{"session.secure": "true", "session.samesite": "Strict"})
    browser = new_browser(app)
    browser.extra_environ["wsgi.url_scheme"] = "https"
    cookie = _language_cookie(_choose(browser, "de", Referer="https://localhost/login"))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=strict"} <= attributes


# -- every page says its language ---------------------------------------------------

ANONYMOUS_PAGES = ["/", "/login", "/register", "/logout", "/no-such-page"]
SIGNED_IN_PAGES = ["/", "/profile", "/sessions", "/password", "/admin", "/no-such-page"]


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_anonymous_pages_in_german_say_lang_de(harness, path):
    browser = german(harness)
    response = browser.get(path, status="*")
    assert response.content_type == "text/html"
    assert page_language(response) == "de"
    assert page_language(new_browser(harness).get(path, status="*")) == "en"


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages_in_german_say_lang_de(harness, path):
    harness.make_user("root", admin=True)
    browser = german(harness)
    browser.login("root")
    response = browser.get(path, status="*")
    assert response.status_int in (200, 404)
    assert page_language(response) == "de"


def test_accept_language_alone_gives_a_german_page(harness):
    browser = new_browser(harness)
    response = browser.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert page_language(response) == "de"
    assert response.html.find("h1").get_text(strip=True) == "Anmelden"


def test_the_forbidden_and_bad_csrf_pages_are_german(harness):
    harness.make_user("bob")
    browser = german(harness)
    browser.login("bob")
    forbidden = browser.get("/admin", status=403)
    assert page_language(forbidden) == "de"
    assert forbidden.html.find("h1").get_text(strip=True) == "Kein Zugriff"
    stale = browser.post("/password", {"csrf_token": "stale"}, status=400)
    assert page_language(stale) == "de"
    assert "Das Formular war veraltet" in stale.text


def test_the_picker_is_a_labelled_form_with_each_language(harness):
    page = german(harness).get("/login")
    form = page.html.find("form", {"action": "/preferences/language"})
    assert form is not None and form["method"] == "post"
    assert form.find("input", {"name": "csrf_token"})["value"]
    assert form.find("input", {"name": "next"})["value"] == "/login"
    select = form.find("select", {"name": "language"})
    label = form.find("label", {"for": select["id"]})
    assert label.get_text(strip=True) == "Sprache"
    options = {option["value"]: option for option in select.find_all("option")}
    assert set(options) == set(LANGUAGES)
    assert options["de"].has_attr("selected") and not options["en"].has_attr("selected")
    assert options["de"]["lang"] == "de"
    assert form.find("button", {"type": "submit"}).get_text(strip=True) == "Sprache wechseln"


# -- the words ------------------------------------------------------------------------


def test_a_refusal_from_a_use_case_is_shown_in_german(harness):
    harness.make_user("bob")
    browser = german(harness)
    response = browser.login("bob", "wrong password entirely", status=422)
    assert "Benutzername und Passwort passen zu keinem aktiven Konto." in response.text


def test_json_errors_stay_english_whatever_the_language(harness):
    browser = german(harness)
    response = browser.post("/preferences/language", {"language": "fr"},
                            headers={"X-CSRF-Token": browser.csrf_token()}, status=422)
    assert response.json["error"] == "language must be one of: en, de."


def test_a_weak_password_is_refused_in_german_with_its_number(harness):
    browser = german(harness)
    token = browser.csrf_token("/register")
    response = browser.post("/register", {"username": "carol", "password": "short",
                                          "csrf_token": token}, status=422)
    assert "Ihr Passwort muss mindestens 12 Zeichen lang sein." in response.text


def test_flash_messages_count_in_german(harness):
    harness.make_user("bob")
    others = [new_browser(harness, f"192.0.2.{n}") for n in (20, 21)]
    for other in others:
        other.login("bob")
    browser = german(harness)
    browser.login("bob")
    token = browser.csrf_token("/sessions")
    browser.post("/sessions/revoke-others", {"csrf_token": token, "current_password": PASSWORD},
                 status=303)
    assert "2 andere Sitzungen abgemeldet." in browser.get("/sessions").text
    others[0].login("bob")
    token = browser.csrf_token("/sessions")
    browser.post("/sessions/revoke-others", {"csrf_token": token, "current_password": PASSWORD},
                 status=303)
    assert "1 andere Sitzung abgemeldet." in browser.get("/sessions").text


def test_every_form_error_is_shown_at_once_in_german(harness):
    browser = german(harness)
    token = browser.csrf_token("/register")
    page = browser.post("/register", {"username": "bad name!", "password": "short",
                                      "csrf_token": token}, status=422)
    assert "Benutzernamen dürfen nur Buchstaben" in page.html.find(id="username-error").text
    assert "mindestens 12 Zeichen" in page.html.find(id="password-error").text
    assert "Bitte korrigieren Sie die unten markierten Felder." in page.text


def test_a_wrong_current_and_a_weak_new_password_are_both_refused_in_german(harness):
    harness.make_user("bob")
    browser = german(harness)
    browser.login("bob")
    token = browser.csrf_token("/password")
    page = browser.post("/password", {"current_password": "not it at all", "new_password": "short",
                                      "csrf_token": token}, status=422)
    assert page.html.find(id="current-error").text == "Das ist nicht Ihr aktuelles Passwort."
    assert "mindestens 12 Zeichen" in page.html.find(id="new-error").text


def test_refusals_with_several_fields_stay_english_outside_pages(harness):
    harness.make_user("taken")
    with harness.transaction() as dbsession, pytest.raises(FormErrors) as refused:
        check_new_account(dbsession, harness.registry.password_policy, "Taken", "short")
    assert str(refused.value) == ("That username is taken. "
                                  "Use at least 12 characters for your password.")
    errors = form_errors(refused.value)
    assert set(errors) == {"username", "password"}
    assert english(errors["username"]) == "That username is taken."


def test_the_sign_out_notice_is_german(harness):
    harness.make_user("bob")
    browser = german(harness)
    browser.login("bob")
    browser.post("/logout", {"csrf_token": browser.csrf_token("/logout")}, status=303)
    assert "Sie haben sich abgemeldet." in browser.get("/").text


def test_the_strength_hint_is_given_its_words_in_german(harness):
    hint = german(harness).get("/register").html.find(class_="password-hint")
    assert hint["data-say-short"] == "Zu kurz: noch ${count} Zeichen."
    assert hint["data-say-short-one"] == "Zu kurz: noch ein Zeichen."
    assert hint["data-say-strong"] == "Stark: Ein langes Passwort ist der beste Schutz."
    rules = german(harness).get("/register").html.find(class_="password-rules")
    assert "mindestens 12 Zeichen" in rules.get_text()


def test_the_admin_confirmation_and_its_outcome_are_german(harness):
    harness.make_user("root", admin=True)
    bob_id = harness.make_user("bob")
    new_browser(harness, "192.0.2.30").login("bob")
    browser = german(harness)
    browser.login("root")
    page = browser.get(f"/admin/users/{bob_id}/revoke-sessions/confirm")
    assert page.html.find("h1").get_text(strip=True) == "Sitzungen von bob beenden?"
    assert page.html.find("button", class_="danger").get_text(strip=True) == \
        "Sitzungen von bob beenden"
    token = browser.csrf_token("/admin")
    browser.post(f"/admin/users/{bob_id}/revoke-sessions", {"csrf_token": token}, status=303)
    assert "1 Sitzung und 0 API-Tokens von bob beendet." in browser.get("/admin").text


def test_times_and_dates_are_written_the_german_way(harness):
    harness.clock.current = datetime(2026, 3, 9, 12, 0, 0)
    harness.make_user("bob")
    browser = german(harness)
    browser.login("bob")
    harness.clock.current += timedelta(minutes=5)
    profile = browser.get("/profile")
    assert "09.03.2026" in profile.text
    sessions = browser.get("/sessions")
    assert "vor 5 Minuten" in sessions.text
    assert "Firefox unter Linux" in sessions.text
    assert "Angemeldet" in sessions.html.find("table", class_="events").get_text()
    english_profile = new_browser(harness)
    english_profile.login("bob")
    assert "Mar 9, 2026" in english_profile.get("/profile").text


def test_plural_messages_from_python_follow_the_count():
    localizer = make_localizer("de", [LOCALE_DIR])
    one, many = throttle.wait_message(60), throttle.wait_message(600)
    assert english(one) == "Too many attempts. Try again in 1 minute."
    assert english(many) == "Too many attempts. Try again in 10 minutes."
    assert one.translate(localizer) == "Zu viele Versuche. Versuchen Sie es in 1 Minute erneut."
    assert many.translate(localizer) == (
        "Zu viele Versuche. Versuchen Sie es in 10 Minuten erneut.")
    assert english(ngettext("${n} file of ${who}", "${n} files of ${who}", 3, {"who": "x"})) == (
        "3 files of x")


def test_ago_outside_a_request_is_english():
    now = datetime(2026, 1, 1, 12, 0)
    assert ago(now - timedelta(minutes=2), now) == "2 minutes ago"
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(None, now) == "never"
    assert ago(now - timedelta(days=3), now, "de") == "vor 3 Tagen"


def test_a_german_page_costs_no_more_sql_than_an_english_one(harness):
    harness.make_user("bob")
    counts = {}
    for language in ("en", "de"):
        browser = new_browser(harness)
        browser.set_cookie("language", language)
        browser.login("bob")
        browser.get("/profile")
        harness.sql.clear()
        browser.get("/profile", headers={"Accept-Language": "de, en;q=0.5"})
        counts[language] = len(harness.sql.statements)
    assert counts["de"] == counts["en"] == 1


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_a_name_inside_a_translated_sentence_is_escaped(harness, language):
    harness.make_user("bob")
    browser = new_browser(harness)
    browser.set_cookie("language", language)
    browser.login("bob")
    token = browser.csrf_token("/sessions")
    response = browser.post("/tokens", {"name": "<em>x</em>", "expires_in_days": "1",
                                        "current_password": PASSWORD, "csrf_token": token},
                            status=201)
    created = response.html.find(class_="created-token")
    assert created.find("em") is None
    assert "<em>x</em>" in created.find("strong").get_text()


def test_a_throttled_sign_in_is_told_the_wait_in_german(harness):
    harness.make_user("alice")
    browser = german(harness)
    for _ in range(harness.registry.sessapp_settings.auth.throttle_max_failures):
        browser.login("alice", "definitely not the password", status=422)
    response = browser.login("alice", "definitely not the password", status=429)
    minutes = -(-int(response.headers["Retry-After"]) // 60)
    assert f"Zu viele Versuche. Versuchen Sie es in {minutes} Minuten erneut." in response.text


def test_second_factor_refusals_and_notices_are_german(harness):
    """A wrong code, the recovery code's "left" (a plural kept in the session
    as text) and the passkey refusal's ``message`` in German; ``error`` English."""
    harness.make_user("alice")
    browser = german(harness)
    browser.login("alice")
    _secret, codes = enrol(browser, harness)
    browser.logout()
    password_step(browser)
    assert "Dieser Code stimmt nicht." in code_step(browser, "000000", status=422).text
    code_step(browser, codes[0])
    assert "Wiederherstellungscode verwendet. Noch 9 übrig." in browser.get("/profile").text
    refused = browser.post_json("/mfa/passkeys", {"name": "x", "credential": {}},
                                headers={"X-CSRF-Token": browser.csrf_token("/mfa")},
                                status=400)
    assert refused.json["error"] == english(webauthn_ceremony.NO_CHALLENGE)
    assert refused.json["message"].startswith("Diese Passkey-Anfrage ist abgelaufen")


# -- mail -------------------------------------------------------------------------


def _ask_for_a_reset(browser) -> Any:
    token = browser.csrf_token("/password/forgot")
    return browser.post("/password/forgot", {"email": "alice@example.org", "csrf_token": token})


def test_a_reset_asked_for_in_german_is_mailed_in_german(mail_harness, smtp_server):
    """A mail speaks the language of the request that caused it (CONTRACT):
    a German reader's reset link arrives in German, subject, text and HTML
    alike, dates as German writes them; the next request, in English, gets
    English, whoever the recipient is."""
    mail_harness.make_user("alice")
    mail_harness.set_email("alice", "alice@example.org")
    page = _ask_for_a_reset(german(mail_harness))
    assert "Falls ein Konto diese Adresse hat" in page.text
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Setzen Sie Ihr sessapp-Passwort zurück"
    assert mail.message["Content-Language"] == "de"
    for part in (mail.text, mail.html):
        assert "Hallo alice," in part
        assert "Jemand hat angefordert, das Passwort Ihres sessapp-Kontos zurückzusetzen." in part
        assert "Wählen Sie ein neues Passwort" in part
        assert "Falls Sie das nicht angefordert haben" in part
        assert "Wann" in part and "IP-Adresse" in part
        assert re.search(r"\b\d{2}\.\d{2}\.\d{4} \d{2}:\d{2} UTC", part)
        assert "Someone asked" not in part and "Hello" not in part
    assert mail.link("/password/reset/").startswith("https://app.example/password/reset/")

    _ask_for_a_reset(new_browser(mail_harness, "192.0.2.11"))
    english_mail = smtp_server.wait_for(2)[1]
    assert english_mail.subject == "Reset your sessapp password"
    assert english_mail.message["Content-Language"] == "en"
    assert "Hello alice," in english_mail.text


def test_the_profile_dates_the_account_as_each_language_writes_dates(harness):
    harness.make_user("alice")
    with harness.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE users SET created_at = '2026-03-01 23:30:00' WHERE username = 'alice'")
    english_reader, german_reader = new_browser(harness), german(harness, "192.0.2.11")
    for browser, written in ((english_reader, "Mar 1, 2026"), (german_reader, "01.03.2026")):
        browser.login("alice")
        since = browser.get("/profile").html.find("time")
        assert (since["datetime"], since.text) == ("2026-03-01", written)
