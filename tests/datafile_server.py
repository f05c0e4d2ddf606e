"""A department's file server on a loopback port: files from a dict, with or without ETag / Last-Modified."""

from __future__ import annotations

import hashlib

from harvest_fixtures.wsgi_server import WsgiServer


class FileServer:
    """Serve ``files`` (path → bytes); answer conditional GETs with 304 when ``validators`` is on; count GETs."""

    def __init__(self, validators: bool = True, extra=None) -> None:
        self.files: dict[str, bytes] = {}
        self.validators = validators
        self.extra = extra  # another WSGI app for the paths not in files (e.g. a cloud data center)
        self.gets: list[tuple[str, int]] = []  # (path, status) of every GET of a file
        self.http = WsgiServer(self)
        self.url = self.http.url

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in self.files and self.extra is not None:
            return self.extra(environ, start_response)
        body = self.files.get(path)
        if body is None:
            self.gets.append((path, 404))
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        headers = [("Content-Type", "text/csv; charset=GBK")]
        if self.validators:
            etag = '"' + hashlib.sha1(body).hexdigest() + '"'
            headers.append(("ETag", etag))
            if environ.get("HTTP_IF_NONE_MATCH") == etag:
                self.gets.append((path, 304))
                start_response("304 Not Modified", headers)
                return [b""]
        self.gets.append((path, 200))
        start_response("200 OK", headers + [("Content-Length", str(len(body)))])
        return [body]

    def close(self) -> None:
        self.http.close()
