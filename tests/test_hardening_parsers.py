"""Bounds before work: every parser of outside input refuses hostile input with a clear 4xx, cheaply.

In-process tests of the bounded readers (core.xmlsafe, core.jsonsafe, core.xlsxsafe, core.csvsafe) and of
the regexes of the mappings, then an attack suite against a real `wodp serve` process whose memory
(psutil, children included) is sampled from outside while each attack is answered.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest
import yaml

from config.settings import InputLimits
from core.bounded import InputLimitError, InputRefusedError
from mappings import MappingInputError, apply_mapping, available_mappings, load_mapping, read_records
from mappings.spec import bare_name
from sparql.loader import parse_rdf
from tests.conftest import ROOT, free_port
from tests.xlsx_bombs import huge_cell, many_shared_strings, workbook

import pyoxigraph as ox

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
LAUGHS = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
BILLION_LAUGHS = (f'<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY lol0 "lol">{LAUGHS}]>'
                  f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:dct="http://purl.org/dc/terms/">'
                  '<rdf:Description rdf:about="http://example.org/d"><dct:title>&lol9;</dct:title>'
                  '</rdf:Description></rdf:RDF>')
QUADRATIC = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{"x" * 50_000}">]>'
             f'<rdf:RDF xmlns:rdf="{RDF_NS}"><rdf:Description rdf:about="http://e/d">{"&a;" * 50_000}'
             '</rdf:Description></rdf:RDF>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:dct="http://purl.org/dc/terms/"><rdf:Description '
            'rdf:about="http://e/d"><dct:title>&xxe;</dct:title></rdf:Description></rdf:RDF>')
DEEP = f'<rdf:RDF xmlns:rdf="{RDF_NS}">' + "<a>" * 100_000 + "</a>" * 100_000 + "</rdf:RDF>"
XML_ATTACKS = {"billion-laughs": BILLION_LAUGHS.encode(), "billion-laughs-utf16": BILLION_LAUGHS.encode("utf-16"),
               "billion-laughs-utf16le-undeclared-bom": BILLION_LAUGHS.encode("utf-16-le"),
               "quadratic-blowup": QUADRATIC.encode(), "external-entity": EXTERNAL.encode(),
               "external-entity-utf16": EXTERNAL.encode("utf-16")}
LIMITS = InputLimits()


# -- XML ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(XML_ATTACKS))
def test_xml_attacks_are_refused_before_pyoxigraph_and_the_mappings(name):
    data = XML_ATTACKS[name]
    with pytest.raises(InputRefusedError, match=r"x\.rdf: XML with a document type declaration .* is refused: "
                                                r"it declares \d+ entit") as caught:
        parse_rdf(data, ox.RdfFormat.RDF_XML, "x.rdf")
    assert caught.value.status == 400
    if "external" in name:
        assert "file:///etc/passwd" in caught.value.message and "never read" in caught.value.message
    else:
        assert "billion laughs" in caught.value.message
    with pytest.raises(MappingInputError, match=r"x\.xml: XML with a document type declaration"):
        read_records(data, "x.xml", "s", mapping=load_mapping("iso19139"))


def test_deep_xml_is_refused_before_pyoxigraph():
    # pyoxigraph took minutes over 200,000 nested elements; the check stops at the 65th level
    started = time.monotonic()
    with pytest.raises(InputLimitError, match=r"nested deeper than input_limits\.xml_max_depth = 64"):
        parse_rdf(DEEP.encode(), ox.RdfFormat.RDF_XML, "deep.rdf")
    assert time.monotonic() - started < 5


def test_plain_rdf_xml_in_utf16_is_read():
    doc = (f'<?xml version="1.0" encoding="UTF-16"?><rdf:RDF xmlns:rdf="{RDF_NS}" '
           'xmlns:dct="http://purl.org/dc/terms/"><rdf:Description rdf:about="http://e/d">'
           '<dct:title>武汉</dct:title></rdf:Description></rdf:RDF>')
    quads = parse_rdf(doc.encode("utf-16"), ox.RdfFormat.RDF_XML, "u.rdf")
    assert [q.object.value for q in quads] == ["武汉"]


def test_csw_answer_with_entities_fails_the_page_with_the_reason(tmp_path):
    from harvesters.base import SourceFormatError
    from harvesters.csw import read_page

    for body in (csw_bomb().encode(), csw_bomb().encode("utf-16")):
        with pytest.raises(SourceFormatError, match=r"not a readable XML answer: .*XML with a document type "
                                                    r"declaration \(<!DOCTYPE csw:GetRecordsResponse>.*billion laughs"):
            read_page(body, "http://127.0.0.1:9/csw?startPosition=1", "geo", "http://127.0.0.1:8000", LIMITS, [])


def csw_bomb() -> str:
    return (f'<?xml version="1.0"?><!DOCTYPE csw:GetRecordsResponse [<!ENTITY lol0 "lol">{LAUGHS}]>'
            '<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" '
            'xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gco="http://www.isotc211.org/2005/gco">'
            '<csw:SearchResults numberOfRecordsMatched="1" numberOfRecordsReturned="1" nextRecord="0">'
            '<gmd:MD_Metadata><gmd:fileIdentifier><gco:CharacterString>&lol9;</gco:CharacterString>'
            '</gmd:fileIdentifier></gmd:MD_Metadata></csw:SearchResults></csw:GetRecordsResponse>')


# -- JSON -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, status, needle", [
    ('[{"标题": "a", "n": ' + "9" * 5001 + "}]", 413, r"a number of 5001 characters at line 1 column 19, more than "
                                                    r"input_limits\.json_max_number_digits = 100"),
    ('[{"标题": "a\\ud800b"}]', 422, r"field \$\[0\]\.标题: U\+D800 \(a lone surrogate\) at character 2"),
    ('{"records": [{"\\udfffkey": 1}]}', 422, r"field \$\.records\[0\] \(a field name\): U\+DFFF \(a lone surrogate\)"),
    ("[" * 5000 + "]" * 5000, 413, r"JSON nested deeper than input_limits\.json_max_depth = 64"),
    ('[{"a": ' + "[" * 70 + "]" * 70 + "}]", 413, r"JSON nested deeper than input_limits\.json_max_depth = 64 \(at \$\[0\]\.a"),
])
def test_hostile_json_gets_a_clear_4xx(body, status, needle):
    with pytest.raises(MappingInputError, match=r"r\.json: " + needle) as caught:
        read_records(body.encode(), "r.json", "s", mapping=load_mapping("china-core"))
    assert caught.value.status == status


# -- XLSX -----------------------------------------------------------------------------------------------------
def _refused_xlsx(data: bytes, limits: InputLimits = LIMITS) -> MappingInputError:
    with pytest.raises(MappingInputError) as caught:
        read_records(data, "w.xlsx", "s", mapping=load_mapping("china-core"), limits=limits)
    return caught.value


def test_xlsx_bombs_are_refused_from_the_zip_directory():
    started = time.monotonic()
    refused = _refused_xlsx(huge_cell())
    assert refused.status == 413 and "bytes once unpacked, more than input_limits.xlsx_max_uncompressed_bytes" \
        in refused.message
    refused = _refused_xlsx(many_shared_strings())
    assert refused.status == 413 and "xl/sharedStrings.xml unpacks" in refused.message \
        and "input_limits.xlsx_max_ratio = 100" in refused.message
    assert time.monotonic() - started < 10


def test_xlsx_counts_and_cell_size_are_bounded_while_streaming():
    lax = InputLimits(xlsx_max_ratio=100_000, xlsx_max_uncompressed_bytes=1 << 30)
    refused = _refused_xlsx(many_shared_strings(1_000_000), lax)
    assert "more than input_limits.xlsx_max_shared_strings = 500000 shared strings" in refused.message
    refused = _refused_xlsx(huge_cell(8 * 1024 * 1024), lax)
    assert "past input_limits.xlsx_max_cell_chars = 32767 characters" in refused.message
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>1</v></c><c r="B{r}"><v>2</v></c></row>' for r in range(1, 40))
    refused = _refused_xlsx(workbook(rows), InputLimits(xlsx_max_cells=50))
    assert "more than input_limits.xlsx_max_cells = 50 cells" in refused.message
    exact = workbook('<row r="1"><c r="A1" t="inlineStr"><is><t>' + "汉" * 300 + "</t></is></c></row>")
    refused = _refused_xlsx(exact, InputLimits(xlsx_max_cell_chars=255))
    assert "row 1 has a cell of 300 characters, more than input_limits.xlsx_max_cell_chars = 255" in refused.message


def test_xlsx_cell_past_the_shared_string_table_is_a_clear_400():
    refused = _refused_xlsx(workbook('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>7</v></c></row>',
                                     ["标题", "名称"]))
    assert refused.status == 400
    assert refused.message == ("w.xlsx: row 1 has a cell pointing past the end of the shared-string table "
                               "(2 strings)")


def test_xlsx_with_a_dtd_in_any_part_is_refused():
    data = workbook("", b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "b">]><sst/>')
    assert "xl/sharedStrings.xml has a document type declaration" in _refused_xlsx(data).message


# -- CSV ------------------------------------------------------------------------------------------------------
def test_csv_rows_and_field_size_are_bounded():
    limits = InputLimits(csv_max_rows=3, csv_max_field_chars=2000)
    text = "名称,资源代码\n" + "".join(f"数据{i},C{i}\n" for i in range(5))
    with pytest.raises(MappingInputError, match=r"c\.csv: more than input_limits\.csv_max_rows = 3 rows \(line 4\)"):
        read_records(text.encode(), "c.csv", "s", mapping=load_mapping("china-core"), limits=limits)
    text = "名称,资源代码\n数据,C1\n" + "x" * 3000 + ",C2\n"
    with pytest.raises(MappingInputError, match=r"c\.csv: line 3: a field longer than "
                                                r"input_limits\.csv_max_field_chars = 2000 characters") as caught:
        read_records(text.encode(), "c.csv", "s", mapping=load_mapping("china-core"), limits=limits)
    assert caught.value.status == 413


# -- regexes --------------------------------------------------------------------------------------------------
HOSTILE = {"letters": "联系方式" + "a" * 100_000, "dots": "a." * 50_000, "ats": "a@" * 50_000,
           "brackets": "(" * 100_000, "digits-spaces": "1" + " " * 99_998 + "x", "dashes": "2024-" * 20_000}


def _record_for(mapping) -> dict:
    """A record giving every field a mapping reads (simple paths) a placeholder, filled per hostile value."""
    names = {bare_name(p) for spec in mapping.fields.values() for p in spec.paths if "." not in p and "[" not in p}
    return {name: None for name in names if name and "*" not in name}


def test_a_100000_character_field_through_every_mapping_is_fast():
    slowest = []
    for name in available_mappings():
        mapping = load_mapping(name)
        record = _record_for(mapping)
        for label, value in HOSTILE.items():
            data = json.dumps([dict.fromkeys(record, value)], ensure_ascii=False).encode()
            started = time.monotonic()
            apply_mapping(read_records(data, "r.json", "s", mapping=mapping, limits=LIMITS), mapping,
                          "http://127.0.0.1:8000")
            slowest.append((time.monotonic() - started, name, label))
    worst = max(slowest)
    assert worst[0] < 5, f"mapping {worst[1]} took {worst[0]:.1f} s on the {worst[2]} value"


# -- against a real server ------------------------------------------------------------------------------------
class Server:
    """`wodp serve` on an empty temporary home, with a department account for the push API."""

    def __init__(self, home, sources: list[dict]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = home / "config.yml"
        config.write_text(yaml.safe_dump({"harvest": {"sources": sources}}), encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WODP_")}
        self.env.update(WODP_HOME=str(home), WODP_CONFIG=str(config), WODP_SITE__BASE_URI=self.url,
                        WODP_SPARQL__WORKERS="1", WODP_CSW__ENABLED="false", PYTHONPATH=str(ROOT))
        added = self.wodp("account", "add", "D012")
        self.token = added.stdout.rsplit(":", 1)[-1].strip()
        self.log = open(home / "server.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.url + "/health/ready", timeout=5).read()
                break
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "wodp serve did not start"
                time.sleep(0.5)
        self.settle()

    def settle(self, seconds: float = 60) -> None:
        """Wait until the server's memory stops growing: work deferred past the first answer (pygeoapi's import,
        workers starting) must not be counted as the growth an attack caused."""
        deadline, last = time.monotonic() + seconds, self.rss()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = self.rss()
            if abs(now - last) < 4 * 1024 * 1024:
                return
            last = now

    def wodp(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def rss(self) -> int:
        proc = psutil.Process(self.proc.pid)
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def measure(self, action):
        """Run action() while sampling the server's memory; return (result, seconds, peak growth in bytes)."""
        before, peak, done = self.rss(), [0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], self.rss())
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        try:
            result = action()
        finally:
            seconds = time.monotonic() - started
            done.set()
            sampler.join()
        return result, seconds, max(peak[0] - before, 0)

    def post(self, path: str, body: bytes, content_type: str, token: bool = False):
        headers = {"Content-Type": content_type} | ({"Authorization": f"Bearer {self.token}"} if token else {})
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Feed(http.server.BaseHTTPRequestHandler):
    """A local CSW source answering one hostile GetRecords page."""

    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def feed():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def live(tmp_path_factory, feed):
    server = Server(tmp_path_factory.mktemp("hardening-home"), [
        {"name": "bomb", "kind": "csw", "url": feed + "/csw"}])
    yield server
    server.stop()


