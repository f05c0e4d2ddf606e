"""Serve the portal's home and search pages (zh-CN first, English with ?lang=en)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from server.portal.i18n import current_lang, link, translate
from server.search import FACETS

portal_bp = Blueprint("portal", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")

# URL parameter of each facet filter ("format" alone would clash with ?format=json).
FACET_PARAMS = {"department": "department", "theme": "theme", "format": "res_format", "open_type": "open_type"}
SORTS = ("relevance", "modified", "title")
NEWEST = 8


def platform():
    """Return the running platform (server.platform.Platform)."""
    return current_app.extensions["wodp"]


def render_page(template: str, lang: str, settings=None, **context) -> str:
    """Render a portal template with the words, links and site settings every page uses."""
    settings = settings or platform().settings
    other = "zh" if lang == "en" else "en"
    return render_template(
        template, lang=lang, html_lang="en" if lang == "en" else "zh-CN",
        t=lambda key, **values: translate(key, lang, **values),
        link=lambda path, params=None, keep_lang=True: link(path, lang if keep_lang else "zh", params),
        static=lambda name: url_for("portal.static", filename=name), site=settings.site,
        switch_href=link(request.path, other, _multi(request.args, exclude="lang")),
        site_name=settings.site.title_en if lang == "en" else settings.site.title_zh,
        site_description=settings.site.description_en if lang == "en" else settings.site.description_zh,
        **context,
    )


def _multi(args, exclude: str | None = None) -> dict[str, list[str]]:
    return {k: args.getlist(k) for k in args if k != exclude}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None and len(value) <= 100 else default
    except ValueError:
        return default


@portal_bp.route("/", methods=["GET", "HEAD"])
def home():
    """Show the counts, a search box, the themes and the newest datasets."""
    lang = current_lang()
    index = platform().search
    overview = index.search("", page_size=NEWEST, lang=lang, sort="modified")
    return render_page("portal_home.html", lang, stats=index.stats(), themes=overview.facets["theme"],
                       newest=overview.hits)


def _query() -> dict:
    filters = {facet: request.args.getlist(param) for facet, param in FACET_PARAMS.items()}
    sort = request.args.get("sort", "relevance")
    return {"q": request.args.get("q", "")[:500], "filters": filters,
            "page": _int(request.args.get("page"), 1), "sort": sort if sort in SORTS else "relevance"}


def _facet_links(result, filters: dict[str, list[str]], base: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for facet in FACETS:
        chosen = filters.get(facet) or []
        entries = []
        for value, label, count in result.facets.get(facet, []):
            selected = value in chosen
            values = [v for v in chosen if v != value] if selected else [*chosen, value]
            params = {**base, FACET_PARAMS[facet]: values, "page": None}
            entries.append({"value": value, "label": label, "count": count, "selected": selected,
                            "href": link("/datasets", current_lang(), params)})
        out[facet] = entries
    return out


def _pages(page: int, pages: int) -> list[int]:
    return [p for p in range(max(1, page - 3), min(pages, page + 3) + 1)]


def _as_json(result):
    return jsonify({
        "total": result.total, "page": result.page, "page_size": result.page_size, "hits": result.hits,
        "facets": {f: [{"value": v, "label": label, "count": n} for v, label, n in entries]
                   for f, entries in result.facets.items()},
    })


@portal_bp.route("/datasets", methods=["GET", "HEAD"])
def search():
    """Search the catalogue: words, facets, sorting, paging; JSON with ?format=json."""
    lang = current_lang()
    query = _query()
    size = platform().settings.search.page_size
    result = platform().search.search(query["q"], query["filters"], query["page"], size, lang, query["sort"])
    if request.args.get("format") == "json":
        return _as_json(result)
    base = _multi(request.args, exclude="lang")
    base.pop("format", None)
    return render_page(
        "portal_search.html", lang, result=result, q=query["q"], sort=query["sort"],
        facets=_facet_links(result, query["filters"], base),
        any_filter=any(query["filters"].values()),
        page_href=lambda p: link("/datasets", lang, {**base, "page": p}),
        sort_href=lambda s: link("/datasets", lang, {**base, "sort": s, "page": None}),
        clear_href=link("/datasets", lang, {"q": query["q"] or None}),
        page_numbers=_pages(result.page, result.pages), sorts=SORTS, facet_names=FACETS,
        title=translate("catalogue", lang),
    )
