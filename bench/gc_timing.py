"""sessapp-gc's own collector (:func:`sessapp.scripts.gc.collect`, what the console
script runs) with each batch's transaction timed from its start to its commit:
the longest a batch can have held its row locks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sessapp.scripts.common import Environment, load_environment
from sessapp.scripts.gc import collect


@dataclass
class TimedEnvironment(Environment):
    batch_seconds: list[float] = field(default_factory=list)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        started = time.perf_counter()
        with super().transaction() as dbsession:
            yield dbsession
        self.batch_seconds.append(time.perf_counter() - started)


def timed_collect(ini: str, *, batch_size: int) -> dict[str, Any]:
    plain = load_environment(ini)
    env = TimedEnvironment(raw=plain.raw, settings=plain.settings, engine=plain.engine)
    try:
        started = time.perf_counter()
        counts = collect(env, batch_size=batch_size)
        seconds = time.perf_counter() - started
    finally:
        env.engine.dispose()
    return {**counts, "seconds": seconds, "batch_seconds": env.batch_seconds}
