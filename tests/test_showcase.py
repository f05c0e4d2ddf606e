"""The showcase (应用成果): services/showcase.py on both engines of the data layer, its pages
(server/showcase_pages.py), the reviewer's decisions in the audit log, and its links checked by the link monitor
against a local file server (never the internet)."""

from __future__ import annotations

import io
import re

import pytest

from services.showcase import APPROVED, RETURNED, SUBMITTED, WITHDRAWN, Showcase
from tests.catalog_samples import SAMPLES, fill_store
from tests.conftest import csrf_of
from tests.datafile_server import FileServer

BUS, SCHOOLS = SAMPLES[0].id, SAMPLES[1].id  # demo.bus-routes, demo.schools
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
       b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def chart_png(width: int = 480, height: int = 270) -> bytes:
    """A PNG of a small bar chart (a screenshot an app's author would upload)."""
    import struct
    import zlib

    bars = [0.35, 0.6, 0.45, 0.8, 0.7, 0.9]
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            slot = width // len(bars)
            n, inside = min(x // slot, len(bars) - 1), x % slot
            bar = y >= height - int(bars[n] * (height - 20)) and slot // 6 <= inside < slot - slot // 6
            row += bytes((11, 79, 156) if bar and y < height - 4 else (200, 22, 29) if y >= height - 4 else
                         (244, 246, 249))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def _known(*ids):
    return lambda d: d in ids


def _item(showcase, **extra):
    values = {"kind": "app", "title": "公交到站查询", "description": "查询公交车实时到站。", "link": "https://bus.example.cn/app",
              "author": "张三", "datasets": [BUS], "exists": _known(BUS, SCHOOLS)} | extra
    return showcase.submit("acct-1", **values)


def test_the_part_keeps_items_and_refuses_bad_ones(tmp_path, database_url):
    from core.database import open_database

    showcase = Showcase(open_database(database_url, "showcase", tmp_path / "showcase.sqlite", auto_migrate=True),
                        image_max_bytes=2048, max_datasets=3)
    try:
        first = _item(showcase, datasets=[BUS, SCHOOLS, BUS], image=PNG)
        assert (first.status, first.datasets, first.image_type) == (SUBMITTED, (BUS, SCHOOLS), "image/png")
        assert showcase.image(first.id)[:2] == ("image/png", PNG)
        refusals = {  # what is refused, and the words that say why
            "unknown dataset": ({"datasets": [BUS, "demo.no-such-thing"]}, "demo.no-such-thing"),
            "no dataset": ({"datasets": []}, "at least one dataset"),
            "too many": ({"datasets": [BUS, SCHOOLS, "a", "b"]}, "at most 3"),
            "javascript": ({"link": "javascript:alert(1)"}, "http:// or https://"),
            "ftp": ({"link": "ftp://files.example.cn/x"}, "http:// or https://"),
            "no host": ({"link": "https:///path"}, "names no host"),
            "password": ({"link": "https://u:p@example.cn/"}, "user name or password"),
            "space": ({"link": "https://example.cn/a b"}, "spaces"),
            "kind": ({"kind": "game"}, "kind must be one of"),
            "title": ({"title": "  "}, "title"),
            "svg": ({"image": b"<svg xmlns='http://www.w3.org/2000/svg'/>"}, "PNG, JPEG, GIF or WebP"),
            "big image": ({"image": PNG + b"\0" * 2048}, "at most 2048"),
        }
        for name, (extra, words) in refusals.items():
            with pytest.raises(Exception) as refused:
                _item(showcase, **extra)
            assert getattr(refused.value, "status", None) == 400, name
            assert words in refused.value.message, (name, refused.value.message)
        assert showcase.listing(status=None)[1] == 1  # nothing refused was kept

        second = _item(showcase, kind="visualisation", title="学校分布图", datasets=[SCHOOLS],
                       link="http://maps.example.cn/schools")
        assert showcase.listing() == ([], 0)  # nothing public before review
        assert [i.id for i in showcase.queue()] == [first.id, second.id]  # oldest first
        with pytest.raises(Exception) as no_reason:
            showcase.decide(second.id, False, "rev")
        assert no_reason.value.status == 400
        assert showcase.decide(first.id, True, "rev").status == SUBMITTED  # as it was before
        assert showcase.decide(second.id, False, "rev", "链接打不开").status == SUBMITTED
        with pytest.raises(Exception) as twice:
            showcase.decide(first.id, False, "rev", "again")
        assert twice.value.status == 409
        assert (showcase.get(second.id).status, showcase.get(second.id).reason) == (RETURNED, "链接打不开")
        with pytest.raises(Exception) as not_returned:
            showcase.resubmit(first.id, "acct-1", kind="app", title="x", description="y", link="https://a.cn/",
                              author="z", datasets=[BUS], exists=_known(BUS))
        assert not_returned.value.status == 409 and showcase.get(first.id).status == APPROVED
        items, total = showcase.listing()
        assert ([i.id for i in items], total) == ([first.id], 1)
        assert [i.id for i in showcase.for_dataset(SCHOOLS)] == [first.id]  # the returned one is not shown
        assert showcase.listing(kind="visualisation") == ([], 0)
        assert showcase.counts() == {"app": 1} and showcase.counts(dataset="demo.other") == {}
        assert showcase.links_to_check() == {"https://bus.example.cn/app"}  # submitted and approved ones
        with pytest.raises(Exception) as stranger:
            showcase.withdraw(first.id, "acct-2", author=True)
        assert stranger.value.status == 404
        showcase.withdraw(first.id, "acct-1", author=True)
        assert showcase.get(first.id).status == WITHDRAWN and showcase.listing() == ([], 0)
        assert showcase.links_to_check() == set()
    finally:
        showcase.close()


# -- the pages ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files():
    server = FileServer()
    server.files["/app/index.html"] = b"<html>bus app</html>"
    yield server
    server.close()


def open_platform(home):
    from config import load_settings
    from server.platform import Platform

    settings = load_settings({}, overrides={
        "csw": {"enabled": False}, "rate_limits": {"enabled": False},
        # a link monitor over no harvest source's datasets: it checks the showcase's links only
        "harvest": {"sources": [{"name": "links", "kind": "links", "options": {"sources": ["none"], "timeout_s": 5}}]},
    }, home=home)
    platform = Platform.open(settings, start_workers=False)
    fill_store(platform.store)
    return platform


def make_app(platform):
    from server.app import create_app

    app = create_app(platform=platform)
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    platform = open_platform(tmp_path_factory.mktemp("showcase-home"))
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def app(platform):
    return make_app(platform)


@pytest.fixture
def checked(tmp_path):
    """A platform of its own: its link monitor checks only the links the test submits (all on loopback)."""
    platform = open_platform(tmp_path / "home")
    yield make_app(platform), platform
    platform.close()


def _form(client, **extra) -> dict:
    return {"kind": "app", "title": "武汉公交到站", "description": "实时查询公交车到站时间。", "author": "开发者甲",
            "link": "https://bus.example.cn/", "datasets": BUS, "csrf_token": client.csrf_token} | extra


def _submit(client, **extra):
    return client.post("/showcase/new", data=_form(client, **extra), content_type="multipart/form-data")


def _new_id(answer) -> int:
    assert answer.status_code == 303, (answer.status_code, answer.get_data(as_text=True)[:800])
    return int(re.search(r"#item-(\d+)$", answer.headers["Location"]).group(1))


def _entries(platform, target: str) -> list[tuple]:
    return [(e.action, e.role) for e in platform.audit.entries() if e.target == target]


def test_refusals_anonymous_csrf_unknown_dataset_bad_scheme(app, platform, sign_in):
    before = platform.showcase.listing(status=None)[1]
    anonymous = app.test_client()
    asked = anonymous.get(f"/showcase/new?datasets={BUS}", headers={"Accept": "text/html"})
    assert asked.status_code == 302 and "/admin/login?next=" in asked.headers["Location"]
    token = csrf_of(anonymous.get("/admin/login").get_data(as_text=True))
    assert anonymous.post("/showcase/new", data={"title": "x", "csrf_token": token}).status_code == 401
    citizen = app.test_client()
    sign_in(citizen, "public")
    bare = app.test_client()
    sign_in(bare, "public")
    bare.environ_base.pop("HTTP_X_CSRFTOKEN")  # signed in, but the post carries no CSRF token
    no_csrf = bare.post("/showcase/new", data={k: v for k, v in _form(bare).items() if k != "csrf_token"})
    assert no_csrf.status_code == 400
    unknown = _submit(citizen, datasets=f"{BUS}, demo.no-such-data")
    assert unknown.status_code == 400 and "demo.no-such-data" in unknown.get_data(as_text=True)
    for link in ("javascript:alert(1)", "ftp://bus.example.cn/app", "data:text/html,hi"):
        refused = _submit(citizen, link=link)
        assert refused.status_code == 400 and "http:// or https://" in refused.get_data(as_text=True), link
    svg = citizen.post("/showcase/new", content_type="multipart/form-data",
                       data=_form(citizen) | {"image": (io.BytesIO(b"<svg/>"), "a.png")})
    assert svg.status_code == 400 and "PNG, JPEG, GIF or WebP" in svg.get_data(as_text=True)
    assert platform.showcase.listing(status=None)[1] == before  # nothing kept


def test_submit_review_and_both_pages_show_the_link(app, platform, sign_in):
    citizen, reviewer, publisher = app.test_client(), app.test_client(), app.test_client()
    author = sign_in(citizen, "public")
    rev = sign_in(reviewer, "reviewer")
    sign_in(publisher, "publisher", "D017")
    from server.audit import dataset_digest

    digest = dataset_digest(platform.store, platform.dataset_uri(BUS))
    page = citizen.get(f"/showcase/new?datasets={BUS}").get_data(as_text=True)
    assert SAMPLES[0].title_zh in page  # the dataset it starts from, named
    item = _new_id(citizen.post("/showcase/new", content_type="multipart/form-data",
                                data=_form(citizen) | {"image": (io.BytesIO(PNG), "shot.png")}))
    assert _entries(platform, f"showcase:{item}") == [("showcase.submit", "public")]
    # waiting: not public, shown to its author and the reviewer only
    assert app.test_client().get(f"/showcase/{item}").status_code == 404
    assert app.test_client().get(f"/showcase/{item}/image").status_code == 404
    assert citizen.get(f"/showcase/{item}").status_code == 200
    assert f'href="/showcase/{item}"' not in app.test_client().get("/showcase").get_data(as_text=True)
    assert f"/showcase/{item}" not in app.test_client().get(f"/datasets/{BUS}").get_data(as_text=True)
    # the queue: the reviewer's only, linked from the management center's pages
    assert publisher.get("/admin/showcase").status_code == 403
    assert 'href="/admin/showcase"' in reviewer.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/showcase"' in reviewer.get("/admin/review").get_data(as_text=True)
    assert 'href="/admin/showcase"' not in publisher.get("/admin/department").get_data(as_text=True)
    assert citizen.post(f"/admin/showcase/{item}/decision", data={"decision": "approve"}).status_code == 403
    queue = reviewer.get("/admin/showcase").get_data(as_text=True)
    assert f'id="item-{item}"' in queue and "https://bus.example.cn/" in queue
    assert reviewer.post(f"/admin/showcase/{item}/decision", data={"decision": "return"}).status_code == 400
    answer = reviewer.post(f"/admin/showcase/{item}/decision", data={"decision": "approve"})
    assert answer.status_code == 303
    assert _entries(platform, f"showcase:{item}") == [("showcase.submit", "public"), ("showcase.approve", "reviewer")]
    entry = [e for e in platform.audit.entries() if e.target == f"showcase:{item}"][-1]
    assert (entry.actor, entry.before, entry.after, entry.detail["datasets"]) == (rev, SUBMITTED, APPROVED, [BUS])
    assert reviewer.post(f"/admin/showcase/{item}/decision", data={"decision": "approve"}).status_code == 409
    # public now: the list, the item (its datasets linked), the dataset page (the item linked)
    public = app.test_client()
    listing = public.get("/showcase").get_data(as_text=True)
    assert f'href="/showcase/{item}"' in listing and "武汉公交到站" in listing
    shown = public.get(f"/showcase/{item}").get_data(as_text=True)
    assert f'href="/datasets/{BUS}"' in shown and SAMPLES[0].title_zh in shown
    assert 'href="https://bus.example.cn/"' in shown and 'rel="noopener nofollow ugc"' in shown
    image = public.get(f"/showcase/{item}/image")
    assert (image.status_code, image.mimetype, image.data) == (200, "image/png", PNG)
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    dataset = public.get(f"/datasets/{BUS}").get_data(as_text=True)
    assert re.search(rf'<a href="/showcase/{item}">武汉公交到站</a>', dataset)
    assert f"/showcase/{item}\"" not in public.get(f"/datasets/{SCHOOLS}").get_data(as_text=True)
    # in RDF, the dataset is dct:isReferencedBy the item, added when served: its stored graph and digest unchanged
    import pyoxigraph as ox

    uri = platform.dataset_uri(BUS)
    graph = [q.triple for q in ox.parse(public.get(f"/datasets/{BUS}.ttl").data, format=ox.RdfFormat.TURTLE)]
    node = ox.NamedNode(f"{platform.settings.base_uri}/showcase/{item}")
    assert ox.Triple(ox.NamedNode(uri), ox.NamedNode("http://purl.org/dc/terms/isReferencedBy"), node) in graph
    about = {(t.predicate.value, t.object.value) for t in graph if t.subject == node}
    assert about == {("http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "https://schema.org/SoftwareApplication"),
                     ("https://schema.org/name", "武汉公交到站"), ("https://schema.org/url", "https://bus.example.cn/"),
                     ("https://schema.org/isBasedOn", uri)}
    assert not any(t.object == node for t in platform.store.dataset_triples(uri))
    assert dataset_digest(platform.store, uri) == digest
    ours = {t for t in graph if t.subject == node or t.object == node}
    assert len(ours) == 5
    without = platform.validator.validate([t for t in graph if t not in ours])
    assert set(platform.validator.validate(graph).findings) == set(without.findings)  # the shapes find no more
    english = public.get(f"/showcase/{item}?lang=en").get_data(as_text=True)
    assert "Datasets used" in english and SAMPLES[0].title_en in english
    # filters: by kind and by dataset
    assert f'href="/showcase/{item}"' in public.get(f"/showcase?dataset={BUS}").get_data(as_text=True)
    assert f'href="/showcase/{item}"' not in public.get(f"/showcase?dataset={SCHOOLS}").get_data(as_text=True)
    assert f'href="/showcase/{item}"' not in public.get("/showcase?kind=analysis").get_data(as_text=True)
    assert public.get("/showcase?kind=game").status_code == 400
    # a staff account submits too; the reviewer returns it with the reason, which its author reads
    staff_item = _new_id(_submit(publisher, kind="analysis", title="客流分析报告", datasets=SCHOOLS))
    assert reviewer.post(f"/admin/showcase/{staff_item}/decision",
                         data={"decision": "return", "reason": "请补充方法说明"}).status_code == 303
    assert _entries(platform, f"showcase:{staff_item}") == [("showcase.submit", "publisher"),
                                                           ("showcase.return", "reviewer")]
    mine = publisher.get("/account/showcase").get_data(as_text=True)
    assert "已退回" in mine and "请补充方法说明" in mine
    assert app.test_client().get(f"/showcase/{staff_item}").status_code == 404
    # its author changes it and submits it again; it waits for review once more
    assert citizen.get(f"/showcase/{staff_item}/edit").status_code == 404  # not the citizen's
    form = publisher.get(f"/showcase/{staff_item}/edit").get_data(as_text=True)
    assert "请补充方法说明" in form and 'value="客流分析报告"' in form and f'value="{SCHOOLS}"' in form
    again = publisher.post(f"/showcase/{staff_item}/edit", content_type="multipart/form-data",
                           data=_form(publisher, kind="analysis", title="客流分析报告（含方法）", datasets=SCHOOLS))
    assert again.status_code == 303
    changed = platform.showcase.get(staff_item)
    assert (changed.status, changed.title, changed.reason, changed.datasets) == (
        SUBMITTED, "客流分析报告（含方法）", None, (SCHOOLS,))
    assert _entries(platform, f"showcase:{staff_item}")[-1] == ("showcase.resubmit", "publisher")
    assert publisher.post(f"/showcase/{staff_item}/edit", content_type="multipart/form-data",
                          data=_form(publisher, datasets=SCHOOLS)).status_code == 409  # waiting: not returned
    # the reviewer takes down the approved one (a reason needed); it leaves the public pages
    assert reviewer.post(f"/admin/showcase/{item}/withdraw", data={"reason": " "}).status_code == 400
    assert reviewer.post(f"/admin/showcase/{item}/withdraw", data={"reason": "应用已停止服务"}).status_code == 303
    assert _entries(platform, f"showcase:{item}")[-1] == ("showcase.withdraw", "reviewer")
    assert public.get(f"/showcase/{item}").status_code == 404
    assert f"/showcase/{item}\"" not in public.get(f"/datasets/{BUS}").get_data(as_text=True)


def test_the_link_monitor_finds_a_broken_link(checked, sign_in, files):
    app, platform = checked
    citizen, reviewer = app.test_client(), app.test_client()
    sign_in(citizen, "public")
    sign_in(reviewer, "reviewer")
    good = _new_id(_submit(citizen, title="能打开的应用", link=f"{files.url}/app/index.html"))
    bad = _new_id(_submit(citizen, title="打不开的应用", link=f"{files.url}/app/gone.html"))
    waiting = reviewer.get("/admin/showcase").get_data(as_text=True)
    assert waiting.count("链接尚未检查") >= 2  # no check yet: said, not guessed
    report = platform.harvesting.run("links")
    assert report["status"] == "succeeded", report["message"]
    assert report["others"] == {"showcase": 2} and report["datasets"] == 0
    assert (report["checked"], report["broken"]) == (2, 1)
    assert "and 2 of the showcase" in report["message"]
    assert sorted(files.gets) == [("/app/gone.html", 404), ("/app/index.html", 200)]
    # the reviewer sees it on the item in the queue, with the error and the time of the check
    queue = reviewer.get("/admin/showcase").get_data(as_text=True)
    row = re.search(rf'<tr id="item-{bad}">(.*?)</tr>', queue, re.S).group(1)
    assert "链接暂不可用" in row and "HTTP 404" in row and re.search(r"最后检查 \d{4}-\d\d-\d\d \d\d:\d\d", row)
    ok_row = re.search(rf'<tr id="item-{good}">(.*?)</tr>', queue, re.S).group(1)
    assert "链接暂不可用" not in ok_row and "链接可用" in ok_row
    for item in (good, bad):
        assert reviewer.post(f"/admin/showcase/{item}/decision", data={"decision": "approve"}).status_code == 303
    public = app.test_client()
    page = public.get(f"/showcase/{bad}").get_data(as_text=True)
    assert re.search(r"链接暂不可用（最后检查 \d{4}-\d\d-\d\d \d\d:\d\d）", page)
    assert "HTTP 404" not in page  # the error's detail is the reviewer's
    assert "链接暂不可用" not in public.get(f"/showcase/{good}").get_data(as_text=True)
    card = re.search(rf'<article class="sc-card" id="item-{bad}">(.*?)</article>',
                     public.get("/showcase").get_data(as_text=True), re.S).group(1)
    assert "链接暂不可用" in card
    assert "Link unavailable for now" in public.get(f"/showcase/{bad}?lang=en").get_data(as_text=True)
    # repaired: the next check clears it
    files.files["/app/gone.html"] = b"<html>back</html>"
    assert platform.harvesting.run("links")["broken"] == 0
    assert "链接暂不可用" not in public.get(f"/showcase/{bad}").get_data(as_text=True)


def test_the_link_table_tells_each_urls_last_check(tmp_path, database_url):
    """LinkTable.checks (what the showcase's pages read) on both engines: the last check, its time, broken since."""
    import time

    from core.database import open_database
    from harvesters.links import LinkStatus, LinkTable

    table = LinkTable(open_database(database_url, "links", tmp_path / "harvest.sqlite", auto_migrate=True))
    try:
        before = time.time()
        table.save([LinkStatus("https://a.example.cn/", 200, "text/html", 10),
                    LinkStatus("https://b.example.cn/", 404, error="HTTP 404", broken=True)], {})
        found = table.checks(["https://a.example.cn/", "https://b.example.cn/", "https://never.example.cn/"])
        assert set(found) == {"https://a.example.cn/", "https://b.example.cn/"}  # never checked: absent, not guessed
        ok, bad = found["https://a.example.cn/"], found["https://b.example.cn/"]
        assert (ok[0].broken, ok[0].status, ok[2]) == (False, 200, None)
        assert (bad[0].broken, bad[0].error) == (True, "HTTP 404") and bad[1] >= before and bad[2] == bad[1]
        assert table.broken() == []  # links of no dataset: not among the datasets' broken links
    finally:
        table.close()
