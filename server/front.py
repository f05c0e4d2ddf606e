"""Serve WSGI with waitress behind limits that slow clients cannot wear down.

waitress reads requests asynchronously and hands only complete requests to its threads, so a slow client costs a
connection slot, not a thread. What it lacks is a total deadline: its ``channel_timeout`` counts idle time only,
and a client sending one header line every 5 s is never idle. ``FrontServer`` adds two deadlines, checked every
second by the server's own maintenance:

- ``header_timeout_s``: the request line and headers must be complete within this time of their first byte;
- ``body_timeout_s``: the body must be complete within this time of the end of the headers.

A connection past either deadline is answered 408 and closed. ``connection_limit`` (waitress stops accepting
while it is reached; new connections wait in the listen backlog) is a setting, raised well above waitress's
default of 100, and the server polls (``poll``) instead of ``select``, which cannot watch descriptors past 1024.

Several processes may serve one listening socket: the parent makes it (``listen_socket``) and each process hands
it to ``make_server(..., sock=...)``; the kernel gives each connection to one of them.
"""

from __future__ import annotations

import logging
import socket
import time

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import ThreadedTaskDispatcher, TcpWSGIServer, UnixWSGIServer

log = logging.getLogger(__name__)

TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s")


class _TimedParser(HTTPRequestParser):
    """waitress's request parser, noting when the request's first byte and its last header came."""

    def __init__(self, adj) -> None:
        super().__init__(adj)
        self.started = time.monotonic()
        self.headers_at: float | None = None

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.headers_finished and self.headers_at is None:
            self.headers_at = time.monotonic()
        return consumed


class _TimedChannel(HTTPChannel):
    parser_class = _TimedParser


class _Deadlines:
    """The maintenance of FrontServer: close connections whose request is past its header or body deadline."""

    header_timeout_s = 20.0
    body_timeout_s = 120.0
    channel_class = _TimedChannel

    def maintenance(self, now):  # called by waitress's loop every cleanup_interval (1 s here)
        super().maintenance(now)
        moment = time.monotonic()
        for channel in list(self.active_channels.values()):
            request = channel.request  # the request being received (complete ones are handed to threads)
            if request is None or request.completed or channel.will_close or channel.requests:
                continue
            if request.headers_at is None:
                late = moment - request.started > self.header_timeout_s
                what = f"the request headers did not arrive within {self.header_timeout_s:g} s"
            else:
                late = moment - request.headers_at > self.body_timeout_s
                what = f"the request body did not arrive within {self.body_timeout_s:g} s"
            if late:
                self._close_late(channel, what)

    @staticmethod
    def _close_late(channel, what: str) -> None:
        body = (what + "\n").encode()
        try:
            channel.socket.send(TIMEOUT_ANSWER % (len(body), body))
        except OSError:
            pass
        channel.request = None
        channel.will_close = True
        log.info("closed a connection from %s: %s", channel.addr[0] if channel.addr else "?", what)


class FrontServer(_Deadlines, TcpWSGIServer):
    """waitress's TCP server with header and body deadlines."""


class FrontUnixServer(_Deadlines, UnixWSGIServer):
    """waitress's Unix-socket server with the same deadlines (the writer's socket behind the web processes)."""


def listen_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Make the listening socket the web processes share (inheritable, so a child can be handed it)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(info[4])
    sock.listen(backlog)
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def make_server(app, server_settings, *, host: str | None = None, port: int | None = None,
                sock: socket.socket | None = None, unix_socket: str | None = None, threads: int | None = None,
                proxies: int = 0):
    """Make a FrontServer for ``app``: on ``sock`` (shared), on ``unix_socket``, or bound to host:port."""
    s = server_settings
    raise_open_files(s.connection_limit + 2 * (threads or s.threads) + 64)
    kw = dict(threads=threads or s.threads, max_request_body_size=s.max_request_bytes, ident="wodp",
              connection_limit=s.connection_limit, channel_timeout=s.idle_timeout_s, cleanup_interval=1,
              asyncore_use_poll=True, backlog=2048,
              channel_request_lookahead=1,  # notices a client gone mid-request (server/disconnect.py)
              # waitress drops X-Forwarded-* headers by default: behind site.proxies, ProxyFix (create_app) reads them
              clear_untrusted_proxy_headers=not proxies)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(kw["threads"])
    if unix_socket is not None:
        adj = Adjustments(unix_socket=unix_socket, unix_socket_perms="600", **kw)
        server = FrontUnixServer(app, {}, True, None, dispatcher=dispatcher, adj=adj)
    elif sock is not None:
        adj = Adjustments(sockets=[sock], **kw)
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        server = FrontServer(app, {}, True, sock, dispatcher=dispatcher, adj=adj, bind_socket=False,
                             sockinfo=sockinfo)
    else:
        adj = Adjustments(host=host, port=port, **kw)
        server = FrontServer(app, {}, True, None, dispatcher=dispatcher, adj=adj)
    server.header_timeout_s = s.header_timeout_s
    server.body_timeout_s = s.body_timeout_s
    return server


def raise_open_files(needed: int) -> None:
    """Raise the soft limit of open files towards ``needed`` (never past the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
