"""RDF namespaces of the platform; our own vocabulary is closed (a misspelled term fails)."""

from __future__ import annotations

from pyoxigraph import NamedNode


class Namespace:
    """An open namespace: any local name makes a NamedNode."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._made: dict[str, NamedNode] = {}

    def __getattr__(self, name: str) -> NamedNode:
        if name.startswith("__") or name == "_made":
            raise AttributeError(name)
        node = self[name]
        self.__dict__[name] = node  # later lookups are plain attribute reads (hot loops use these terms)
        return node

    def __getitem__(self, name: str) -> NamedNode:
        node = self._made.get(name)
        if node is None:
            node = self._made[name] = NamedNode(self.base + name)
        return node

    def __str__(self) -> str:
        return self.base


class ClosedNamespace(Namespace):
    """A namespace with a fixed list of terms; any other name raises AttributeError."""

    def __init__(self, base: str, terms: frozenset[str] | set[str]) -> None:
        super().__init__(base)
        self.terms = frozenset(terms)

    def __getattr__(self, name: str) -> NamedNode:
        if name.startswith("__") or name == "_made":
            raise AttributeError(name)
        if name not in self.terms:
            raise AttributeError(f"{name!r} is not a term of {self.base}")
        node = self.__dict__[name] = Namespace.__getitem__(self, name)
        return node

    def __getitem__(self, name: str) -> NamedNode:
        return self.__getattr__(name)


DEF = "https://data.wuhan.gov.cn/def/"

# The platform's own vocabulary, defined in ontology/wodp.ttl.
WODP = ClosedNamespace(
    DEF + "wodp#",
    {
        # classes
        "OpenType", "UpdateCycle", "SpatializationStatus", "Department", "DepartmentCategory",
        # properties
        "resourceCode", "openType", "openCondition", "updateCycle", "spatializationStatus", "dataVolume",
        "departmentCategory", "source", "sourceKey", "jurisdiction", "sourceCRS",
        # quality metrics (DQV)
        "QualityDimension", "qualityScore", "completeness", "freshness", "conformance", "linkAvailability",
        # data quality metrics (DQV, tabular/)
        "DataQualityDimension", "emptyRows", "emptyColumns", "emptyCellShare", "duplicateRows", "mixedTypeColumns",
        "unreadableFiles", "nonMachineReadableDistributions", "brokenLinks", "splitSeriesSize",
        # concept schemes
        "Departments", "DepartmentCategories", "Themes", "OpenTypes", "UpdateCycles",
        "SpatializationStatuses", "CoordinateSystems",
    },
)
# Concept schemes whose members are minted from codes (see the Turtle files).
DEPARTMENT = Namespace(DEF + "department/")
DEPARTMENT_CATEGORY = Namespace(DEF + "department-category/")
THEME = Namespace(DEF + "theme/")
OPEN_TYPE = ClosedNamespace(DEF + "open-type/", {"unconditional", "conditional", "closed"})
UPDATE_CYCLE = ClosedNamespace(
    DEF + "update-cycle/",
    {"realtime", "daily", "weekly", "monthly", "quarterly", "halfyearly", "yearly", "irregular", "never"},
)
SPATIALIZATION = ClosedNamespace(DEF + "spatialization/", {"spatialized", "spatial", "none"})
# Source coordinate systems without an EPSG code (ontology/wodp.ttl, docs/spatialization.md).
CRS = ClosedNamespace(DEF + "crs/", {"gcj02", "bd09"})

# W3C and community vocabularies.
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")
OWL = Namespace("http://www.w3.org/2002/07/owl#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
ORG = Namespace("http://www.w3.org/ns/org#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
SCHEMA = Namespace("http://schema.org/")
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
DQV = Namespace("http://www.w3.org/ns/dqv#")
PROV = Namespace("http://www.w3.org/ns/prov#")

# EU Publications Office authority tables.
EU = "http://publications.europa.eu/resource/authority/"
DATA_THEME = Namespace(EU + "data-theme/")
FREQUENCY = Namespace(EU + "frequency/")
ACCESS_RIGHT = Namespace(EU + "access-right/")
FILE_TYPE = Namespace(EU + "file-type/")
LANGUAGE = Namespace(EU + "language/")
IANA = Namespace("http://www.iana.org/assignments/media-types/")
CRS_4490 = NamedNode("http://www.opengis.net/def/crs/EPSG/0/4490")

PREFIXES: dict[str, str] = {
    "dcat": DCAT.base, "dct": DCT.base, "foaf": FOAF.base, "vcard": VCARD.base,
    "skos": SKOS.base, "xsd": XSD.base, "rdf": RDF.base, "rdfs": RDFS.base, "org": ORG.base,
    "locn": LOCN.base, "gsp": GSP.base, "adms": ADMS.base, "hydra": HYDRA.base,
    "wodp": WODP.base, "dept": DEPARTMENT.base, "deptcat": DEPARTMENT_CATEGORY.base, "theme": THEME.base,
    "opentype": OPEN_TYPE.base, "cycle": UPDATE_CYCLE.base, "spatialization": SPATIALIZATION.base,
    "crs": CRS.base,
    "eutheme": DATA_THEME.base, "freq": FREQUENCY.base, "access": ACCESS_RIGHT.base,
    "filetype": FILE_TYPE.base, "dqv": DQV.base, "prov": PROV.base,
}
