"""``pserve``'s server: waitress, saying where it listens and refusing a busy
port in one line.

Waitress itself logs its addresses through the logging configuration (which
production's may silence) and answers a busy port with a traceback. This
runner prints each address on standard error whatever the logging says, and
turns a failed bind into one line and exit status 1.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

from waitress.server import create_server


def _addresses(server: Any) -> list[str]:
    listening = getattr(server, "effective_listen", None)
    if listening is None:  # one socket
        if not hasattr(server, "effective_port"):  # a unix socket
            return [f"unix:{server.effective_host}"]
        listening = [(server.effective_host, server.effective_port)]
    return [f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"
            for host, port, *_rest in listening]


def serve_paste(app: Any, global_conf: dict[str, Any], **settings: Any) -> int:
    """The ``paste.server_runner``: ``use = egg:sessapp#waitress`` in ``[server:main]``."""
    listen = settings.get("listen") or settings.get("unix_socket") or "the configured address"
    try:
        server = create_server(app, **settings)
    except OSError as exc:
        reason = ("the address is already in use" if exc.errno == errno.EADDRINUSE
                  else exc.strerror or str(exc))
        print(f"sessapp: cannot listen on {listen}: {reason}", file=sys.stderr, flush=True)
        # pserve turns SystemExit from a server runner into "Exiting" and exit
        # status 0, which a supervisor reads as a clean stop: leave with 1.
        os._exit(1)
    for address in _addresses(server):
        print(f"sessapp: serving on {address}", file=sys.stderr, flush=True)
    server.run()
    return 0

