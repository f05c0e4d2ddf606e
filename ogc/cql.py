"""Evaluate CQL2 filters (parsed by pygeoapi with pygeofilter) on features, the same way on every backend.

pygeoapi parses ``filter`` (CQL2 text) into a pygeofilter AST and hands it to the provider as ``filterq``.
``compile_filter`` turns it into a predicate over GeoJSON features with pygeofilter's native evaluator; the
provider runs the rest of the query in the feature store and keeps the features the predicate accepts
(``FeatureStoreProvider``), so SQLite and PostGIS answer alike.

What is accepted: comparisons, ``LIKE``, ``BETWEEN``, ``IN``, ``IS NULL``, ``AND``/``OR``/``NOT`` on the
collection's queryables and ``id`` (Basic CQL2), and the spatial comparisons on ``geometry`` in the storage
CRS. Function calls are refused: pygeofilter's native evaluator compiles the AST to a Python expression with
``eval``, and a function name would reach Python's builtins. An unknown property is refused (400), as the
Basic CQL2 requirements ask.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable, Iterable, Mapping

GEOMETRY = "geometry"


class FilterError(ValueError):
    """The filter cannot be evaluated here (the message names what)."""


def _walk(node) -> Iterable[Any]:
    from pygeofilter import ast

    yield node
    if isinstance(node, ast.Node):
        for child in node.get_sub_nodes():
            yield from _walk(child)
    elif isinstance(node, (list, tuple)):
        for child in node:
            yield from _walk(child)


def check_filter(filterq, fields: Iterable[str]) -> None:
    """Refuse function calls and properties that are not queryables of the collection."""
    from pygeofilter import ast

    known = set(fields) | {"id", GEOMETRY}
    for node in _walk(filterq):
        if isinstance(node, ast.Function):
            raise FilterError(f"CQL2 functions are not supported here ({node.name})")
        if isinstance(node, ast.Attribute) and node.name not in known:
            raise FilterError(f"{node.name!r} is not a queryable of this collection")


def _typed(value, kind: str):
    """Read a stored value as its declared kind (numbers kept as text by a CSV, dates as ISO text)."""
    if value is None or kind == "string":
        return value
    try:
        if kind in ("number", "integer") and isinstance(value, str):
            number = float(value)
            return int(number) if number.is_integer() else number
        if kind == "date" and isinstance(value, str):
            return date.fromisoformat(value) if len(value) == 10 else \
                datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind == "boolean" and isinstance(value, str):
            return {"true": True, "false": False}.get(value.lower(), value)
    except ValueError:
        return value
    return value


def compile_filter(filterq, fields: Mapping[str, str]) -> Callable[[dict], bool]:
    """Return a predicate over GeoJSON features for a pygeofilter AST (FilterError when refused).

    ``fields`` maps each queryable to its kind (string, number, integer, boolean, date): values are compared as
    that kind, so ``"客流" > 40000`` works on a CSV's text and ``updated > DATE('2026-10-01')`` on ISO dates.
    """
    from pygeofilter.backends.native.evaluate import NativeEvaluator

    kinds = dict(fields)
    fields = list(kinds)
    check_filter(filterq, fields)
    attributes = {name: f"properties.{name}" for name in fields if "." not in name}
    attributes.update({"id": "id", GEOMETRY: GEOMETRY})
    dotted = [name for name in fields if "." in name]
    if any(node_name in dotted for node_name in _attribute_names(filterq)):
        raise FilterError("properties whose names contain '.' cannot be filtered")
    try:
        test = NativeEvaluator(attribute_map=attributes, use_getattr=False).evaluate(filterq)
    except Exception as exc:  # pygeofilter raises plain exceptions for what it cannot express
        raise FilterError(f"this filter cannot be evaluated: {exc}") from exc

    def predicate(feature: dict) -> bool:
        props = feature.get("properties") or {}
        typed = {**feature, "properties": {k: _typed(v, kinds.get(k, "string")) for k, v in props.items()}}
        try:
            return bool(test(typed))
        except (TypeError, ValueError, AttributeError, KeyError):  # e.g. comparing a missing value or a str to a number
            return False

    return predicate


def _attribute_names(filterq) -> list[str]:
    from pygeofilter import ast

    return [node.name for node in _walk(filterq) if isinstance(node, ast.Attribute)]
