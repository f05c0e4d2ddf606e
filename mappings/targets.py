"""The targets a mapping may fill: each is one part of the dataset graph of docs/model.md."""

from __future__ import annotations

# target → (what it becomes in the graph, how the value is read)
DATASET_TARGETS: dict[str, tuple[str, str]] = {
    "title": ("dct:title", "text"),
    "description": ("dct:description", "text"),
    "resource_code": ("wodp:resourceCode", "text"),
    "publisher": ("dct:publisher → a department of ours (Wuhan sources), else an organisation of the source's "
                  "jurisdiction", "text"),
    "contact": ("dcat:contactPoint → vcard:hasEmail / vcard:hasTelephone found in the text, else vcard:fn",
                "text"),
    "contact_name": ("dcat:contactPoint → vcard:fn", "text"),
    "contact_email": ("dcat:contactPoint → vcard:hasEmail", "text"),
    "contact_phone": ("dcat:contactPoint → vcard:hasTelephone", "text"),
    "theme": ("dcat:theme → our theme + its EU data theme (outside Wuhan, words none of ours: the source's "
              "own concept)", "list"),
    "keyword": ("dcat:keyword", "list"),
    "open_type": ("wodp:openType + dct:accessRights (several: the most restrictive, reported); a text naming no "
                  "open type: wodp:openCondition as given (reported)", "list"),
    "update_cycle": ("wodp:updateCycle + dct:accrualPeriodicity", "text"),
    "issued": ("dct:issued (xsd:date)", "text"),
    "modified": ("dct:modified (xsd:date)", "text"),
    "format": ("one dcat:Distribution per format: dct:format + dcat:mediaType", "list"),
    "data_volume": ("wodp:dataVolume (records)", "text"),
    "spatial": ("dct:spatial → dcat:bbox + locn:geometry from 'west,south,east,north'", "text"),
    "source_crs": ("wodp:sourceCRS: the coordinate system of the data file (WGS84, CGCS2000, GCJ-02, BD-09, "
                   "EPSG:n or an IRI; docs/spatialization.md)", "text"),
    "bbox_west": ("dct:spatial bounding box, west longitude", "text"),
    "bbox_east": ("dct:spatial bounding box, east longitude", "text"),
    "bbox_south": ("dct:spatial bounding box, south latitude", "text"),
    "bbox_north": ("dct:spatial bounding box, north latitude", "text"),
    "landing_page": ("dcat:landingPage (the record's detail page; also the distributions' access URL)", "text"),
    "language": ("dct:language + the language tag of texts", "text"),
    "license": ("dct:license of every distribution", "text"),
}

DISTRIBUTION_TARGETS: dict[str, tuple[str, str]] = {
    "title": ("dct:title", "text"),
    "format": ("dct:format + dcat:mediaType", "text"),
    "media_type": ("dcat:mediaType (when it is a type/subtype)", "text"),
    "access_url": ("dcat:accessURL", "text"),
    "download_url": ("dcat:downloadURL", "text"),
    "byte_size": ("dcat:byteSize", "text"),
    "license": ("dct:license", "text"),
}

# Targets the Wuhan profile makes mandatory; a record without them gets a missing-field problem.
MANDATORY = ("title", "description", "publisher", "open_type", "update_cycle", "issued", "format", "contact")

# Default separators of list targets, half- and full-width (values are not normalised: "，" stays "，").
# A theme word that is unknown as a whole is tried again split on 、 and spaces (mappings/graph.py).
DEFAULT_SPLIT = {"theme": r"[,;，；|｜/／\n]", "keyword": r"[,;，；、|｜\n]", "format": r"[,;，；、|｜\n]",
                 "open_type": r"[,;，；、|｜/／\n]"}
