"""Measure what the doors serve of restricted data: build the demo, then ask every data URL anonymously.

For every dataset, by open type (无条件开放 for comparison, 有条件开放, 不予开放), the data URLs are those its
stored graph names on this site (``dcat:downloadURL``/``dcat:accessURL`` under /files, /api/data, /layers,
/ogc/collections) plus, for a dataset with a layer, ``/ogc/collections/{id}/items`` and ``/layers/{id}.geojson``.
Each is requested with the Flask test client, as an anonymous user. Also counted: restricted layers listed in
/ogc/collections, restricted data URLs in /catalog output, dataset pages of restricted datasets with 下载, and the
download and access URLs (any host) of each dataset's published graph that a SPARQL query over the store reads.

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/access_doors.py [DATASETS SPATIAL]`` (default: the full demo).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

OPEN_TYPES = """SELECT ?d ?t WHERE { GRAPH ?d { ?d <https://data.wuhan.gov.cn/def/wodp#openType> ?t } }"""
DOORS = ("/files/", "/api/data/", "/layers/", "/ogc/collections/")
LINKS = """SELECT ?g ?o WHERE { GRAPH ?g { ?s ?p ?o } VALUES ?p { <http://www.w3.org/ns/dcat#downloadURL>
  <http://www.w3.org/ns/dcat#accessURL> } }"""


def _links(triples) -> set[str]:
    return {t.object.value for t in triples if t.predicate.value.endswith(("#downloadURL", "#accessURL"))}


def _data_urls(platform, uri: str) -> set[str]:
    base = platform.settings.base_uri
    urls = set()
    for t in platform.store.dataset_triples(uri):
        if t.predicate.value.endswith(("#downloadURL", "#accessURL")) and t.object.value.startswith(base):
            path = t.object.value[len(base):]
            if path.startswith(DOORS):
                urls.add(path if not path.startswith("/ogc/collections/") else path + "/items")
    dataset_id = uri.rsplit("/", 1)[-1]
    info = platform.features.layer(dataset_id) if platform.features is not None else None
    if info is not None and info.kind == "feature":
        urls |= {f"/ogc/collections/{dataset_id}/items", f"/layers/{dataset_id}.geojson"}
    return urls


def _whole_catalog(client, size: int) -> str:
    """Return every page of /catalog as N-Triples."""
    pages, page = [], 1
    while True:
        answer = client.get(f"/catalog.nt?page_size={size}&page={page}")
        if answer.status_code != 200:
            return "".join(pages)
        pages.append(answer.get_data(as_text=True))
        page += 1


def measure(datasets: int | None = None, spatial: int | None = None) -> dict:
    from access.policy import withheld_links
    from config import load_settings
    from server.app import create_app
    from server.catalogue import load_demo
    from server.platform import Platform

    home = Path(tempfile.mkdtemp(prefix="access-doors-"))
    overrides = {"demo": {"datasets": datasets, "spatial": spatial}} if datasets else {}
    started = time.monotonic()
    platform = Platform.open(load_settings({}, overrides=overrides, home=home), start_workers=False)
    load_demo(platform)
    built = time.monotonic() - started
    client = create_app(platform=platform).test_client()
    kinds = {row[0].value: row[1].value.rsplit("/", 1)[-1] for row in platform.store.query(OPEN_TYPES)}
    out: dict = {"datasets": len(kinds), "by_open_type": dict(Counter(kinds.values())), "build_s": round(built, 1)}
    listed = {c["id"] for c in client.get("/ogc/collections?f=json").get_json()["collections"]}
    catalog = _whole_catalog(client, platform.settings.catalog.max_page_size)
    in_store: dict[str, set[str]] = defaultdict(set)  # what /sparql answers from (its workers query the store)
    for row in platform.store.query(LINKS):
        in_store[row[0].value].add(row[1].value)
    for kind in ("unconditional", "conditional", "closed"):
        uris = [u for u, k in kinds.items() if k == kind]
        per_door: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        with_data, answered, in_catalog, pages_download, links, over_sparql, withheld, leaked = 0, 0, 0, 0, 0, 0, 0, 0
        for uri in uris:
            graph = platform.store.dataset_triples(uri)
            published, kept_back = _links(graph), set(withheld_links(uri, graph))
            links += len(published)
            over_sparql += len(published & in_store[uri])
            withheld += len(kept_back)
            leaked += len(kept_back & in_store[uri])
            urls = _data_urls(platform, uri)
            ok = 0
            for url in sorted(urls):
                door = "/" + url.split("/")[1] + ("/" + url.split("/")[2] if url.startswith(("/api/", "/ogc/")) else "")
                status = client.get(url).status_code
                per_door[door][0] += 1
                if status == 200:
                    per_door[door][1] += 1
                    ok += 1
                in_catalog += f"<{platform.settings.base_uri}{url.removesuffix('/items')}>" in catalog
            answered += ok
            with_data += ok > 0
            dataset_id = uri.rsplit("/", 1)[-1]
            page = client.get(f"/datasets/{dataset_id}", headers={"Accept": "text/html"}).get_data(as_text=True)
            pages_download += ' download>' in page
        out[kind] = {"datasets": len(uris), "datasets_with_data_200": with_data,
                     "data_urls": sum(v[0] for v in per_door.values()), "data_urls_200": answered,
                     "per_door_urls_200": {k: f"{v[1]}/{v[0]}" for k, v in sorted(per_door.items())},
                     "public_ogc_collections": sum(1 for u in uris if u.rsplit("/", 1)[-1] in listed),
                     "data_urls_in_catalog_output": in_catalog, "pages_with_download": pages_download,
                     "links_published": links, "links_read_over_sparql": over_sparql,
                     "links_withheld_by_public_view": withheld, "withheld_links_read_over_sparql": leaked}
    platform.close()
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(measure(*args), ensure_ascii=False, indent=1))
