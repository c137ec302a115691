"""``sessapp.sessions`` stands alone: it imports nothing else of sessapp, its
modules import each other one way only, its settings leave the host's keys alone,
and it refuses to start without the table it needs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError

import sessapp.sessions
from sessapp.sessions.settings import SettingsError, parse_session_settings
from sessapp.settings import parse_settings

PACKAGE = Path(sessapp.sessions.__file__).parent

# Imports every module of the package with a bare ``sessapp`` parent (its
# __init__ not run), then names every other sessapp module that got imported.
_IMPORT_ALONE = """
import importlib, importlib.util, json, pkgutil, sys, types
parent = types.ModuleType("sessapp")
parent.__path__ = list(importlib.util.find_spec("sessapp").submodule_search_locations)
sys.modules["sessapp"] = parent
import sessapp.sessions
for info in pkgutil.walk_packages(sessapp.sessions.__path__, "sessapp.sessions."):
    importlib.import_module(info.name)
print(json.dumps(sorted(name for name in sys.modules if name.startswith("sessapp.")
                        and not name.startswith("sessapp.sessions"))))
"""


def test_the_package_imports_nothing_else_of_sessapp():
    out = subprocess.run([sys.executable, "-c", _IMPORT_ALONE], check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out) == []


def _imports_within_package(path: Path) -> set[str]:
    """Sibling modules ``path`` imports, TYPE_CHECKING blocks included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
    return names


def test_no_module_of_the_package_imports_one_that_imports_it_back():
    graph = {path.stem: _imports_within_package(path) for path in PACKAGE.glob("*.py")
             if path.stem != "__init__"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for name in graph.get(start, ()):
            if name == goal or (name not in seen and reaches(name, goal, seen | {name})):
                return True
        return False

    cycles = [name for name in graph if reaches(name, name, set())]
    assert cycles == []


def test_the_package_settings_leave_unknown_keys_to_the_host():
    settings = parse_session_settings({
        "session.idle_timeout": "600", "session.colour_scheme": "dark",
        "auth.provider": "members", "hostapp.greeting": "hi"})
    assert settings.idle_timeout == 600


def test_the_package_settings_name_the_bad_key():
    with pytest.raises(SettingsError, match=r"session\.max_size"):
        parse_session_settings({"session.max_size": "0"})


def test_sessapp_still_refuses_a_session_key_it_does_not_know():
    with pytest.raises(SettingsError, match=r"session\.colour_scheme"):
        parse_settings({"session.colour_scheme": "dark"})


def test_sessapp_and_the_package_parse_session_keys_alike():
    raw = {"session.idle_timeout": "600", "session.samesite": "strict",
           "session.secure": "yes", "session.max_per_user": "3"}
    assert parse_settings(raw).session == parse_session_settings(raw)


def test_including_the_package_without_its_table_is_a_clear_error():
    config = Configurator(settings={})
    config.include("sessapp.sessions")
    with pytest.raises(ConfigurationError, match="set_sessions_table"):
        config.commit()
