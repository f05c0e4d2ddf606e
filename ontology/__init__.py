"""The platform's vocabulary (Turtle) and its Python namespaces."""

from __future__ import annotations

from importlib import resources

TURTLE_FILES = ("wodp.ttl", "departments.ttl", "themes.ttl", "open-types.ttl", "update-cycles.ttl",
                "licences.ttl")


def turtle_sources() -> dict[str, bytes]:
    """Return the ontology's Turtle files by name."""
    root = resources.files("ontology")
    return {name: root.joinpath(name).read_bytes() for name in TURTLE_FILES}
