"""What an operator meets on the first start: a database that was never
migrated, a port already taken, where the server listens, ``sessapp-user`` at a
terminal. Each answer is one line that says what to do, never a traceback.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys

import pytest
from conftest import TESTING_INI, base_settings
from servers import BIN, free_port, start_pserve, write_ini
from sqlalchemy import text

from sessapp import make_app
from sessapp.scripts import user as user_script


def _pserve(ini, tmp_path, **env):
    return subprocess.run(
        [str(BIN / "pserve"), str(ini)], capture_output=True, text=True, timeout=60,
        # PYTHONPATH kept: the code under test, not whichever copy is installed.
        env={"PATH": str(BIN), **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
             **env},
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("sessapp:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("base", ["production.ini", "development.ini"])
def test_an_empty_database_is_refused_with_the_command_to_run(tmp_path, base):
    ini = write_ini(tmp_path / "app.ini", base=base,
                    app={"sqlalchemy.url": f"sqlite:///{tmp_path}/empty.sqlite",
                         "sessapp.environment": "testing", "session.secure": "false",
                         "session.cookie_name": "session",
                         "sessapp.csrf_cookie_name": "csrf_token",
                         "sessapp.hsts": "false", "pyramid.reload_templates": "false"},
                    server={"listen": f"127.0.0.1:{free_port()}"})
    result = _pserve(ini, tmp_path)
    assert result.returncode != 0
    line = _one_line(result.stderr)
    assert "no sessapp schema" in line
    assert f"sessapp-initdb {ini}" in line


def test_a_schema_behind_the_code_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/old.sqlite"
    ini = write_ini(tmp_path / "app.ini", app={"sqlalchemy.url": url},
                    server={"listen": f"127.0.0.1:{free_port()}"})
    subprocess.run([str(BIN / "alembic"), "-c", str(ini), "upgrade", "0001"],
                   check=True, capture_output=True, timeout=120)
    line = _one_line(_pserve(ini, tmp_path).stderr)
    assert "revision 0001" in line
    assert "sessapp-initdb" in line


def test_a_busy_port_is_one_line(tmp_path, harness):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ini = write_ini(tmp_path / "app.ini", app={"sqlalchemy.url": harness.url},
                        server={"listen": f"127.0.0.1:{port}"})
        result = _pserve(ini, tmp_path)
    assert result.returncode != 0
    line = _one_line(result.stderr)
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert "already in use" in line


def test_the_server_says_where_it_listens(tmp_path, harness):
    port = free_port()
    ini = write_ini(tmp_path / "app.ini", app={"sqlalchemy.url": harness.url},
                    server={"listen": f"127.0.0.1:{port}"})
    server = start_pserve(ini, port)
    try:
        assert f"sessapp: serving on http://127.0.0.1:{port}" in server.log()
    finally:
        server.stop()


@pytest.fixture
def app_knowing_its_migrations(harness):
    return make_app(base_settings(harness.url), TESTING_INI)


def test_healthz_is_503_while_the_schema_is_behind(harness, app_knowing_its_migrations):
    import webtest

    client = webtest.TestApp(app_knowing_its_migrations)
    assert client.get("/healthz").json == {"status": "ok"}
    with harness.engine.begin() as connection:
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        answer = client.get("/healthz", status=503)
        assert answer.json["status"] == "schema behind"
        assert answer.headers["Retry-After"]
    finally:
        with harness.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"),
                               {"v": current})
    assert client.get("/healthz").json == {"status": "ok"}


def test_ctrl_d_at_the_password_prompt_is_one_line(monkeypatch, capsys, tmp_path, harness):
    ini = write_ini(tmp_path / "app.ini", app={"sqlalchemy.url": harness.url})
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)

    def end_of_file(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", end_of_file)
    with pytest.raises(SystemExit) as exited:
        user_script.main([str(ini), "add", "bob"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "no input" in err
    assert "Traceback" not in err
    assert harness.count("users") == 0
