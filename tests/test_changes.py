"""The change feed: /changes as JSON and Atom, cursors and paging, and the log catching up with the store."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from tests.test_push_api import RECORD

BASE = "http://127.0.0.1:8000"
A = "{http://www.w3.org/2005/Atom}"


def open_platform(home):
    from config import load_settings
    from server.catalogue import install
    from server.platform import Platform

    platform = Platform.open(load_settings({}, overrides={}, home=home), start_workers=False)
    install(platform.store, platform.settings)
    return platform


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    """A platform of its own where a department pushed five datasets, updated one and withdrew one."""
    from server.app import create_app

    platform = open_platform(tmp_path_factory.mktemp("changes-home"))
    app = create_app(platform=platform)
    app.config["TESTING"] = True
    client = app.test_client()
    _, token = platform.accounts.create("D017")
    headers = {"Authorization": f"Bearer {token}"}
    marks = {"start": datetime.now(timezone.utc) - timedelta(seconds=1)}
    for n in range(5):
        body = json.dumps(RECORD | {"资源代码": f"420100-D017-0800{n}"}, ensure_ascii=False).encode()
        assert client.post("/api/datasets", data=body, content_type="application/json",
                           headers=headers).status_code == 201
    time.sleep(0.01)
    marks["after_create"] = datetime.now(timezone.utc)
    time.sleep(0.01)
    body = json.dumps(RECORD | {"资源代码": "420100-D017-08001", "数据量": "999"}, ensure_ascii=False).encode()
    assert client.post("/api/datasets", data=body, content_type="application/json", headers=headers).status_code == 200
    assert client.delete("/api/datasets/wuhan.420100-D017-08002", headers=headers).status_code == 200
    yield client, platform, marks
    platform.close()


def since(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_json_lists_created_updated_withdrawn_in_order(feed):
    client, _, marks = feed
    answer = client.get(f"/changes?since={since(marks['start'])}")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    doc = answer.get_json()
    actions = [(c["id"], c["action"]) for c in doc["changes"]]
    assert actions == [(f"wuhan.420100-D017-0800{n}", "created") for n in range(5)] + [
        ("wuhan.420100-D017-08001", "updated"), ("wuhan.420100-D017-08002", "withdrawn")]
    seqs = [c["seq"] for c in doc["changes"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7
    times = [c["at"] for c in doc["changes"]]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
    assert all(c["uri"] == f"{BASE}/datasets/{c['id']}" for c in doc["changes"])
    assert doc["more"] is False and doc["next"] == f"{BASE}/changes?after={seqs[-1]}"
    recent = client.get(f"/changes?since={since(marks['after_create'])}").get_json()
    assert [c["action"] for c in recent["changes"]] == ["updated", "withdrawn"]
    offset = marks["after_create"].astimezone(timezone(timedelta(hours=8))).isoformat()
    assert client.get("/changes", query_string={"since": offset}).get_json()["count"] == 2  # +08:00 offsets
    assert client.get("/changes?since=2000-01-01").get_json()["count"] == 7  # a date alone


def test_cursor_paging_visits_every_change_once(feed):
    client, _, _ = feed
    url, seen, pages = "/changes?limit=3", [], 0
    while True:
        doc = client.get(url).get_json()
        pages += 1
        seen += [c["seq"] for c in doc["changes"]]
        if not doc["more"]:
            break
        assert client.get(url).headers["Link"] == f'<{doc["next"]}>; rel="next"'
        url = doc["next"].removeprefix(BASE)
    assert pages == 3 and seen == sorted(set(seen)) and len(seen) == 7
    tail = client.get(doc["next"].removeprefix(BASE)).get_json()
    assert tail["changes"] == [] and tail["next"] == doc["next"]  # polling the cursor: nothing new yet
    future = since(datetime.now(timezone.utc) + timedelta(days=1))
    empty = client.get(f"/changes?since={future}").get_json()
    assert empty["changes"] == [] and empty["next"].endswith(f"after={seen[-1]}")


def test_atom_feed(feed):
    client, platform, marks = feed
    for answer in (client.get(f"/changes.atom?since={since(marks['start'])}&limit=5"),
                   client.get(f"/changes?since={since(marks['start'])}&limit=5",
                              headers={"Accept": "application/atom+xml"})):
        assert answer.status_code == 200 and answer.mimetype == "application/atom+xml"
        root = ET.fromstring(answer.data)
        assert root.tag == f"{A}feed"
        assert root.findtext(f"{A}id") == f"{BASE}/changes" and root.findtext(f"{A}title")
        assert root.find(f"{A}author/{A}name").text
        datetime.fromisoformat(root.findtext(f"{A}updated"))
        links = {link.get("rel"): link.get("href") for link in root.findall(f"{A}link")}
        assert links["self"].startswith(f"{BASE}/changes") and "after=" in links["next"]
        entries = root.findall(f"{A}entry")
        assert len(entries) == 5
        ids = [e.findtext(f"{A}id") for e in entries]
        assert len(set(ids)) == 5
        for entry in entries:
            href = entry.find(f"{A}link").get("href")
            assert href.startswith(f"{BASE}/datasets/wuhan.420100-D017-0800")
            assert entry.find(f"{A}category").get("term") == "created"
            datetime.fromisoformat(entry.findtext(f"{A}updated"))
            assert entry.findtext(f"{A}title")
    rest = ET.fromstring(client.get(links["next"].removeprefix(BASE), headers={"Accept": "application/atom+xml"}).data)
    assert [e.find(f"{A}category").get("term") for e in rest.findall(f"{A}entry")] == ["updated", "withdrawn"]
    assert all(link.get("rel") != "next" for link in rest.findall(f"{A}link"))


@pytest.mark.parametrize("url, headers, status", [
    ("/changes?since=yesterday", {}, 400),
    ("/changes?since=2026-13-45", {}, 400),
    ("/changes?since=2026-01-01&after=3", {}, 400),
    ("/changes?after=-1", {}, 400),
    ("/changes?after=abc", {}, 400),
    ("/changes?limit=0", {}, 400),
    ("/changes?limit=1001", {}, 400),
    ("/changes.rss", {}, 404),
    ("/changes", {"Accept": "text/turtle"}, 406),
])
def test_bad_requests(feed, url, headers, status):
    client, _, _ = feed
    answer = client.get(url, headers=headers)
    assert answer.status_code == status
    assert answer.mimetype == "application/problem+json" and answer.get_json()["detail"]


def test_conditional_requests(feed):
    client, _, _ = feed
    first = client.get("/changes")
    assert client.get("/changes", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    atom = client.get("/changes.atom")
    assert atom.headers["ETag"] != first.headers["ETag"]


def test_log_catches_up_with_writes_made_while_it_was_not_listening(tmp_path):
    import pyoxigraph as ox

    from sparql.store import open_store

    platform = open_platform(tmp_path)
    _, token = platform.accounts.create("D017")
    from server.app import create_app

    client = create_app(platform=platform).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for n in range(4):
        body = json.dumps(RECORD | {"资源代码": f"420100-D017-0900{n}"}, ensure_ascii=False).encode()
        assert client.post("/api/datasets", data=body, content_type="application/json",
                           headers=headers).status_code == 201
    assert client.delete("/api/datasets/wuhan.420100-D017-09000", headers=headers).status_code == 200
    uris = {n: f"{BASE}/datasets/wuhan.420100-D017-0900{n}" for n in range(3)}
    platform.close()

    store = open_store(tmp_path / "store")  # as `wodp remove` and `wodp load` do without a server
    store.remove_datasets([uris[1]])
    store.put_datasets({uris[2]: platform_triples_changed(store.dataset_triples(uris[2]))})
    new = ox.NamedNode(f"{BASE}/datasets/wuhan.420100-D017-09009")  # any graph: the log reads the store only
    store.put_datasets({new.value: [ox.Triple(new, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                                              ox.NamedNode("http://www.w3.org/ns/dcat#Dataset"))]})
    store.close()

    platform = open_platform(tmp_path)
    try:
        client = create_app(platform=platform).test_client()
        doc = client.get("/changes?after=5").get_json()  # 4 created, 1 withdrawn; 09003 left untouched
        assert sorted((c["id"], c["action"]) for c in doc["changes"]) == [
            ("wuhan.420100-D017-09001", "removed"), ("wuhan.420100-D017-09002", "updated"),
            ("wuhan.420100-D017-09009", "created")]
        assert platform.changes.reconcile(platform.store) == 0  # nothing more to catch up
    finally:
        platform.close()


def platform_triples_changed(triples):
    import pyoxigraph as ox

    subject = next(t.subject for t in triples if t.predicate.value.endswith("#type")
                   and t.object.value.endswith("#Dataset"))
    return triples + [ox.Triple(subject, ox.NamedNode("http://www.w3.org/ns/dcat#keyword"), ox.Literal("新词"))]


def test_stale_events_do_not_reorder_a_dataset(tmp_path, database_url):
    from core.database import open_database
    from server.changes import ChangeLog
    from sparql.store import PublishEvent

    class Store:
        generation = 0

        def record_modified(self, uri):
            return datetime(2026, 1, 1, tzinfo=timezone.utc)

    log = ChangeLog(open_database(database_url, "changes", tmp_path / "changes.sqlite", auto_migrate=True))
    uri = f"{BASE}/datasets/push.x"
    log.follow(Store(), PublishEvent(1, put=(uri,), created=(uri,)))
    log.follow(Store(), PublishEvent(3, put=(uri,), created=(uri,)))  # re-published after a withdrawal …
    log.follow(Store(), PublishEvent(2, removed=(uri,), reason="withdrawn"))  # … whose event came late
    changes, more = log.page()
    assert [c.action for c in changes] == ["created", "created"] and not more
    assert log.generation() == 3
    log.close()


def test_demo_catalogue_pages_of_a_thousand(demo_client, demo_platform):
    first = demo_client.get("/changes?limit=1000").get_json()
    assert first["count"] == 1000 and first["more"] is True
    second = demo_client.get(first["next"].split("8000", 1)[1]).get_json()
    loaded = (first["changes"] + second["changes"])[:demo_platform.settings.demo.datasets]
    assert {c["action"] for c in loaded} == {"created"}  # the demo load, one change per dataset
    assert len({c["id"] for c in loaded}) == len(loaded) == 1700
    assert first["changes"][-1]["seq"] < second["changes"][0]["seq"]