MEMORY_CEILING = 300 * 1024 * 1024
TIME_CEILING = 10.0
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ATTACKS = [
    ("validate-billion-laughs", "/api/validate", BILLION_LAUGHS.encode(), "application/rdf+xml", False, 400,
     "billion laughs"),
    ("validate-billion-laughs-utf16", "/api/validate", BILLION_LAUGHS.encode("utf-16"), "application/rdf+xml",
     False, 400, "billion laughs"),
    ("validate-external-entity", "/api/validate", EXTERNAL.encode(), "application/rdf+xml", False, 400,
     "file:///etc/passwd"),
    ("push-billion-laughs", "/api/datasets", BILLION_LAUGHS.encode(), "application/rdf+xml", True, 400,
     "billion laughs"),
    ("push-billion-laughs-utf16", "/api/datasets", BILLION_LAUGHS.encode("utf-16"), "application/rdf+xml", True,
     400, "billion laughs"),
    ("validate-iso19139-billion-laughs", "/api/validate?mapping=iso19139", csw_bomb().encode("utf-16"),
     "application/xml", False, 400, "billion laughs"),
    ("validate-xlsx-huge-cell", "/api/validate?mapping=china-core", huge_cell(), XLSX, False, 413,
     "xlsx_max_uncompressed_bytes"),
    ("validate-xlsx-shared-strings", "/api/validate?mapping=china-core", many_shared_strings(), XLSX, False, 413,
     "xlsx_max_ratio"),
    ("validate-xlsx-past-table", "/api/validate?mapping=china-core",
     workbook('<row r="1"><c r="A1" t="s"><v>5</v></c></row>', ["标题"]), XLSX, False, 400,
     "past the end of the shared-string table"),
    ("push-5001-digits", "/api/datasets", ('{"资源名称": "a", "n": ' + "9" * 5001 + "}").encode(),
     "application/json", True, 413, "json_max_number_digits"),
    ("validate-5001-digits", "/api/validate?mapping=china-core",
     ('[{"资源名称": "a", "n": ' + "9" * 5001 + "}]").encode(), "application/json", False, 413,
     "json_max_number_digits"),
    ("push-lone-surrogate", "/api/datasets", b'{"\\u8d44\\u6e90\\u540d\\u79f0": "a\\ud800"}', "application/json",
     True, 422, "lone surrogate"),
    ("validate-lone-surrogate", "/api/validate?mapping=china-core", b'[{"title": "\\udc00"}]', "application/json",
     False, 422, "lone surrogate"),
]


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_refused_with_bounded_memory_and_time(live, attack):
    _, path, body, content_type, token, status, needle = attack
    (code, text), seconds, grown = live.measure(lambda: live.post(path, body, content_type, token))
    assert (code, needle in text) == (status, True), text[:500]
    assert "root:" not in text
    assert seconds < TIME_CEILING and grown < MEMORY_CEILING, (seconds, grown)


@pytest.mark.slow
def test_a_100000_character_field_is_pushed_quickly(live):
    record = {"资源名称": "联系方式测试", "联系方式": "联系方式" + "a" * 100_000, "资源摘要": "a." * 50_000}
    (code, text), seconds, grown = live.measure(lambda: live.post(
        "/api/validate?mapping=china-core", json.dumps([record], ensure_ascii=False).encode(), "application/json"))
    assert code == 200, text[:300]
    assert seconds < TIME_CEILING and grown < MEMORY_CEILING, (seconds, grown)


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_csw_source_answering_a_billion_laughs_fails_its_job_not_the_server(live, encoding):
    Feed.body = csw_bomb().encode(encoding)
    result, seconds, grown = live.measure(lambda: live.wodp("harvest", "bomb"))
    assert result.returncode == 1
    assert "XML with a document type declaration" in result.stdout + result.stderr
    assert seconds < 60 and grown < MEMORY_CEILING, (seconds, grown)
