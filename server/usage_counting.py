"""Count the public's use of datasets at the outer edge of the application (services/usage.py keeps the counts).

Counted here, outside the answer cache, so a page answered from the cache is counted too:
- a view: GET of ``/datasets/{id}`` (the HTML page or an RDF representation, ``.ttl`` etc.) answered 200 or 304;
- a download: GET of ``/files/{id}/{name}`` answered 200;
- an API call: GET of ``/ogc/collections/{layer}/items[/{feature}]`` of a dataset's layer, or ``/api/data/{id}``,
  answered 200.
HEAD requests and requests a web process handed to the writer (counted by the web process) are not counted.
Counting is a dict increment; the counter writes in batches from its own thread.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from core.identifiers import is_dataset_id
from server.metrics import FORWARDED
from server.rdf_response import split_suffix

log = logging.getLogger(__name__)

_DATASET = re.compile(r"^/datasets/([^/]+)$")
_FILE = re.compile(r"^/files/([^/]+)/[^/]+$")
_DATA_API = re.compile(r"^/api/data/([^/]+)$")
_OGC_ITEMS = re.compile(r"^/ogc/collections/([^/]+)/items(?:/[^/]+)?/?$")


def classify(path: str, layer_dataset=None) -> tuple[str, str] | None:
    """Return (kind, dataset id) of a counted path, or None."""
    m = _DATASET.match(path)
    if m:
        dataset_id, _fmt = split_suffix(unquote(m.group(1)))
        return ("view", dataset_id) if is_dataset_id(dataset_id) else None
    m = _FILE.match(path) or _DATA_API.match(path)
    if m:
        kind = "download" if path.startswith("/files/") else "api"
        dataset_id = unquote(m.group(1))
        return (kind, dataset_id) if is_dataset_id(dataset_id) else None
    m = _OGC_ITEMS.match(path)
    if m and layer_dataset is not None:
        dataset_id = layer_dataset(unquote(m.group(1)))
        return ("api", dataset_id) if dataset_id else None
    return None


class UsageCounting:
    """WSGI wrapper: after the answer's status is known, add one to the usage counter."""

    outermost = True  # server.metrics.wrap_inner puts later wrappers inside this one

    def __init__(self, inner, platform) -> None:
        self.inner, self.platform = inner, platform

    def layer_dataset(self, layer_id: str) -> str | None:
        ogc = self.platform.ogc
        info = None if ogc is None else ogc.features.layer(layer_id)
        uri = getattr(info, "dataset_uri", None)
        prefix = self.platform.settings.base_uri + "/datasets/"
        return uri[len(prefix):] if uri and uri.startswith(prefix) else None

    def __call__(self, environ, start_response):
        counter = self.platform.usage
        if (counter is None or environ.get("REQUEST_METHOD") != "GET" or environ.get(FORWARDED)
                or not environ.get("PATH_INFO", "").startswith(("/datasets/", "/files/", "/api/data/", "/ogc/"))):
            return self.inner(environ, start_response)
        status: dict = {}

        def capture(code, headers, exc_info=None):
            status["code"] = code[:3]
            return start_response(code, headers, exc_info)

        answer = self.inner(environ, capture)
        try:
            self._count(environ, status.get("code"))
        except Exception as exc:  # noqa: BLE001  counting never fails a request
            log.warning("usage: %s not counted: %s", environ.get("PATH_INFO"), exc)
        return answer

    def _count(self, environ, code: str | None) -> None:
        if code not in ("200", "304"):
            return
        found = classify(environ.get("PATH_INFO", ""), self.layer_dataset)
        if found is None or (code == "304" and found[0] != "view"):
            return
        kind, dataset_id = found
        self.platform.usage.record(kind, dataset_id, user_agent=environ.get("HTTP_USER_AGENT"),
                                   address=environ.get("REMOTE_ADDR"))


def install(app, platform) -> None:
    """Put the counting outermost (outside the request metrics, the answer cache and the web process)."""
    app.wsgi_app = UsageCounting(app.wsgi_app, platform)
