"""Write OWS ExceptionReports as pycsw does: OWS 1.0 for CSW 2.0.2, OWS 2.0 for CSW 3.0 (standard library only).

Used on both sides of /csw: by the Flask blueprint when the pycsw process cannot answer, and by the WSGI app
inside pycsw's environment for requests it refuses before pycsw sees them.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

OWS = {"2.0.2": ("http://www.opengis.net/ows", "1.2.0", "http://schemas.opengis.net/ows/1.0.0/owsExceptionReport.xsd"),
       "3.0.0": ("http://www.opengis.net/ows/2.0", "3.0.0", "http://schemas.opengis.net/ows/2.0/owsExceptionReport.xsd")}
CONTENT_TYPE = "application/xml; charset=UTF-8"
DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def request_version(query: str, body: bytes = b"") -> str:
    """Return the CSW version a request asks for, as pycsw decides it (3.0.0 unless 2.0.2 is named)."""
    if body:
        return "2.0.2" if b"cat/csw/2.0.2" in body else "3.0.0"
    kvp = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    if kvp.get("version") == "2.0.2" or "2.0.2" in kvp.get("acceptversions", ""):
        return "2.0.2"
    return "3.0.0"


def exception_report(version: str, code: str, locator: str, text: str, language: str = "en-US") -> bytes:
    """Return an ows:ExceptionReport document of the request's version."""
    ns, report_version, xsd = OWS.get(version, OWS["3.0.0"])
    lang = f"language={quoteattr(language)}" if version == "2.0.2" else f"xml:lang={quoteattr(language)}"
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            f'<ows:ExceptionReport xmlns:ows="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'version="{report_version}" {lang} xsi:schemaLocation="{ns} {xsd}">'
            f'<ows:Exception exceptionCode={quoteattr(code)} locator={quoteattr(locator)}>'
            f'<ows:ExceptionText>{escape(text)}</ows:ExceptionText></ows:Exception></ows:ExceptionReport>'
            ).encode("utf-8")


def has_doctype(body: bytes) -> bool:
    """Tell whether an XML body declares a DTD or entities (refused: no XXE, no entity expansion), in any
    encoding XML allows (a UTF-16 body is decoded first: core.xmlsafe)."""
    from core.bounded import InputRefusedError
    from core.xmlsafe import xml_text

    if DOCTYPE.search(body):
        return True
    try:
        text = xml_text(body, "request body")
    except InputRefusedError:
        return False  # not text: pycsw answers the parse error
    return bool(DOCTYPE.search(text.encode("utf-8", "replace")))
