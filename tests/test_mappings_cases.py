"""Golden mapping cases: tests/mapping_cases/<case>/ holds an input file, case.yml and expected.ttl."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyoxigraph as ox
import pytest
import yaml
from rdflib import Graph
from rdflib.compare import graph_diff, isomorphic, to_isomorphic

from mappings import apply_mapping, load_mapping, read_records

CASES = Path(__file__).parent / "mapping_cases"
BASE = "https://data.wuhan.gov.cn"
# Problems of these kinds must be listed in case.yml exactly; missing-field problems only where listed.
EXACT_KINDS = ("unplaced-field", "bad-date", "bad-value", "unknown-value", "duplicate", "key-collision",
               "not-in-our-scheme")


def run_case(folder: Path):
    """Map a case's input through its mapping; return (triples of all graphs, MappingResult)."""
    case = yaml.safe_load((folder / "case.yml").read_text(encoding="utf-8"))
    mapping = load_mapping(case["mapping"])
    if case.get("columns"):
        mapping = dataclasses.replace(mapping, columns=tuple(case["columns"]))
    data = (folder / case["input"]).read_bytes()
    result = apply_mapping(read_records(data, case["input"], case["source"], mapping=mapping), mapping, BASE)
    return [t for triples in result.graphs.values() for t in triples], result, case


def to_rdflib(triples) -> Graph:
    """Turn pyoxigraph triples into an rdflib Graph through N-Triples."""
    graph = Graph()
    graph.parse(data=ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode(), format="nt")
    return graph


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.iterdir() if (p / "case.yml").exists()))
def test_case_matches_expected_graph(name):
    triples, result, case = run_case(CASES / name)
    expected = Graph().parse(CASES / name / "expected.ttl", format="turtle")
    got = to_rdflib(triples)
    if not isomorphic(got, expected):
        _, only_got, only_expected = graph_diff(to_isomorphic(got), to_isomorphic(expected))
        pytest.fail(f"{name}: graphs differ\nonly produced:\n{only_got.serialize(format='nt')}\n"
                    f"only expected:\n{only_expected.serialize(format='nt')}")
    found = {(p.origin, p.field, p.kind) for p in result.problems}
    wanted = {(p["origin"], p["field"], p["kind"]) for p in case.get("problems", [])}
    assert wanted <= found
    exact = set(case.get("exact_kinds", EXACT_KINDS))
    assert {p for p in found if p[2] in exact} == {p for p in wanted if p[2] in exact}


def test_every_case_has_expected_output():
    folders = [p for p in CASES.iterdir() if p.is_dir()]
    assert len(folders) >= 9
    for folder in folders:
        assert (folder / "case.yml").exists() and (folder / "expected.ttl").exists(), folder.name


def write_expected(name: str) -> None:
    """Write a case's expected.ttl from the engine's output (review it before committing)."""
    from ontology.namespaces import PREFIXES

    triples, _, _ = run_case(CASES / name)
    text = ox.serialize(triples, format=ox.RdfFormat.TURTLE, prefixes={**PREFIXES, "vcard": PREFIXES["vcard"]})
    (CASES / name / "expected.ttl").write_bytes(text)
