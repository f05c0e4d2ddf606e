"""Validate dataset graphs against a named profile of shapes, with pySHACL or pyrudof behind one interface.

Data come in as pyoxigraph Triples. A dataset graph carries the typing of the vocabulary values it uses
(docs/model.md), which the class (range) checks need: no ontology is loaded for them. Profiles that check our
own scheme membership (``Profile.vocabulary``) get the ``skos:inScheme`` triples of the values used added
(shapes.vocabulary). Shapes are parsed once per engine and reused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import pyoxigraph as ox

from shapes import profiles as _profiles
from shapes.errors import EngineUnavailableError, ShapesFileError
from shapes.rdflib_bridge import rdflib_graph
from shapes.report import ValidationReport
from shapes.results import finding, pyshacl_findings
from shapes.vocabulary import with_memberships


class Validator(Protocol):
    """Anything that validates triples against a named profile."""

    engine: str

    def validate(self, data_triples: Iterable[ox.Triple], *, profile: str = "wuhan") -> ValidationReport: ...


def _prepared(data_triples: Iterable[ox.Triple], profile: str) -> list[ox.Triple]:
    triples = list(data_triples)
    return with_memberships(triples) if _profiles.profile(profile).vocabulary else triples


class _Engine:
    """What both engines share: a lock, a shapes cache keyed by profile or file list, per-dataset runs."""

    engine = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[object, object] = {}

    def _shapes_for(self, key: object, ntriples: bytes):
        shapes = self._cache.get(key)
        if shapes is None:
            shapes = self._cache[key] = self._load_shapes(ntriples)
        return shapes

    def validate(self, data_triples: Iterable[ox.Triple], *, profile: str = "wuhan") -> ValidationReport:
        """Validate ``data_triples`` against ``profile``."""
        data = _prepared(data_triples, profile)
        with self._lock:
            shapes = self._shapes_for(profile, _profiles.shapes_ntriples(profile))
            findings = self._run(shapes, data)
        return ValidationReport(tuple(findings), self.engine, profile)

    def validate_datasets(self, graphs: Mapping[str, Iterable[ox.Triple]], *,
                          profile: str = "wuhan") -> dict[str, ValidationReport]:
        """Validate each dataset graph on its own; return the reports by dataset URI."""
        return {uri: self.validate(triples, profile=profile) for uri, triples in graphs.items()}

    def validate_with_shapes(self, data_triples: Iterable[ox.Triple], shapes_ntriples: bytes, key: object,
                             label: str) -> ValidationReport:
        """Validate against shapes given as N-Triples (cached under ``key``)."""
        data = list(data_triples)
        with self._lock:
            findings = self._run(self._shapes_for(key, shapes_ntriples), data)
        return ValidationReport(tuple(findings), self.engine, label)

    def _load_shapes(self, ntriples: bytes):
        raise NotImplementedError

    def _run(self, shapes, data: list[ox.Triple]) -> list:
        raise NotImplementedError


class _ParameterList(list):
    """pySHACL's list of constraint parameters, with set membership (it tests ``p in list`` per shape run)."""

    def __init__(self, items) -> None:
        super().__init__(items)
        self._members = frozenset(items)

    def __contains__(self, item) -> bool:
        return item in self._members


def _speed_up_pyshacl() -> None:
    """Give pySHACL's parameter lookup set membership; same answers, far fewer rdflib term comparisons."""
    import pyshacl.shape as shape_module
    from pyshacl.constraints import ALL_CONSTRAINT_PARAMETERS, CONSTRAINT_PARAMETERS_MAP

    if not isinstance(getattr(shape_module, "CONSTRAINT_PARAMS", (None,))[0], _ParameterList):
        shape_module.CONSTRAINT_PARAMS = (_ParameterList(ALL_CONSTRAINT_PARAMETERS), CONSTRAINT_PARAMETERS_MAP)


class PyShaclValidator(_Engine):
    """pySHACL over an in-memory rdflib Graph, no inference, the shapes graph harvested once."""

    engine = "pyshacl"

    def __init__(self) -> None:
        super().__init__()
        _speed_up_pyshacl()

    def _load_shapes(self, ntriples: bytes):
        from pyshacl.shapes_graph import ShapesGraph

        graph = rdflib_graph(ox.parse(ntriples, format=ox.RdfFormat.N_TRIPLES), context_aware=False)
        shapes = ShapesGraph(graph)
        shapes.shapes  # noqa: B018 -- harvest the shapes now, once
        return shapes

    def _run(self, shapes, data: list[ox.Triple]) -> list:
        from pyshacl import Validator as PyShacl
        from pyshacl.graph_abstraction import DataGraph

        options = {"inference": "none", "inplace": True, "allow_warnings": True, "allow_infos": True}
        runner = PyShacl(DataGraph.from_rdflib(rdflib_graph(data)), shacl_graph=shapes.graph, options=options)
        runner.shacl_graph = shapes  # reuse the harvested shapes instead of harvesting them again
        _conforms, report, _text = runner.run()
        return pyshacl_findings(report)


