"""Hold the portal's words in Chinese and English, and read the language of a request."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import has_request_context, request

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    # key: (zh-CN, en)
    "home": ("首页", "Home"),
    "catalogue": ("数据目录", "Data catalogue"),
    "sparql": ("SPARQL", "SPARQL"),
    "developers": ("开发者接口", "Developer APIs"),
    "requests_menu": ("数据需求", "Data requests"),
    "switch": ("English", "中文"),
    "search": ("搜索", "Search"),
    "showcase": ("应用成果", "Apps and results"),  # the menu of every page (portal_base.html)
    "search_placeholder": ("搜索数据集，如：交通、教育、公交车", "Search datasets, e.g. transport, schools"),
    "stat_datasets": ("数据集", "datasets"),
    "stat_departments": ("提供部门", "departments"),
    "stat_spatial": ("空间数据集", "spatial datasets"),
    "stat_distributions": ("数据资源文件", "distributions"),
    "stat_downloadable": ("可下载数据集", "downloadable datasets"),
    "themes": ("数据领域", "Themes"),
    "newest": ("最新更新", "Recently updated"),
    "all_datasets": ("全部数据集", "All datasets"),
    "total_before": ("共 ", ""),
    "total_after": (" 个数据集", " datasets"),
    "no_results": ("没有找到符合条件的数据集。", "No dataset matches your search."),
    "page_empty": ("该页没有数据集，共 {pages} 页。", "This page has no datasets; there are {pages} pages."),
    "first_page": ("回到第一页", "Back to the first page"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page_of": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "sort": ("排序", "Sort"),
    "sort_relevance": ("相关度", "Relevance"),
    "sort_modified": ("更新时间", "Last updated"),
    "sort_title": ("名称", "Title"),
    "clear_filters": ("清除筛选", "Clear filters"),
    "facet_department": ("提供部门", "Department"),
    "facet_theme": ("数据领域", "Theme"),
    "facet_format": ("数据格式", "Format"),
    "facet_open_type": ("开放类型", "Open type"),
    "modified_on": ("更新于", "Updated"),
    # the Chinese core metadata (GB/T 21063, DB4201/T 677.1)
    "f_title": ("资源名称", "Title"),
    "f_code": ("资源代码", "Resource code"),
    "f_identifier": ("数据集标识", "Identifier"),
    "f_publisher": ("资源提供方", "Publisher"),
    "f_description": ("资源摘要", "Description"),
    "f_theme": ("资源分类/主题", "Theme"),
    "f_keyword": ("关键字", "Keywords"),
    "f_open_type": ("开放类型", "Open type"),
    "f_open_condition": ("开放条件", "Open condition"),
    "f_cycle": ("更新周期", "Update cycle"),
    "f_issued": ("发布日期", "Issued"),
    "f_modified": ("更新日期", "Last modified"),
    "f_volume": ("数据量", "Data volume"),
    "quality": ("数据质量", "Quality"),
    "q_qualityScore": ("质量得分", "Quality score"),
    "q_completeness": ("完整性", "Completeness"),
    "q_freshness": ("时效性", "Freshness"),
    "q_conformance": ("规范性", "Conformance"),
    "q_linkAvailability": ("链接可用性", "Link availability"),
    "q_department": ("提供部门平均得分", "Department's mean score"),
    "q_note": ("得分 0–100：完整性 40%、时效性 30%、规范性 30%；各项 0–1，发布时测量。",
               "Score 0–100: completeness 40%, freshness 30%, conformance 30%; each measure 0–1, taken at publication."),
    "f_contact": ("联系方式", "Contact point"),
    "f_spatial": ("空间范围", "Spatial coverage"),
    "records": (" 条", " records"),
    "bbox": ("东经 {w}–{e}，北纬 {s}–{n}（CGCS2000）", "{w}–{e}°E, {s}–{n}°N (CGCS2000)"),
    "breadcrumb": ("当前位置", "You are here"),
    "interfaces": ("开发者接口", "Developer interfaces"),
    "api_catalog": ("DCAT 数据目录（分页）", "DCAT catalogue (paged)"),
    "api_sparql": ("SPARQL 1.1 查询端点", "SPARQL 1.1 query endpoint"),
    "api_search": ("数据集搜索（JSON）", "Dataset search (JSON)"),
    "metadata": ("核心元数据", "Core metadata"),
    "distributions": ("数据资源", "Distributions"),
    "d_title": ("名称", "Name"),
    "d_format": ("格式", "Format"),
    "d_size": ("大小", "Size"),
    "d_license": ("许可", "Licence"),
    "download": ("下载", "Download"),
    "access": ("访问", "Access"),
    "no_distributions": ("暂无可下载的数据资源。", "No downloadable distribution."),
    "conditional_note": ("有条件开放数据需向提供部门申请。", "Conditionally open data is available on request."),
    "apply": ("申请", "Apply"),
    "apply_use": ("申请使用", "Apply to use"),
    "on_application": ("需申请", "On application"),
    "not_open": ("不予开放", "Not open"),
    "apply_note": ("本数据集为有条件开放数据：元数据公开，数据须向提供部门（{publisher}）申请，获得授权后方可使用。",
                   "This dataset is conditionally open: its metadata is public; its data is provided by the "
                   "publishing department ({publisher}) on application, to holders of a grant."),
    "apply_contact": ("申请联系方式", "To apply, contact"),
    "closed_note": ("本数据集为不予开放数据：仅公开元数据，不提供数据下载、数据接口或地图服务。",
                    "This dataset is not open: only its metadata is published; its data cannot be downloaded, "
                    "queried or shown on a map."),
    "metadata_forms": ("元数据（RDF）", "Metadata (RDF)"),
    "query_sparql": ("用 SPARQL 查询", "Query with SPARQL"),
    "map": ("地图", "Map"),
    "map_layers": ("图层", "Layers"),
    "map_no_layers": ("暂无空间图层。", "No spatial layer yet."),
    "map_features": ("{n} 个要素", "{n} features"),
    "map_open": ("在地图页查看全部图层", "See all layers on the map page"),
    "map_shown": ("显示 {n} 个要素", "{n} features shown"),
    "map_shown_of": ("显示 {n} 个要素（共 {total} 个）", "{n} of {total} features shown"),
    "map_loading": ("正在加载要素…", "Loading features…"),
    "map_failed": ("要素加载失败。", "The features could not be loaded."),
    "map_offline": ("离线底图：武汉市区界", "Offline base map: Wuhan districts"),
    "map_tiles_failed": ("天地图底图无法加载，已切换为离线底图。",
                         "Tianditu tiles could not be loaded; switched to the offline base map."),
    "map_approximate": ("区界为近似示意，不是行政区划界线",
                        "District outlines are approximate, not administrative boundaries"),
    "map_tianditu": ("天地图", "Tianditu"),
    # sign-in (server/auth.py)
    "auth_sign_in": ("登录", "Sign in"),
    "auth_sign_out": ("退出登录", "Sign out"),
    "auth_login": ("登录名", "Login name"),
    "auth_oidc": ("通过{label}登录", "Sign in through {label}"),
    "auth_password": ("密码", "Password"),
    "auth_staff_only": ("管理中心供工作人员使用；浏览和下载开放数据无需登录。",
                        "The management center is for staff; browsing and downloading open data needs no account."),
    "auth_expired": ("会话已过期，请重新登录。", "Your session has ended: please sign in again."),
    "auth_signed_in_as": ("当前账号：{name}（{login}，{role}）", "Signed in as {name} ({login}, {role})"),
    "role_admin": ("系统管理员", "administrator"),
    "role_reviewer": ("数据局审核员", "data bureau reviewer"),
    "role_publisher": ("部门数据员", "department publisher"),
    "role_auditor": ("审计员", "auditor"),
    "role_public": ("公众用户", "public user"),
    # every page (portal_base.html), the portal's own pages (server/portal/pages.py) and error pages (server/errors.py)
    "skip_to_content": ("跳到正文", "Skip to content"),
    "menu": ("菜单", "Menu"),
    "page_help": ("帮助", "Help"),
    "page_privacy": ("隐私政策", "Privacy"),
    "page_terms": ("使用条款", "Terms of use"),
    "sitemap": ("网站地图", "Sitemap"),
    "footer_sponsor": ("主办单位：", "Sponsored by "),
    "footer_organizer": ("承办单位：", "Run by "),
    "footer_site_code": ("网站标识码：", "Website code: "),
    "error_404": ("页面不存在", "Page not found"),
    "error_404_text": ("您访问的页面不存在，可能已被移动或删除。可以搜索数据集，或回到首页。",
                       "There is no page at this address; it may have moved or been withdrawn. Search the "
                       "datasets, or go back to the home page."),
    "error_500": ("服务器内部错误", "Internal server error"),
    "error_500_text": ("服务器处理请求时出错，错误已记录。请稍后再试。",
                       "The server met an error answering this request; it has been logged. Please try again later."),
    "error_other": ("请求未能完成", "The request could not be completed"),
    "error_detail": ("详情", "Detail"),
    "back_home": ("返回首页", "Back to the home page"),
    "footer": ("武汉市公共数据开放平台 · 元数据遵循 DCAT-AP 3 与 GB/T 21063",
               "Wuhan Open Government Data Platform · metadata follow DCAT-AP 3 and GB/T 21063"),
}


def current_lang() -> str:
    """Return the language the request asks for: "en" with ?lang=en, else "zh"."""
    return normalize_lang(request.args.get("lang"))


def normalize_lang(lang: str | None) -> str:
    """Map any language parameter to one of LANGS."""
    return "en" if str(lang or "").lower().startswith("en") else "zh"


def accepted_lang(header: str | None) -> str | None:
    """Return the one of LANGS an Accept-Language header prefers ("*" is Chinese); None if it names neither."""
    from werkzeug.datastructures import LanguageAccept
    from werkzeug.http import parse_accept_header

    return parse_accept_header((header or "")[:1000], LanguageAccept).best_match(LANGS)


def request_lang() -> str:
    """Return the language of the request for doors that honour both: ?lang=, else Accept-Language, else zh."""
    if request.args.get("lang"):
        return normalize_lang(request.args["lang"])
    return accepted_lang(request.headers.get("Accept-Language")) or "zh"


def translate(key: str, lang: str, **values) -> str:
    """Return the words for key in lang, with {placeholders} filled."""
    zh, en = TEXT[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def pick(words: dict[str, tuple[str, str]], key: str, lang: str, **values) -> str:
    """A page's own word table (key: (zh, en)): the text in the language, its {placeholders} filled."""
    zh, en = words[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def link(path: str, lang: str, params: dict | None = None) -> str:
    """Make a site-relative link that keeps the language; None and empty values are left out."""
    items = [(k, v) for k, v in (params or {}).items() if v not in (None, "", [])]
    if lang == "en":
        items.append(("lang", "en"))
    query = urlencode(items, doseq=True)
    root = request.script_root if has_request_context() else ""
    return f"{root}{path}?{query}" if query else f"{root}{path}"
