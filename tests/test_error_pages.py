"""An unhandled error: a plain 500 for the visitor, the whole story in the log."""

from __future__ import annotations

import logging

import pytest
from conftest import new_browser
from failing_view import MESSAGE


@pytest.fixture
def failing(make_harness):
    return make_harness(**{"pyramid.includes": "failing_view"})


def _logged_errors(caplog):
    return [r for r in caplog.records if r.name == "sessapp.views.errors"
            and r.levelno >= logging.ERROR]


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(("path", "content_type"), [
    ("/boom", "text/html"), ("/api/boom", "application/json"),
])
def test_an_unhandled_error_is_a_plain_500_and_logged_with_its_traceback(
        failing, caplog, path, content_type):
    with caplog.at_level(logging.ERROR, logger="sessapp.views.errors"):
        response = new_browser(failing).get(path, status=500)
    assert response.content_type == content_type
    for leak in (MESSAGE, "RuntimeError", "Traceback", "failing_view"):
        assert leak not in response.text
    records = _logged_errors(caplog)
    assert len(records) == 1
    record = records[0]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    logged = logging.Formatter().format(record)
    assert "Traceback (most recent call last)" in logged
    assert MESSAGE in logged and "failing_view.py" in logged
