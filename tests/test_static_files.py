"""Static files answered from memory (sessapp.static_files): the same answer as
Pyramid's static view, with caching validators, and the request guard's
refusals still in force."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import new_browser
from pyramid.interfaces import IExecutionPolicy

from sessapp.static_files import StaticFilesPolicy

STYLESHEET = Path(__file__).resolve().parent.parent / "sessapp" / "static" / "sessapp.css"
PATH = "/static/sessapp.css"
SECURITY = {"X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin", "X-Frame-Options": "DENY"}


def policy_of(harness):
    return harness.registry.queryUtility(IExecutionPolicy)


def test_a_static_file_comes_from_memory_with_every_header(harness, testapp):
    assert isinstance(policy_of(harness), StaticFilesPolicy)
    response = testapp.get(PATH)
    assert response.body == STYLESHEET.read_bytes()
    assert response.headers["Content-Type"] == "text/css; charset=UTF-8"
    assert response.headers["Content-Length"] == str(STYLESHEET.stat().st_size)
    assert response.headers["Cache-Control"] == "max-age=3600"
    assert response.headers["Expires"]
    assert response.headers["Last-Modified"]
    assert response.headers["ETag"].startswith('"')
    for name, value in SECURITY.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert len(response.headers["X-Request-ID"]) == 16
    assert response.headers["X-Request-ID"] != testapp.get(PATH).headers["X-Request-ID"]
    assert "Set-Cookie" not in response.headers
    assert "Strict-Transport-Security" not in response.headers


def test_a_static_file_costs_no_sql_and_no_session_even_with_a_cookie(harness, testapp):
    harness.make_user("alice")
    testapp.login("alice")
    harness.sql.clear()
    response = testapp.get(PATH)
    assert harness.sql.statements == []
    assert "Set-Cookie" not in response.headers


def test_head_sends_the_headers_without_the_body(testapp):
    response = testapp.head(PATH)
    assert response.body == b""
    assert response.headers["Content-Length"] == str(STYLESHEET.stat().st_size)
    assert response.headers["ETag"] == testapp.get(PATH).headers["ETag"]


def test_the_etag_and_the_date_answer_not_modified(testapp):
    first = testapp.get(PATH)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"other", W/{etag}'},
                    {"If-None-Match": "*"}, {"If-Modified-Since": modified}):
        response = testapp.get(PATH, headers=headers, status=304)
        assert response.body == b""
        assert "Content-Type" not in response.headers
        assert response.headers["ETag"] == etag
        assert response.headers["Cache-Control"] == "max-age=3600"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    for headers in ({"If-None-Match": '"other"'},
                    {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
                    {"If-Modified-Since": "not a date"},
                    # If-None-Match wins over If-Modified-Since (RFC 9110).
                    {"If-None-Match": '"other"', "If-Modified-Since": modified}):
        assert testapp.get(PATH, headers=headers, status=200).body == first.body


def test_strict_transport_security_when_configured(make_harness):
    response = new_browser(make_harness(**{"sessapp.hsts": "true"})).get(PATH)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("headers", [{"User-Agent": "evil\x00agent"},
                                     {"Host": "caf\u00e9.example"}])
def test_headers_the_guard_refuses_are_still_refused(testapp, headers):
    testapp.get(PATH, headers=headers, status=400)


def test_what_memory_does_not_answer_goes_to_the_static_view(testapp):
    ranged = testapp.get(PATH, headers={"Range": "bytes=0-9"}, status=206)
    assert ranged.body == STYLESHEET.read_bytes()[:10]
    assert ranged.headers["X-Content-Type-Options"] == "nosniff"
    assert testapp.get("/static/./sessapp.css").body == STYLESHEET.read_bytes()
    testapp.get("/static/nope.css", status=404)
    testapp.get("/static/../__init__.py", status=404)
    testapp.request(PATH, method="TRACE", status=405)
    # Not a safe method: Pyramid's CSRF check refuses it, as before.
    testapp.post(PATH, status=400)


def test_mounted_under_a_prefix(harness):
    browser = new_browser(harness)
    browser.extra_environ["SCRIPT_NAME"] = "/auth"
    response = browser.get(PATH)
    assert response.headers["ETag"]
    assert 'href="/auth/static/sessapp.css"' in browser.get("/").text


@pytest.mark.parametrize("setting", ["pyramid.reload_assets", "pyramid.reload_templates"])
def test_edit_and_reload_settings_read_files_from_disk(make_harness, setting):
    harness = make_harness(**{setting: "true"})
    assert not isinstance(policy_of(harness), StaticFilesPolicy)
    response = new_browser(harness).get(PATH)
    assert response.body == STYLESHEET.read_bytes()
    assert "ETag" not in response.headers
