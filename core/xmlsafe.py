"""Read XML from outside with no DTD and no entity: the one check every XML input passes before it is parsed.

pyoxigraph expands entities as they are declared (a 1,009-byte "billion laughs" grew a server by gigabytes)
and expat, lxml and openpyxl each have their own idea of DTDs, so every XML document the platform reads from
outside goes through ``check_xml`` (or ``parse_xml``, which also builds the tree) first:

- its encoding is found as XML says (byte-order mark, UTF-16 without one, the declaration), else UTF-8, else
  GB18030, so a UTF-16 copy of an attack is read as what it is;
- a document type declaration is refused outright, naming the entities it declares (billion laughs,
  quadratic blowup) or the external file it points to (``SYSTEM "file:///etc/passwd"``): nothing in a DTD
  is ever read, expanded or fetched;
- its size (``xml_max_bytes``) and element nesting (``xml_max_depth``) are bounded, the nesting while it
  is read (pyoxigraph's RDF/XML reader slows to a crawl on deeply nested elements).
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from typing import Any

from core.bounded import InputLimitError, InputRefusedError, bound

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DECLARATION = re.compile(rb"<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z][\w.:-]{0,40})[\"'][^>]{0,200}?\?>")
_TEXT_DECLARATION = re.compile(r"^\s*<\?xml[^>]{0,300}?\?>")
_ENTITY = re.compile(r"<!ENTITY\s+(%\s+)?([^\s>]{1,100})")
_EXTERNAL = re.compile(r"\b(SYSTEM|PUBLIC)\s+(?:\"[^\"]{0,300}\"\s+)?[\"']([^\"']{0,300})[\"']")
_UNUSABLE = re.compile("[\ud800-\udfff]")


class _Refused(Exception):
    """Raised inside an expat handler to stop the parse."""


def xml_text(data: bytes | str, name: str) -> str:
    """Decode an XML document as XML itself says (BOM, UTF-16 pattern, declaration), else UTF-8, else GB18030."""
    return _decode(data, name)[0]


def _decode(data: bytes | str, name: str) -> tuple[str, str]:
    if isinstance(data, str):
        return data, "str"
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None and data[:2] in (b"<\x00", b"\x00<"):
        encoding = "utf-16-le" if data[:1] == b"<" else "utf-16-be"
    if encoding is None:
        match = _DECLARATION.match(data[:512])
        if match:
            declared = match.group(1).decode("ascii").lower()
            try:
                encoding = codecs.lookup(declared).name
            except LookupError:
                raise InputRefusedError(f"the XML declaration names an unknown encoding {declared!r}",
                                        name=name) from None
            encoding = {"utf-8": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030"}.get(encoding, encoding)
    for candidate in ([encoding] if encoding else ["utf-8-sig", "gb18030"]):
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError as exc:
            error = exc
    raise InputRefusedError(f"not {encoding or 'UTF-8 or GB18030'} text (bad byte at offset {error.start})",
                            name=name) from None


def check_xml(data: bytes | str, name: str, limits: Any) -> str:
    """Check an XML document (size, no DTD, nesting, well-formed) and return it as text; raise if refused."""
    return _check(data, name, limits)[0]


def _check(data: bytes | str, name: str, limits: Any) -> tuple[str, str]:
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > limits.xml_max_bytes:
        raise InputLimitError(f"{size} bytes of XML, more than {bound('xml_max_bytes', limits.xml_max_bytes)}",
                              name=name)
    text, encoding = _decode(data, name)
    unusable = _UNUSABLE.search(text)
    if unusable:
        raise InputRefusedError(f"a lone surrogate (U+{ord(unusable.group()):04X}) at character "
                                f"{unusable.start()} is not text XML can carry", name=name)
    parser = expat.ParserCreate()
    depth = [0]

    def doctype(doctype_name, system_id, public_id, has_internal_subset):
        raise _Refused(_doctype_message(text, doctype_name, parser.CurrentLineNumber))

    def start(_tag, _attrs):
        depth[0] += 1
        if depth[0] > limits.xml_max_depth:
            raise _Refused(None)

    def end(_tag):
        depth[0] -= 1

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(text, True)
    except _Refused as exc:
        if exc.args[0] is None:
            raise InputLimitError(f"elements nested deeper than {bound('xml_max_depth', limits.xml_max_depth)} "
                                  f"(line {parser.CurrentLineNumber})", name=name) from None
        raise InputRefusedError(exc.args[0], name=name) from None
    except expat.ExpatError as exc:
        raise InputRefusedError(f"malformed XML: {expat.errors.messages.get(exc.code, exc)} (line {exc.lineno}, "
                                f"column {exc.offset + 1})", name=name) from None
    return text, encoding


def _doctype_message(text: str, doctype_name: str, line: int) -> str:
    """Say what a refused DTD holds: the entities it declares, the external file it names."""
    start = text.find("<!DOCTYPE")
    window = text[max(start, 0):][:65536]
    entities = [m.group(2) for m in _ENTITY.finditer(window)]
    external = _EXTERNAL.search(window)
    what = f"XML with a document type declaration (<!DOCTYPE {doctype_name}> at line {line}) is refused: "
    if entities:
        shown = ", ".join(entities[:5]) + (f" and {len(entities) - 5} more" if len(entities) > 5 else "")
        what += f"it declares {len(entities)} entit{'y' if len(entities) == 1 else 'ies'} ({shown})"
        what += (f" naming an external resource ({external.group(2)}); entities are never expanded and external "
                 "resources never read here (XXE)" if external else
                 "; entities are never expanded here (nested ones grow to gigabytes: 'billion laughs')")
    elif external:
        what += f"it names an external resource ({external.group(2)}), which is never read"
    else:
        what += "DTDs are not read here"
    return what + "; send the document without its DOCTYPE"


def parse_xml(data: bytes | str, name: str, limits: Any) -> ET.Element:
    """Check an XML document (check_xml) and build its element tree with defusedxml (DTDs forbidden)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    text = check_xml(data, name, limits)
    try:
        return fromstring(_TEXT_DECLARATION.sub("", text, count=1), forbid_dtd=True)
    except DefusedXmlException as exc:  # check_xml refused any DTD already; kept as a second lock
        raise InputRefusedError(f"XML with a DTD or entities is refused ({exc})", name=name) from None
    except ET.ParseError as exc:
        raise InputRefusedError(f"malformed XML: {exc}", name=name) from None


def utf8_xml(data: bytes, name: str, limits: Any) -> bytes:
    """Check an XML document and return it as UTF-8 bytes (a UTF-16 or GB18030 one re-encoded, undeclared)."""
    text, encoding = _check(data, name, limits)
    if encoding in ("utf-8", "utf-8-sig", "ascii", "str"):
        return data if isinstance(data, bytes) else data.encode("utf-8")
    return _TEXT_DECLARATION.sub("", text, count=1).encode("utf-8")
