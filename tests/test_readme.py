"""The README's shell snippets, run as written against a real ``pserve``.

A code block preceded by ``<!-- README snippet, run by tests/test_readme.py:
NAME -->`` is run with ``bash -euo pipefail`` in a scratch folder, in README
order, after only these substitutions: the server's address for
``http://localhost:6543``, the test's INI file for ``development.ini``, the
test's Python environment for ``.venv/bin/``, and the test password for
``your password``. So a snippet that drifts from the app (a ``grep`` that now
matches two fields, a moved route) fails here rather than for a reader.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PASSWORD
from servers import BIN, ROOT, run_app_server

pytestmark = [
    pytest.mark.backends("sqlite"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

MARK = re.compile(
    r"<!-- README snippet, run by tests/test_readme\.py: (?P<name>[\w-]+) -->\n"
    r"```sh\n(?P<code>.*?)```", re.S)
# What each snippet must print, in order (its comments promise as much).
EXPECTED = {
    "add-user": [],
    "api-token": ["303", '"name": "backup script"', '"username": "alice"', '"roles": ["admin"]',
                  '"scopes": ["read", "write"]', "204"],
}


def snippets() -> dict[str, str]:
    return {match["name"]: match["code"]
            for match in MARK.finditer((ROOT / "README.md").read_text())}


def test_every_marked_snippet_has_expectations():
    assert list(snippets()) == list(EXPECTED)


def test_the_readme_snippets_work_against_pserve(db_url, tmp_path, harness):
    server = run_app_server(tmp_path, db_url)
    ini = next(tmp_path.glob(f"server-{server.port}.ini"))
    work = tmp_path / "reader"
    work.mkdir()
    try:
        for name, code in snippets().items():
            script = (code.replace("http://localhost:6543", server.url)
                      .replace(".venv/bin/", f"{BIN}/")
                      .replace("development.ini", str(ini))
                      .replace("your password", PASSWORD))
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work,
                                  input=PASSWORD + "\n", capture_output=True, text=True,
                                  timeout=60, check=False)
            assert done.returncode == 0, f"{name}: {done.stderr}\n{done.stdout}"
            # JSON is compared without spaces: the README prints it spaced for reading.
            printed, position = re.sub(r"\s+", "", done.stdout), 0
            for expected in EXPECTED[name]:
                wanted = re.sub(r"\s+", "", expected)
                found = printed.find(wanted, position)
                assert found >= 0, f"{name}: {expected!r} not in order in:\n{done.stdout}"
                position = found + len(wanted)
    finally:
        server.stop()
    assert Path(work / "jar").exists()
