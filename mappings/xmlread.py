"""Parse XML safely (no DTD, no entities) into nested dicts keyed by local names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from core.bounded import InputRefusedError
from core.xmlsafe import parse_xml
from mappings.errors import MappingInputError

# Wrappers whose single child carries the value (ISO 19139 gco:CharacterString, gmx:Anchor …).
_VALUE_NS = ("http://www.isotc211.org/2005/gco", "http://www.isotc211.org/2005/gmx")
MAX_DEPTH = 64


def xml_to_tree(data: bytes | str, filename: str, limits: Any = None) -> dict[str, Any]:
    """Parse XML into {root local name: content} through core.xmlsafe (no DTD, no entity, bounded)."""
    from config.settings import InputLimits

    limits = limits or InputLimits()
    try:
        root = parse_xml(data, filename, limits)
    except InputRefusedError as exc:
        raise MappingInputError(exc.what, file=filename, status=exc.status) from None
    return {_local(root.tag): _convert(root, 0, filename)}


def _local(tag: str) -> str:
    """Return the local name of a {namespace}name tag or attribute."""
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _convert(elem: ET.Element, depth: int, filename: str) -> Any:
    """Convert an element: text for a plain leaf, else a dict of children, '@attributes' and '#text'."""
    if depth > MAX_DEPTH:
        raise MappingInputError(f"XML nested deeper than {MAX_DEPTH} levels", file=filename)
    children = list(elem)
    attrs = {"@" + _local(k): v for k, v in elem.attrib.items() if _local(k) != "schemaLocation"}
    if len(children) == 1 and _namespace(children[0].tag) in _VALUE_NS and not _meaningful(attrs):
        return _convert(children[0], depth + 1, filename)
    body = (elem.text or "").strip()
    if not children and not attrs:
        return body
    node: dict[str, Any] = dict(attrs)
    if body:
        node["#text"] = body
    for child in children:
        name, value = _local(child.tag), _convert(child, depth + 1, filename)
        if _namespace(child.tag) in _VALUE_NS and "#text" not in node and isinstance(value, str) and value:
            node["#text"] = value
        if name in node:
            existing = node[name]
            node[name] = existing + [value] if isinstance(existing, list) else [existing, value]
        else:
            node[name] = value
    return node


def _meaningful(attrs: dict[str, str]) -> bool:
    """Tell whether attributes carry more than ISO nil reasons or ids."""
    return any(k not in ("@nilReason", "@id", "@uuid", "@type") for k in attrs)
