"""Shapes and validator: the profile registry, bilingual messages on every shape, and the demo passing our profile."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from shapes.errors import EngineUnavailableError, UnknownProfileError
from shapes.profiles import PROFILES, SH, shape_file_bytes
from shapes.validate import get_validator, validate_dataset
from shapes.vocabulary import with_memberships

BASE = "http://127.0.0.1:8000"


def test_profiles_name_existing_shape_files() -> None:
    assert set(PROFILES) == {"wuhan", "wuhan-harvested", "external", "dcat-ap-3", "geodcat-ap"}
    assert PROFILES["external"].files == ("dcat-ap-3.ttl", "external.ttl")
    assert PROFILES["wuhan"].files == ("dcat-ap-3.ttl", "wuhan.ttl", "wuhan-own.ttl", "geodcat-ap.ttl")
    for p in PROFILES.values():
        for name in p.files:
            assert ox.parse(shape_file_bytes(name), format=ox.RdfFormat.TURTLE)


@pytest.mark.parametrize("name", sorted({f for p in PROFILES.values() for f in p.files}))
def test_every_shape_is_named_and_every_checking_shape_has_zh_and_en_messages(name: str) -> None:
    quads = list(ox.parse(shape_file_bytes(name), format=ox.RdfFormat.TURTLE))
    by_subject: dict = {}
    for q in quads:
        by_subject.setdefault(q.subject, []).append(q)
    shapes = [s for s, qs in by_subject.items() if isinstance(s, ox.NamedNode)
              and any(q.predicate.value in (SH + "path", SH + "targetClass", SH + "targetSubjectsOf",
                                            SH + "targetObjectsOf", SH + "property", SH + "nodeKind") for q in qs)]
    assert shapes
    for s in shapes:
        langs = lambda p: {q.object.language.split("-")[0] for q in by_subject[s] if q.predicate.value == SH + p}  # noqa: E731
        assert langs("name") == {"zh", "en"}, s
        if any(q.predicate.value == SH + "severity" for q in by_subject[s]):
            assert langs("message") == {"zh", "en"}, s


def test_unknown_profile_and_engine_are_clear_errors() -> None:
    with pytest.raises(UnknownProfileError, match="unknown validation profile 'nope'"):
        validate_dataset([], profile="nope")
    with pytest.raises(EngineUnavailableError, match="unknown validation engine"):
        get_validator("jena")


def test_membership_of_our_departments_is_added_and_nothing_else() -> None:
    dept = ox.NamedNode("https://data.wuhan.gov.cn/def/department/D012")
    d = ox.NamedNode(f"{BASE}/datasets/x")
    triples = [ox.Triple(d, ox.NamedNode("http://purl.org/dc/terms/publisher"), dept)]
    added = with_memberships(triples)[1:]
    assert [(t.subject, t.predicate.value, t.object.value) for t in added] == [
        (dept, "http://www.w3.org/2004/02/skos/core#inScheme", "https://data.wuhan.gov.cn/def/wodp#Departments")]


def test_demo_datasets_conform_to_our_wuhan_profile() -> None:
    from demo.generator import build_demo_catalog

    catalog = build_demo_catalog(BASE)
    sample = [d for i, d in enumerate(catalog.datasets) if i % 10 == 0 or d.spatial]
    validator = get_validator("pyshacl")
    for d in sample:
        report = validator.validate(d.triples)
        assert report.conforms, (d.id, [(f.path, f.constraint) for f in report.findings if f.severity == "Violation"])
    assert sum(d.spatial for d in sample) == 200


def test_a_small_run_after_a_bulk_run_sees_only_its_own_data() -> None:
    """pyrudof keeps a bulk run's data until the next one replaces it; a staged run must not see it."""
    from demo.generator import build_demo_catalog
    from ontology.namespaces import DCT

    try:
        validator = get_validator("pyrudof")
    except EngineUnavailableError:
        pytest.skip("pyrudof is not installed")
    catalog = build_demo_catalog(BASE, count=300, spatial=10)
    broken = [t for d in catalog.datasets for t in d.triples if t.predicate != DCT.description]
    assert len(broken) > validator.BULK
    bulk = validator.validate(broken)
    assert sum(f.severity == "Violation" for f in bulk.findings) >= 300
    single = validator.validate(list(catalog.datasets[0].triples))
    assert single.conforms, [(f.focus, f.path) for f in single.findings if f.severity == "Violation"][:3]
    again = validator.validate(broken)
    assert len(again.findings) == len(bulk.findings)