class PyrudofValidator(_Engine):
    """pyrudof (Rust SHACL engine): shapes read once per session, data replaced for each run."""

    engine = "pyrudof"

    def __init__(self) -> None:
        try:
            import pyrudof  # noqa: F401
        except ImportError as exc:
            raise EngineUnavailableError("the pyrudof engine is not installed (pip install pyrudof)") from exc
        super().__init__()
        self._dirty: set[int] = set()  # sessions holding a bulk run's data instead of the inert base

    def _load_shapes(self, ntriples: bytes):
        import pyrudof

        session = pyrudof.Rudof(pyrudof.RudofConfig())
        session.read_shacl(ntriples.decode(), pyrudof.ShaclFormat.NTriples)
        # read_data costs ~70 ms a call whatever the size; load one inert triple once, then stage each
        # run's data over it (add ~3 ms, roll back ~0.2 ms)
        session.read_data(_INERT, pyrudof.RDFFormat.NTriples)
        return session

    def _run(self, session, data: list[ox.Triple]) -> list:
        import pyrudof

        if len(data) > self.BULK:  # a whole catalogue: parsing N-Triples in bulk is faster than adding
            session.read_data(ox.serialize(data, format=ox.RdfFormat.N_TRIPLES).decode(),
                              pyrudof.RDFFormat.NTriples, merge=False)
            self._dirty.add(id(session))  # the next bulk run replaces this data; a staged run resets it first
            return self._findings(session.validate_shacl())
        if id(session) in self._dirty:
            session.read_data(_INERT, pyrudof.RDFFormat.NTriples, merge=False)
            self._dirty.discard(id(session))
        session.begin_staging()
        try:
            session.add_triples([(str(t.subject), str(t.predicate), str(t.object)) for t in data],
                                strict_iris=True)
            return self._findings(session.validate_shacl())
        finally:
            session.rollback_staging()

    BULK = 5000

    @staticmethod
    def _findings(report) -> list:
        return [finding(_rudof_node(e.focus_node), _rudof_path(e.path), e.constraint_component, e.severity,
                        _rudof_node(e.source_shape or ""), e.message, _rudof_value(e.value))
                for e in report]


_INERT = "<urn:wodp:inert> <urn:wodp:inert> <urn:wodp:inert> .\n"


def _rudof_node(text: str) -> str:
    """Return a pyrudof node as our report text (IRIs plain, blank nodes _:id)."""
    text = text.strip()
    return text[1:-1] if text.startswith("<") and text.endswith(">") else text


def _rudof_path(text: str | None) -> str | None:
    return _rudof_node(text) if text else None


def _rudof_value(text: str | None) -> str | None:
    """Return a pyrudof value as N-Triples text: IRIs bare, literals as N-Triples."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        return text[1:-1]
    return text


ENGINES: dict[str, type[_Engine]] = {"pyshacl": PyShaclValidator, "pyrudof": PyrudofValidator}
_instances: dict[str, _Engine] = {}
_instances_lock = threading.Lock()


def get_validator(engine: str = "pyshacl") -> _Engine:
    """Return the shared validator of ``engine`` (its shapes are parsed once per process)."""
    with _instances_lock:
        if engine not in _instances:
            try:
                _instances[engine] = ENGINES[engine]()
            except KeyError:
                raise EngineUnavailableError(f"unknown validation engine {engine!r}; known: {', '.join(ENGINES)}") \
                    from None
        return _instances[engine]


def validate_dataset(data_triples: Iterable[ox.Triple], *, profile: str = "wuhan",
                     engine: str = "pyshacl") -> ValidationReport:
    """Validate one dataset graph against a profile with the shared validator of ``engine``."""
    return get_validator(engine).validate(data_triples, profile=profile)


def shape_files_ntriples(shape_files: Iterable[Path]) -> bytes:
    """Merge Turtle shape files into N-Triples (their owl:imports are not followed)."""
    quads = []
    for path in shape_files:
        try:
            quads += ox.parse(path=str(path), format=ox.RdfFormat.TURTLE)
        except (OSError, SyntaxError) as exc:
            raise ShapesFileError(f"cannot read shapes file {path}: {exc}") from exc
    return ox.serialize([q.triple for q in quads], format=ox.RdfFormat.N_TRIPLES)


def validate_with_shapes(data_triples: Iterable[ox.Triple], shape_files: list[Path],
                         engine: str = "pyshacl") -> ValidationReport:
    """Validate against arbitrary shape files (e.g. the official DCAT-AP shapes), as given, without imports."""
    files = tuple(str(Path(p).resolve()) for p in shape_files)
    validator = get_validator(engine)
    key = ("files", files)
    ntriples = b"" if key in validator._cache else shape_files_ntriples(map(Path, files))
    label = "+".join(Path(f).name for f in files)
    return validator.validate_with_shapes(data_triples, ntriples, key, label)
