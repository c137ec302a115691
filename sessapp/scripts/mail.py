"""sessapp-mail INI: send the mail waiting in the outbox now.

A running app sends queued mail itself within seconds; this command is for
after an SMTP outage, for a deployment that runs no app process for a while,
or to see what waits. Everything not yet sent is tried at once, retry delays
ignored; what the server still cannot take stays queued.
"""

from __future__ import annotations

import argparse

from sqlalchemy import func, select

from ..accounts.mail_delivery import deliver_due
from ..clock import SystemClock
from ..models import OutboxMessage, get_session_factory
from .common import load_environment, run


def _waiting(session_factory) -> int:
    with session_factory() as dbsession:
        return dbsession.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)))


def _body(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sessapp-mail", description=__doc__)
    parser.add_argument("config_uri", help="the INI file, e.g. development.ini")
    args = parser.parse_args(argv)
    env = load_environment(args.config_uri)
    session_factory = get_session_factory(env.engine)
    delivery = env.settings.mail_delivery
    if delivery == "off":
        print(f"mail.delivery is off: nothing sent; {_waiting(session_factory)} message(s) wait")
        return 0
    clock = SystemClock()
    result = deliver_due(session_factory, env.settings, clock.now, ignore_schedule=True)
    waiting = _waiting(session_factory)
    print(f"sent {result.sent} message(s) ({delivery}); {result.failed} refused for good; "
          f"{waiting} still waiting")
    return 1 if result.retrying else 0


def main(argv: list[str] | None = None) -> int:
    raise SystemExit(run(_body, argv))
