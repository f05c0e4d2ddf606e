"""Tell whether the client of the current request has gone away, whichever server runs the app.

waitress (3.x) puts ``waitress.client_disconnected`` in the environ; it only notices a closed connection
when the server reads ahead of the running request (``channel_request_lookahead`` ≥ 1, set by ``wodp serve``).
gunicorn gives the connection's socket (``gunicorn.socket``): a closed connection reads as end of file.
Anything else: the client is never taken as gone (the task runs to its time limit).
"""

from __future__ import annotations

import select
import socket
from typing import Callable, Mapping


def client_gone(environ: Mapping) -> Callable[[], bool] | None:
    """Return a callable telling whether the request's client closed its connection, or None if unknown."""
    check = environ.get("waitress.client_disconnected")
    if callable(check):
        return check
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        return lambda: peer_closed(sock)
    return None


def peer_closed(sock: socket.socket) -> bool:
    """Tell whether the other end closed the connection (end of file, or an error), without reading data."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return True
