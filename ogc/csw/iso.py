"""Write the ISO 19139 gmd:MD_Metadata document of one dataset (fields read by ogc.csw.records)."""

from __future__ import annotations

from functools import cache

from lxml import etree

NS = {"gmd": "http://www.isotc211.org/2005/gmd", "gco": "http://www.isotc211.org/2005/gco",
      "gml": "http://www.opengis.net/gml/3.2", "xlink": "http://www.w3.org/1999/xlink",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
CODELISTS = "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml"
SCHEMA_LOCATION = "http://www.isotc211.org/2005/gmd http://schemas.opengis.net/csw/2.0.2/profiles/apiso/1.0.0/apiso.xsd"
WODP_THEMES = "https://data.wuhan.gov.cn/def/theme/"
EU_THEMES = "http://publications.europa.eu/resource/authority/data-theme/"


@cache
def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _el(parent, name: str, text: str | None = None, **attrib):
    node = etree.SubElement(parent, _q(name))
    for key, value in attrib.items():  # gco_nilReason → gco:nilReason
        node.set(_q(key.replace("_", ":", 1)) if "_" in key else key, value)
    if text is not None:
        node.text = text
    return node


def _string(parent, name: str, text: str, en: str | None = None):
    """Add name/gco:CharacterString, with an English PT_FreeText when en is given."""
    node = _el(parent, name)
    _el(node, "gco:CharacterString", text)
    if en:
        node.set(_q("xsi:type"), "gmd:PT_FreeText_PropertyType")
        group = _el(_el(_el(node, "gmd:PT_FreeText"), "gmd:textGroup"), "gmd:LocalisedCharacterString", en)
        group.set("locale", "#locale-en")
    return node


def _code(parent, name: str, code_list: str, value: str):
    return _el(_el(parent, name), f"gmd:{code_list}", value, codeList=f"{CODELISTS}#{code_list}",
               codeListValue=value)


def _party(parent, name: str, organisation: str | None, role: str, contact: dict | None = None) -> None:
    party = _el(_el(parent, name), "gmd:CI_ResponsibleParty")
    _string(party, "gmd:organisationName", organisation or "")
    contact = contact or {}
    if contact.get("phone") or contact.get("email"):
        info = _el(_el(party, "gmd:contactInfo"), "gmd:CI_Contact")
        if contact.get("phone"):
            _string(_el(_el(info, "gmd:phone"), "gmd:CI_Telephone"), "gmd:voice", contact["phone"])
        if contact.get("email"):
            _string(_el(_el(info, "gmd:address"), "gmd:CI_Address"), "gmd:electronicMailAddress", contact["email"])
    _code(party, "gmd:role", "CI_RoleCode", role)


def _date(parent, value: str, kind: str) -> None:
    ci = _el(_el(parent, "gmd:date"), "gmd:CI_Date")
    _el(_el(ci, "gmd:date"), "gco:DateTime" if "T" in value else "gco:Date", value)
    _code(ci, "gmd:dateType", "CI_DateTypeCode", kind)


def _keywords(parent, words: list[str], kind: str, thesaurus: str | None = None) -> None:
    if not words:
        return
    node = _el(_el(parent, "gmd:descriptiveKeywords"), "gmd:MD_Keywords")
    for word in words:
        _string(node, "gmd:keyword", word)
    _code(node, "gmd:type", "MD_KeywordTypeCode", kind)
    if thesaurus:
        citation = _el(_el(node, "gmd:thesaurusName"), "gmd:CI_Citation")
        _string(citation, "gmd:title", thesaurus)
        _el(citation, "gmd:date", **{"gco_nilReason": "unknown"})


def _identification(root, d: dict) -> None:
    ident = _el(_el(root, "gmd:identificationInfo"), "gmd:MD_DataIdentification")
    citation = _el(_el(ident, "gmd:citation"), "gmd:CI_Citation")
    _string(citation, "gmd:title", d["title"], d["title_en"])
    for value, kind in ((d["issued"], "publication"), (d["modified"], "revision")):
        if value:
            _date(citation, value, kind)
    if not (d["issued"] or d["modified"]):
        _el(citation, "gmd:date", **{"gco_nilReason": "unknown"})
    _string(_el(_el(citation, "gmd:identifier"), "gmd:MD_Identifier"), "gmd:code", d["id"])
    _string(ident, "gmd:abstract", d["abstract"], d["abstract_en"])
    if d["publisher"]:
        _party(ident, "gmd:pointOfContact", d["publisher"], "publisher")
    _keywords(ident, d["keywords"], "theme")
    for prefix, thesaurus in ((WODP_THEMES, "武汉市政府开放数据主题 Wuhan open data themes"),
                              (EU_THEMES, "EU Vocabularies Data Theme")):
        _keywords(ident, [label for uri, label in d["themes"] if uri.startswith(prefix)], "theme", thesaurus)
    if d["access"] or d["licenses"]:
        legal = _el(_el(ident, "gmd:resourceConstraints"), "gmd:MD_LegalConstraints")
        _code(legal, "gmd:accessConstraints", "MD_RestrictionCode", "otherRestrictions")
        for value in ([d["access"]] if d["access"] else []) + d["licenses"]:
            _string(legal, "gmd:otherConstraints", value)
    _code(ident, "gmd:language", "LanguageCode", d["language"])
    if d["topic"]:
        _el(_el(ident, "gmd:topicCategory"), "gmd:MD_TopicCategoryCode", d["topic"])
    _extent(ident, d)


def _extent(ident, d: dict) -> None:
    if not (d["bbox"] or d["begin"] or d["end"]):
        return
    extent = _el(_el(ident, "gmd:extent"), "gmd:EX_Extent")
    if d["bbox"]:
        box = _el(_el(extent, "gmd:geographicElement"), "gmd:EX_GeographicBoundingBox")
        for name, value in zip(("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude",
                                "northBoundLatitude"), (d["bbox"][0], d["bbox"][2], d["bbox"][1], d["bbox"][3])):
            _el(_el(box, f"gmd:{name}"), "gco:Decimal", repr(round(value, 6)))
    if d["begin"] or d["end"]:
        period = _el(_el(_el(extent, "gmd:temporalElement"), "gmd:EX_TemporalExtent"), "gmd:extent")
        period = _el(period, "gml:TimePeriod", **{"gml_id": "period-1"})
        for name, value in (("gml:beginPosition", d["begin"]), ("gml:endPosition", d["end"])):
            if value:
                _el(period, name, value)
            else:
                _el(period, name, indeterminatePosition="unknown")


def _distribution(root, d: dict) -> None:
    if not (d["formats"] or d["links"]):
        return
    dist = _el(_el(root, "gmd:distributionInfo"), "gmd:MD_Distribution")
    for fmt in d["formats"]:
        md_format = _el(_el(dist, "gmd:distributionFormat"), "gmd:MD_Format")
        _string(md_format, "gmd:name", fmt)
        _el(md_format, "gmd:version", **{"gco_nilReason": "inapplicable"})
    if d["links"]:
        options = _el(_el(dist, "gmd:transferOptions"), "gmd:MD_DigitalTransferOptions")
        for link in d["links"]:
            resource = _el(_el(options, "gmd:onLine"), "gmd:CI_OnlineResource")
            _el(_el(resource, "gmd:linkage"), "gmd:URL", link["url"])
            _string(resource, "gmd:protocol", link["protocol"])
            _string(resource, "gmd:name", link["name"])
            _string(resource, "gmd:description", link["description"])


def iso_document(d: dict):
    """Return the gmd:MD_Metadata element of the dataset fields d."""
    root = etree.Element(_q("gmd:MD_Metadata"), nsmap=NS)
    root.set(_q("xsi:schemaLocation"), SCHEMA_LOCATION)
    _string(root, "gmd:fileIdentifier", d["uri"])
    _code(root, "gmd:language", "LanguageCode", d["language"])
    _code(root, "gmd:characterSet", "MD_CharacterSetCode", "utf8")
    _code(root, "gmd:hierarchyLevel", "MD_ScopeCode", "dataset")
    contact = d["contact"]
    _party(root, "gmd:contact", contact.get("name") or d["publisher"], "pointOfContact", contact)
    _el(_el(root, "gmd:dateStamp"), "gco:DateTime", d["record_modified"] or d["modified"] or "")
    _string(root, "gmd:metadataStandardName", "ISO 19115:2003/19139")
    _string(root, "gmd:metadataStandardVersion", "1.0")
    _string(root, "gmd:dataSetURI", d["uri"])
    if d["title_en"] or d["abstract_en"]:
        locale = _el(_el(root, "gmd:locale"), "gmd:PT_Locale", id="locale-en")
        _code(locale, "gmd:languageCode", "LanguageCode", "eng")
        _code(locale, "gmd:characterEncoding", "MD_CharacterSetCode", "utf8")
    for crs in d["crs"]:
        code = crs.rstrip("/").rsplit("/", 1)[-1]
        identifier = _el(_el(_el(_el(root, "gmd:referenceSystemInfo"), "gmd:MD_ReferenceSystem"),
                             "gmd:referenceSystemIdentifier"), "gmd:RS_Identifier")
        _string(identifier, "gmd:code", code)
        _string(identifier, "gmd:codeSpace", "EPSG" if "/EPSG/" in crs else crs)
    _identification(root, d)
    _distribution(root, d)
    return root
