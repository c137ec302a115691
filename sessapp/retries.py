"""A random pause before pyramid_retry runs a request again.

Two requests that conflict (a deadlock, a serialization failure) fail at the
same moment; rerun at once, they meet again, and can use up ``retry.attempts``
together. Seen: two sessions of one user each ending the other under
SERIALIZABLE on a loaded machine, three lockstep attempts and a 503 in 6 runs of
12 (tests/test_faults.py). So each waits first for a random time ("full
jitter": anywhere from 0 to ``BASE_SECONDS`` x 2^attempt, at most
``MOST_SECONDS``), which staggers the next attempts. The failed attempt has
already ended: pyramid_tm aborted its transaction, its connections are back in
the pool and its finished callbacks ran, so the pause holds no lock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from pyramid_retry import IBeforeRetry

BASE_SECONDS = 0.05
MOST_SECONDS = 0.5


def pause_length(attempt: int, draw: Callable[[float, float], float] = random.uniform) -> float:
    """How long to wait after the failed attempt number ``attempt`` (0 first)."""
    return draw(0.0, min(MOST_SECONDS, BASE_SECONDS * 2 ** attempt))


def pause_before_retry(event: Any) -> None:
    """The ``IBeforeRetry`` subscriber."""
    time.sleep(pause_length(event.environ.get("retry.attempt", 0)))


def includeme(config: Any) -> None:
    config.add_subscriber(pause_before_retry, IBeforeRetry)
