"""What the sessions page and the admin page say about live sessions: the
owner's list most recently seen first, and neither counts an expired session
that the collector has not deleted yet."""

from __future__ import annotations

from conftest import new_browser

IDLE = 1800  # testing.ini's session.idle_timeout


def listed_addresses(browser) -> list[str]:
    """The IP column of the sessions table on /sessions, top to bottom."""
    table = browser.get("/sessions").html.find("table", class_="sessions")
    return [row.find_all("td")[1].get_text(strip=True)
            for row in table.find("tbody").find_all("tr")]


def test_the_sessions_page_lists_the_most_recently_seen_first(harness):
    harness.make_user("alice")
    first = new_browser(harness, "192.0.2.10")
    first.login()
    harness.clock.advance(10)
    second = new_browser(harness, "192.0.2.11")
    second.login()
    assert listed_addresses(first) == ["192.0.2.11", "192.0.2.10"]

    harness.clock.advance(120)  # past session.touch_interval: the next read touches
    first.get("/session-data")
    assert listed_addresses(first) == ["192.0.2.10", "192.0.2.11"]


def test_expired_sessions_are_neither_listed_nor_counted(harness):
    harness.make_user("alice")
    harness.make_user("root", admin=True)
    alice = new_browser(harness, "192.0.2.10")
    alice.login()
    harness.clock.advance(1000)
    other_alice = new_browser(harness, "192.0.2.11")
    other_alice.login()
    admin = new_browser(harness, "192.0.2.99")
    admin.login("root")
    harness.clock.advance(IDLE - 1000 + 1)  # the first session is past its idle timeout

    assert harness.count("sessions") == 3  # not collected yet
    assert listed_addresses(other_alice) == ["192.0.2.11"]
    rows = {row.find("td").get_text(strip=True): row.find_all("td")[2].get_text(strip=True)
            for row in admin.get("/admin").html.find("tbody").find_all("tr")}
    assert rows["alice"] == "1"
    assert rows["root"] == "1"
