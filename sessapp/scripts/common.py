"""What every console script shares: reading the INI, a database session with
its own transaction manager, and one clear line instead of a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import transaction
from pyramid.paster import get_appsettings, setup_logging
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..models import get_engine, get_session_factory, get_tm_session
from ..settings import SessappSettings, SettingsError, apply_database_url, parse_settings


class ScriptError(Exception):
    """A problem to report in one line; the script exits non-zero."""


@dataclass
class Environment:
    raw: dict[str, Any]
    settings: SessappSettings
    engine: Any

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A dbsession in a transaction that commits on success."""
        manager = transaction.TransactionManager(explicit=True)
        session_factory = get_session_factory(self.engine)
        with manager:
            yield get_tm_session(session_factory, manager)


def load_environment(ini: str) -> Environment:
    if not os.path.exists(ini):
        raise ScriptError(f"no such configuration file: {ini}")
    setup_logging(ini)
    raw = dict(get_appsettings(ini))
    apply_database_url(raw)
    settings = parse_settings(raw)
    return Environment(raw=raw, settings=settings, engine=get_engine(raw))


def run(body: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Run a script body; report expected failures in one line on stderr."""
    prog = os.path.basename(sys.argv[0]) if sys.argv else "sessapp"
    try:
        return body(sys.argv[1:] if argv is None else argv)
    except (ScriptError, SettingsError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
    except SQLAlchemyError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{prog}: database error: {first_line}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
    except EOFError:  # Ctrl-D at a prompt
        print(f"{prog}: no input (end of file); nothing was changed", file=sys.stderr)
    return 1
