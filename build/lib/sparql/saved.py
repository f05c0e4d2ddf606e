"""Read the saved queries of sparql/queries/*.rq and bind their $parameters."""

from __future__ import annotations

import re
from importlib import resources


def saved_queries() -> dict[str, str]:
    """Return the saved queries by name (file name without .rq)."""
    root = resources.files("sparql").joinpath("queries")
    return {p.name[:-3]: p.read_text("utf-8") for p in root.iterdir() if p.name.endswith(".rq")}


def bind(query: str, **values: str) -> str:
    """Replace $name by an RDF term written in SPARQL syntax (an <IRI> or a "literal"@lang)."""
    def repl(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for ${name}")
        return values[name]

    return re.sub(r"\$([A-Za-z_]\w*)", repl, query)
