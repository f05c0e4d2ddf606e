"""Fetch source documents over HTTP (httpx) with time limits, size limits and conditional requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from harvesters.base import SourceFormatError, SourceUnavailableError

USER_AGENT = "wodp-harvester/0.1 (+https://data.wuhan.gov.cn)"


@dataclass(frozen=True)
class Response:
    """A source's answer: status, headers and body; status 304 means not modified."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def validators(self) -> dict[str, str]:
        """Return the ETag and Last-Modified to send back next time."""
        out = {}
        for name in ("etag", "last-modified"):
            if name in self.headers:
                out[name] = self.headers[name]
        return out


class HttpClient:
    """One client per harvest job; transport is a test seam (httpx.MockTransport)."""

    def __init__(self, timeout_s: float = 30.0, max_bytes: int = 50 * 1024 * 1024,
                 transport: httpx.BaseTransport | None = None, headers: Mapping[str, str] | None = None) -> None:
        self.max_bytes = max_bytes
        self._client = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=True,
                                    headers={"User-Agent": USER_AGENT, **(headers or {})})
        self.conditional_hits = 0

    def get(self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
            validators: Mapping[str, str] | None = None) -> Response:
        """GET a URL; send If-None-Match / If-Modified-Since from validators; raise on errors."""
        return self.request("GET", url, params=params, headers=headers, validators=validators)

    def request(self, method: str, url: str, *, params=None, headers=None, validators=None,
                content: bytes | None = None) -> Response:
        """Send one request and read the answer within the limits."""
        sent = dict(headers or {})
        if validators:
            if validators.get("etag"):
                sent["If-None-Match"] = validators["etag"]
            if validators.get("last-modified"):
                sent["If-Modified-Since"] = validators["last-modified"]
        try:
            with self._client.stream(method, url, params=params, headers=sent, content=content) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise SourceFormatError(f"{url}: answer larger than {self.max_bytes} bytes")
                status, answered, final_url = resp.status_code, dict(resp.headers), str(resp.url)
        except httpx.TimeoutException as exc:
            raise SourceUnavailableError(f"{url}: no answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailableError(f"{url}: {type(exc).__name__}: {exc}") from exc
        if status == 304:
            self.conditional_hits += 1
        elif status >= 400:
            error = SourceUnavailableError(f"{final_url}: the source answered HTTP {status}", status=502)
            error.answered = status  # the source's own status (401, 429, 500 …) for harvesters that react to it
            error.retry_after = {k.lower(): v for k, v in answered.items()}.get("retry-after")
            raise error
        return Response(final_url, status, {k.lower(): v for k, v in answered.items()}, bytes(body))

    def close(self) -> None:
        self._client.close()
