"""Our /csw against the CAT 3.0 ETS (ets-cat30) test descriptions, one test case each (see test_csw_cite.py)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from lxml import etree

from tests.conftest import shared_path
from tests.test_csw_cite import NS, V3, _any_id, csw, doc, matched, title_word  # noqa: F401  (csw: fixture)


# -- CSW 3.0 (ets-cat30) ----------------------------------------------------------------------------------------
def _cat30(c, query: str, status: int, exception: str | None = None, **headers):
    r = c.get(query, **headers)
    assert r.status_code == status, r.data[:300]
    if exception:
        root = doc(r)
        assert root.tag == "{%s}ExceptionReport" % NS["ows20"]
        assert root.find("ows20:Exception", NS).get("exceptionCode") == exception
    return r


def c3_caps_xml(c):
    root = doc(_cat30(c, "service=CSW&request=GetCapabilities", 200, Accept="application/xml"))
    assert root.tag == "{%s}Capabilities" % NS["csw30"] and root.get("version") == "3.0.0"


def c3_base_url(c):
    for accept in ("*/*", "text/html; q=0.5, application/xml"):
        root = doc(c.client.get("/csw", headers={"Accept": accept}))
        assert root.tag == "{%s}Capabilities" % NS["csw30"]


def c3_names_case(c):
    assert doc(_cat30(c, "Service=CSW&Request=GetCapabilities&AcceptVersions=3.0.0", 200)).tag.endswith("Capabilities")


def c3_values_case(c):
    _cat30(c, "service=CSW&request=getCapabilities", 400, "InvalidParameterValue")


def c3_missing_service(c):
    _cat30(c, "request=GetCapabilities", 400, "MissingParameterValue")


def c3_version(c):
    _cat30(c, "service=CSW&request=GetCapabilities&acceptversions=0.0.0", 400, "VersionNegotiationFailed")


def c3_sections(c):
    root = doc(_cat30(c, "service=CSW&request=GetCapabilities&sections=ServiceProvider", 200))
    assert [e.tag.split("}")[1] for e in root] == ["ServiceProvider"]


def c3_grbi_404(c):
    _cat30(c, f"{V3}&request=GetRecordById&id=urn:uuid:{uuid.uuid4()}", 404)


def c3_grbi_summary(c):
    root = doc(_cat30(c, f"{V3}&request=GetRecordById&id={_any_id(c)}", 200))
    assert root.tag == "{%s}SummaryRecord" % NS["csw30"]
    assert root.find("dc:identifier", NS).text == _any_id(c)


def c3_grbi_brief(c):
    assert doc(_cat30(c, f"{V3}&request=GetRecordById&id={_any_id(c)}&elementsetname=brief", 200)).tag == \
        "{%s}BriefRecord" % NS["csw30"]


def c3_grbi_full(c):
    assert doc(_cat30(c, f"{V3}&request=GetRecordById&id={_any_id(c)}&elementsetname=full", 200)).tag == \
        "{%s}Record" % NS["csw30"]


def c3_grbi_atom(c):
    root = doc(_cat30(c, f"{V3}&request=GetRecordById&id={_any_id(c)}&outputformat=application/atom%2Bxml", 200,
                      Accept="application/xml"))
    assert root.tag == "{%s}entry" % NS["atom"]
    assert _any_id(c) in etree.tostring(root, encoding="unicode")


def c3_grbi_bad_format(c):
    _cat30(c, f"{V3}&request=GetRecordById&id={_any_id(c)}&outputformat=model/vnd.collada%2Bxml", 400,
           "InvalidParameterValue")


def c3_grbi_bad_schema(c):
    _cat30(c, f"{V3}&request=GetRecordById&id={_any_id(c)}&outputschema=http://www.example.org/ns/alpha", 400,
           "InvalidParameterValue")


def c3_grbi_missing_id(c):
    _cat30(c, f"{V3}&request=GetRecordById", 400, "MissingParameterValue")


def c3_gr_summary(c):
    root = doc(_cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&elementsetname=summary", 200))
    assert len(root.findall(".//csw30:SummaryRecord", NS)) == 10


def c3_gr_atom(c):
    root = doc(_cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&outputformat=application/atom%2Bxml", 200))
    assert root.tag == "{%s}feed" % NS["atom"] and root.findall("atom:entry", NS)


def c3_gr_bad_format(c):
    _cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&outputformat=text/example", 400,
           "InvalidParameterValue")


def c3_gr_unknown_type(c):
    _cat30(c, f"{V3}&request=GetRecords&typenames=foo:Nothing", 400, "InvalidParameterValue")


def c3_gr_bad_esn(c):
    _cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&elementsetname=undefined", 400, "InvalidParameterValue")


def c3_gr_bad_schema(c):
    _cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&outputschema=urn:uuid:6a29d2a8-9651-47a6-9b14-"
              "f05d2b5644f0", 400, "InvalidParameterValue")


def c3_gr_slice(c):
    def page(start, n):
        root = doc(_cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&elementsetname=brief&sortby=dc:identifier:A"
                             f"&startposition={start}&maxrecords={n}", 200))
        return [e.text for e in root.iterfind(".//dc:identifier", NS)]
    assert page(6, 4) == page(1, 9)[5:9]


def c3_q(c):
    r = _cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&q={quote(title_word(c))}", 200)
    assert matched(r) > 0


def c3_q_zero(c):
    r = _cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&q={quote(title_word(c))}&maxrecords=0", 200)
    assert len(doc(r).find(".//csw30:SearchResults", NS)) == 0


def c3_q_random(c):
    assert matched(_cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&q=qzxvbnmwpl", 200)) == 0


def c3_bbox_crs84(c):
    r = _cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&elementsetname=summary"
                  "&bbox=114.25,30.55,114.35,30.65,urn:ogc:def:crs:OGC:1.3:CRS84", 200)
    records = doc(r).findall(".//csw30:SummaryRecord", NS)
    assert records
    for record in records:
        box = record.find(".//{*}BoundingBox") if record.find(".//{*}BoundingBox") is not None else \
            record.find(".//{*}WGS84BoundingBox")
        lower = [float(v) for v in box.find("{*}LowerCorner").text.split()]
        upper = [float(v) for v in box.find("{*}UpperCorner").text.split()]
        lat_first = "4326" in (box.get("crs") or "")
        w, s, e, n = (lower[1], lower[0], upper[1], upper[0]) if lat_first else (*lower, *upper)
        assert not (e < 114.25 or w > 114.35 or n < 30.55 or s > 30.65)


def c3_record_ids(c):
    a, b = c.platform.demo.datasets[0].uri, c.platform.demo.datasets[1].uri
    r = _cat30(c, f"{V3}&request=GetRecords&typenames=csw:Record&recordids={quote(a)},{quote(b)}", 200)
    assert {e.text for e in doc(r).iterfind(".//csw30:SummaryRecord/dc:identifier", NS)} == {a, b}


CAT30 = [
    ("GC-xml", "Verifies that the content of a complete service capabilities document is schema-valid", c3_caps_xml),
    ("GC-base-url", "Attempts to retrieve the capabilities document from the base URL", c3_base_url),
    ("GC-names-case", "Query parameter names must be handled in a case-insensitive manner", c3_names_case),
    ("GC-values-case", "Query parameter values must be handled in a case-sensitive manner", c3_values_case),
    ("GC-missing-service", 'If the required "service" parameter is missing', c3_missing_service),
    ("GC-version", "request for an unsupported version of a capabilities document", c3_version),
    ("GC-sections", "request for a part of a capabilities document", c3_sections),
    ("GRBI-404", "status code 404 (Not Found) if no matching resource representation", c3_grbi_404),
    ("GRBI-summary", "produces a matching csw:SummaryRecord in the response entity", c3_grbi_summary),
    ("GRBI-brief", "request for a brief record by identifier", c3_grbi_brief),
    ("GRBI-full", "request for a full record by identifier", c3_grbi_full),
    ("GRBI-atom-override", 'The outputFormat query parameter value ("application/atom+xml") overrides',
     c3_grbi_atom),
    ("GRBI-bad-format", "record representation in an unsupported format", c3_grbi_bad_format),
    ("GRBI-bad-schema", "conforms to an unsupported output schema", c3_grbi_bad_schema),
    ("GRBI-missing-id", "omits the required 'id' parameter", c3_grbi_missing_id),
    ("GR-summary", "The requested record representation is csw:SummaryRecord", c3_gr_summary),
    ("GR-atom", "expression a preference for an Atom feed".replace("expression", "express"), c3_gr_atom),
    ("GR-bad-format", "unsupported output format (text/example)", c3_gr_bad_format),
    ("GR-unknown-type", "specifies an unknown typeName parameter value", c3_gr_unknown_type),
    ("GR-bad-esn", "specifies an unknown elementSetName parameter value", c3_gr_bad_esn),
    ("GR-bad-schema", 'unsupported output schema ("urn:uuid:6a29d2a8', c3_gr_bad_schema),
    ("GR-slice", "The csw:SearchResults element in the response entity must present the correct", c3_gr_slice),
    ("SEARCH-q", "'q' parameter value is a single URL-encoded term", c3_q),
    ("SEARCH-q-zero", 'maxRecords parameter value has the value "0"', c3_q_zero),
    ("SEARCH-q-random", "'q' parameter value is randomly generated text", c3_q_random),
    ("SEARCH-bbox-crs84", 'uses the default CRS ("urn:ogc:def:crs:OGC:1.3:CRS84")', c3_bbox_crs84),
    ("SEARCH-record-ids", "'recordIds' parameter that contains a (comma-separated) list", c3_record_ids),
]


@pytest.mark.parametrize("phrase, check", [pytest.param(p, f, id=f"cat30-{i}") for i, p, f in CAT30])
def test_cat30_assertion(csw, phrase, check):
    text = shared_path("standards", "ogc", "ets-cat30-tests.md").read_text("utf-8")
    assert phrase in text, f"no such test in ets-cat30: {phrase}"
    check(csw)
