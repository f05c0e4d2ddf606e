"""Dereference the platform's vocabulary IRIs (/def/...): an HTML page for browsers, RDF by Accept or suffix.

The terms are those of ontology/*.ttl. Their IRIs are fixed (``https://data.wuhan.gov.cn/def/...``,
``ontology.namespaces.DEF``) whatever ``base_uri`` a deployment serves under, because datasets carry them and a
catalogue harvested elsewhere must keep pointing at the same concept. ``<base_uri>/def/<path>`` answers for
``https://data.wuhan.gov.cn/def/<path>``; when the two differ, the answer names the term's own IRI in a
``Link: rel="canonical"`` header. Paths:

* ``/def/wodp`` — the ontology document: our classes, properties and concept schemes (``wodp#…`` hash IRIs);
* ``/def/department/D001``, ``/def/department-category/…``, ``/def/theme/…``, ``/def/open-type/…``,
  ``/def/update-cycle/…``, ``/def/spatialization/…`` — one concept each;
* a suffix (``.ttl``, ``.jsonld``, ``.rdf``, ``.nt``) or ``format=`` picks the format; an unknown term is a 404.
"""

from __future__ import annotations

from functools import cache
from html import escape

import re

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, request

from core.errors import NotFoundError
from ontology.namespaces import DEF
from server import http, rdf_response
from server.catalogue import vocabulary_triples
from server.portal.i18n import normalize_lang
from server.rdf_response import HTML

bp = Blueprint("vocab", __name__)

KINDS = ("department", "department-category", "theme", "open-type", "update-cycle", "spatialization", "crs")
# terms minted while mapping other catalogues, under the site's base URI (docs/sources.md): described by the
# dataset graphs that use them, so they are read from the store
MINTED = ("org", "theme-of")
_SEGMENTS = re.compile(r"[a-z-]+/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+")
ONTOLOGY = "wodp"
LABELS = ("http://www.w3.org/2004/02/skos/core#prefLabel", "http://www.w3.org/2000/01/rdf-schema#label",
          "http://xmlns.com/foaf/0.1/name")


@cache
def _by_subject() -> dict[str, tuple[ox.Triple, ...]]:
    out: dict[str, list[ox.Triple]] = {}
    for t in vocabulary_triples():
        if isinstance(t.subject, ox.NamedNode):
            out.setdefault(t.subject.value, []).append(t)
    return {s: tuple(ts) for s, ts in out.items()}


def term_triples(iri: str) -> list[ox.Triple]:
    """Return the description of a term (or, for the ontology document, of every ``wodp#`` term)."""
    subjects = _by_subject()
    if iri == DEF + ONTOLOGY:
        return [t for s, ts in subjects.items() if s == iri or s.startswith(iri + "#") for t in ts]
    return list(subjects.get(iri, ()))


def minted_triples(iri: str) -> list[ox.Triple]:
    """Return what the published dataset graphs say of an organisation or a source's theme minted by a mapping."""
    store = current_app.extensions["wodp"].store
    answer = store.query(f"CONSTRUCT {{ <{iri}> ?p ?o }} WHERE {{ GRAPH ?g {{ <{iri}> ?p ?o }} }}")
    return list(dict.fromkeys(answer))


def _label(iri: str, lang: str) -> str:
    names = [t.object for t in _by_subject().get(iri, ()) if t.predicate.value in LABELS
             and isinstance(t.object, ox.Literal)]
    for wanted in (lang, "zh", "en", ""):
        for n in names:
            if (n.language or "").startswith(wanted):
                return n.value
    return iri


def _cell(term, lang: str) -> str:
    if isinstance(term, ox.NamedNode):
        href = term.value.replace(DEF, "/def/", 1) if term.value.startswith(DEF) else term.value
        label = _label(term.value, lang)
        return f'<a href="{escape(href)}">{escape(label)}</a>'
    suffix = f' <small>@{escape(term.language)}</small>' if getattr(term, "language", None) else ""
    return escape(term.value) + suffix


def render_html(iri: str, triples: list[ox.Triple], lang: str) -> str:
    """Return a plain page describing a term: one table per subject."""
    subjects: dict[str, list[ox.Triple]] = {}
    for t in triples:
        subjects.setdefault(t.subject.value, []).append(t)
    sections = []
    for subject, ts in subjects.items():
        rows = "".join(f"<tr><th>{_cell(t.predicate, lang)}</th><td>{_cell(t.object, lang)}</td></tr>" for t in ts)
        sections.append(f'<section id="{escape(subject.rpartition("#")[2])}"><h2>{escape(_label(subject, lang))}'
                        f'</h2><p><code>{escape(subject)}</code></p><table>{rows}</table></section>')
    title = escape(_label(iri, lang))
    html_lang = "en" if lang == "en" else "zh-CN"
    alternates = " · ".join(f'<a href="?format={f}">{f}</a>' for f in ("ttl", "jsonld", "rdf", "nt"))
    return (f"<!doctype html><html lang='{html_lang}'><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p><code>{escape(iri)}</code> — {alternates}</p>{''.join(sections)}</body></html>")


@bp.route("/def/<path:path>", methods=["GET", "HEAD"])
def term(path: str):
    """Answer the description of one vocabulary term, by content negotiation."""
    name, fmt = rdf_response.split_suffix(path)
    kind = name.split("/", 1)[0]
    if kind in MINTED and name.count("/") == 2 and _SEGMENTS.fullmatch(name):
        iri = f"{current_app.extensions['wodp'].settings.base_uri}/def/{name}"
        triples = minted_triples(iri)
    elif name == ONTOLOGY or (kind in KINDS and name.count("/") == 1):
        iri = DEF + name
        triples = term_triples(iri)
    else:
        raise NotFoundError(f"no vocabulary term /def/{path}")
    if not triples:
        raise NotFoundError(f"no term {iri} in our vocabularies")
    if fmt is None:
        fmt = rdf_response.choose(html_default=True)
    lang = normalize_lang(request.args.get("lang"))
    etag = http.etag_for("def", iri, getattr(fmt, "media_type", fmt), lang)
    if fmt == HTML:
        response = Response(render_html(iri, triples, lang), mimetype="text/html")
    else:
        response = Response(rdf_response.serialize(triples, fmt), content_type=rdf_response.content_type(fmt))
    base = current_app.extensions["wodp"].settings.base_uri
    if not DEF.startswith(base.rstrip("/") + "/"):
        response.headers["Link"] = f'<{iri}>; rel="canonical"'
    response.vary.add("Accept")
    return http.conditional(response, etag, None)
