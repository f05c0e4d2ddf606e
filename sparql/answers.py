"""Read the answers of a remote SPARQL engine: JSON results into rows, and answers the engine cut short."""

from __future__ import annotations

import re
from typing import Sequence

import httpx
import pyoxigraph as ox

TIMED_OUT_STATE = "S1TAT"  # Virtuoso's X-SQL-State when it stopped a query at its limit and answers part of it


def cut_short(response: httpx.Response) -> str | None:
    """Say why an engine's answer is incomplete although it is a 200 (Virtuoso's limits), or None."""
    if response.headers.get("x-sql-state", "").strip() == TIMED_OUT_STATE:
        return "the engine stopped the query at its own time limit and answered only part of it"
    rows = response.headers.get("x-sparql-maxrows")
    if rows:
        return f"the engine cut the answer at {rows} rows (its ResultSetMaxRows)"
    return None


STOPPED_WORDS = ("cancelled", "canceled", "timeout", "time limit", "timed out")


def broken_off(body: bytes, exc: Exception) -> tuple[str, bool]:
    """Say why a 200 answer could not be read whole, and whether the engine stopped the query itself.

    An engine that streams its answer has sent its 200 before the query ends; when it stops the query later (its
    own time limit: ``oxigraph serve --timeout-s``), it can only break the answer off, and Oxigraph server writes
    its message ("The SPARQL operation has been cancelled") after the part it sent. Such an answer is never passed
    on as if it were whole: the parser's error names it, and the engine's words at its end tell a stop."""
    tail = " ".join(body[-300:].decode("utf-8", "replace").split())
    stopped = any(word in tail.lower() for word in STOPPED_WORDS)
    if stopped:
        return (f"the engine stopped the query at its own time limit and broke off its answer (which ends: "
                f"{tail[-120:]!r})"), True
    return f"its answer is not whole ({' '.join(str(exc).split())[:200]})", False


class Row:
    """One solution of a SELECT answer: terms by position (``row[0]``) or by name (``row["g"]``)."""

    __slots__ = ("_names", "_terms")

    def __init__(self, names: Sequence[str], terms: Sequence) -> None:
        self._names, self._terms = names, terms

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._terms[key]
        try:
            return self._terms[self._names.index(key)]
        except ValueError:
            return None

    def __iter__(self):
        return iter(self._terms)

    def __len__(self) -> int:
        return len(self._terms)


def json_term(value: dict | None, codec=None):
    """The pyoxigraph term of one SPARQL JSON result term (SPARQL 1.0 ``typed-literal`` and Virtuoso's
    ``nodeID://`` blank nodes included), decoded by the engine's codec."""
    if value is None:
        return None
    kind = value.get("type")
    if kind == "uri":
        return ox.NamedNode(value["value"])
    if kind == "bnode":
        return ox.BlankNode(re.sub(r"[^A-Za-z0-9_]", "_", value["value"].removeprefix("nodeID://")) or "b")
    if "xml:lang" in value:
        term = ox.Literal(value["value"], language=value["xml:lang"])
    elif "datatype" in value:
        term = ox.Literal(value["value"], datatype=ox.NamedNode(value["datatype"]))
    else:
        term = ox.Literal(value["value"])
    return codec.decode_term(term) if codec is not None else term


def json_boolean(answer: dict) -> bool | None:
    """The answer of an ASK in SPARQL JSON; Virtuoso 7 writes it as one row of ``__ASK_RETVAL`` (1 or none)."""
    if "boolean" in answer:
        return bool(answer["boolean"])
    if answer.get("head", {}).get("vars") == ["__ASK_RETVAL"]:
        rows = answer["results"]["bindings"]
        return bool(rows) and rows[0].get("__ASK_RETVAL", {}).get("value", "0") not in ("0", "false")
    return None
