"""``session.invalidate()`` on its own, outside any view's flow.

Logout writes the audit trail and more in the same request, which could hide an
invalidation that scheduled no write of its own; here nothing else happens.
"""

from __future__ import annotations

from pyramid.scripting import prepare


def stored_session(testapp) -> str:
    testapp.post_json("/session-data", {"key": "colour", "value": "teal"},
                      headers={"X-CSRF-Token": testapp.csrf_token("/login")}, status=200)
    return testapp.session_token


def in_a_request(harness, token: str, action) -> None:
    """Run ``action(request.session)`` in a request carrying ``token``, and commit."""
    env = prepare(registry=harness.registry)
    request = env["request"]
    request.cookies["session"] = token
    try:
        request.tm.begin()
        action(request.session)
        request.tm.commit()
    finally:
        env["closer"]()


def test_invalidating_a_stored_session_alone_deletes_its_row(testapp, harness):
    token = stored_session(testapp)
    assert harness.count("sessions") == 1
    in_a_request(harness, token, lambda session: session.invalidate())
    assert harness.count("sessions") == 0
    assert testapp.get("/session-data").json == {}


def test_data_stored_after_invalidating_goes_into_a_brand_new_session(testapp, harness):
    token = stored_session(testapp)
    harness.clock.advance(30)

    def invalidate_then_store(session) -> None:
        session.invalidate()
        session["after"] = "yes"

    in_a_request(harness, token, invalidate_then_store)
    with harness.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT data, created_at FROM sessions").all()
    assert len(rows) == 1
    assert '"after"' in rows[0][0] and "colour" not in rows[0][0]
    assert str(rows[0][1]).startswith(str(harness.clock.now())[:19])
