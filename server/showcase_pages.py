"""The showcase's pages (应用成果, issue 13): the public list and items, the submission form, the reviewer's queue.

- ``/showcase`` (filter ``kind``, ``dataset``, ``page``) and ``/showcase/<id>``: approved items, each with the
  datasets it uses linked; an item not approved is shown to its author and to the reviewer only;
- ``/showcase/new?datasets=ID``: a signed-in account (public or staff) submits an item; ``/account/showcase``:
  the account's items, their decisions and reasons, withdrawal;
- ``/admin/showcase``: the data bureau's queue (``review-showcase``): approve, return with a reason, take down.

The link monitor (harvesters/links.py) checks every submitted and approved item's link; a link found broken shows
on the item for the reviewer and on the public page as 链接暂不可用, with the time of the last check.
Routes are thin: services/showcase.py keeps the items and the rules; server/audit.py records each step.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, current_app, redirect, request

from access.roles import Action, allowed
from core.errors import BadRequestError, NotFoundError
from core.identifiers import is_dataset_id
from server.audit import audit
from server.portal.i18n import TEXT

bp = Blueprint("showcase", __name__)

TEXT.update({  # key: (zh-CN, en); the words of the showcase's pages and of its panel on the dataset page
    "sc_lead": ("基于本平台开放数据开发的应用、分析报告与可视化作品，经数据局审核后展示。",
                "Apps, analyses and visualisations made with the platform's open data, shown once the data bureau "
                "has reviewed them."),
    "sc_all": ("全部", "All"), "sc_app": ("应用", "App"), "sc_analysis": ("分析", "Analysis"),
    "sc_visualisation": ("可视化", "Visualisation"),
    "sc_count": ("共 {n} 项", "{n} item(s)"), "sc_sep": ("：", ": "), "sc_paren": ("（{x}）", " ({x})"), "sc_none": ("暂无应用成果。", "No item yet."),
    "sc_uses": ("使用的数据集", "Datasets used"), "sc_author": ("作者", "Author"),
    "sc_open": ("访问", "Open"), "sc_submitted_at": ("提交时间", "Submitted"),
    "sc_link_h": ("链接", "Link"), "sc_decide": ("审核", "Decision"), "sc_all_for": ("查看全部", "See all"),
    "sc_filtered": ("使用数据集 {name} 的成果", "Items using {name}"), "sc_clear": ("清除筛选", "Clear the filter"),
    "sc_submit": ("提交应用成果", "Submit an item"), "sc_new": ("提交应用成果", "Submit an app or result"),
    "sc_kind": ("类型", "Kind"), "sc_title": ("名称", "Title"), "sc_description": ("简介", "Description"),
    "sc_link": ("链接（http:// 或 https://）", "Link (http:// or https://)"),
    "sc_image": ("截图（可选；PNG、JPEG、GIF 或 WebP，不超过 {kb} KB）",
                 "Screenshot (optional; PNG, JPEG, GIF or WebP, at most {kb} KB)"),
    "sc_datasets": ("使用的数据集标识（多个用逗号分隔）", "Identifiers of the datasets used (comma-separated)"),
    "sc_send": ("提交审核", "Submit for review"),
    "sc_review_note": ("提交后由数据局审核，通过后公开展示。", "The data bureau reviews each item before it is shown."),
    "sc_mine": ("我的应用成果", "My apps and results"), "sc_status": ("状态", "Status"),
    "st_submitted": ("待审核", "waiting for review"), "st_approved": ("已通过", "approved"),
    "st_returned": ("已退回", "returned"), "st_withdrawn": ("已撤下", "withdrawn"),
    "sc_reason": ("理由", "Reason"), "sc_withdraw": ("撤下", "Withdraw"),
    "sc_link_broken": ("链接暂不可用", "Link unavailable for now"),
    "sc_link_ok": ("链接可用", "Link answers"), "sc_link_unchecked": ("链接尚未检查", "Link not checked yet"),
    "sc_checked": ("最后检查 {at}", "last checked {at}"),
    "sc_queue": ("应用成果审核", "Showcase review"), "sc_admin": ("管理中心", "Management center"),
    "sc_waiting": ("待审核 {n} 项（最早在前）", "{n} items waiting (oldest first)"),
    "sc_waiting_none": ("没有待审核的应用成果。", "No item is waiting."),
    "sc_approve": ("通过", "Approve"), "sc_return": ("退回", "Return"),
    "sc_return_reason": ("退回理由", "Reason for returning"), "sc_takedown": ("撤下理由", "Reason for taking down"),
    "sc_recent": ("最近的决定", "Recent decisions"), "sc_public": ("公开中的应用成果", "Items shown to the public"),
    "sc_dataset_gone": ("（已不在目录中）", "(no longer in the catalogue)"),
    "sc_on_dataset": ("使用本数据集的应用成果", "Apps and results using this dataset"),
    "sc_on_dataset_none": ("暂无使用本数据集的应用成果。", "No app or result uses this dataset yet."),
    "sc_sign_in": ("登录后可提交应用成果。", "Sign in to submit an app or result."),
    "sc_submitter": ("提交账号", "Submitted by account"),
    "sc_edit": ("修改后重新提交", "Change and submit again"),
    "sc_keep_image": ("不选择新图片则保留原图片。", "Without a new image the present one is kept."),
})

TITLES = """SELECT ?d ?t WHERE { VALUES ?d { %s } GRAPH ?d { ?d <http://purl.org/dc/terms/title> ?t } }"""


def _platform():
    return current_app.extensions["wodp"]


def _showcase():
    found = getattr(_platform(), "showcase", None)
    if found is None:
        raise NotFoundError("the showcase is not open in this process")
    return found


def _lang() -> str:
    from server.portal.i18n import current_lang

    return current_lang()


def _link(path: str, params: dict | None = None) -> str:
    from server.portal.i18n import link

    return link(path, _lang(), params)


def _page(template: str, title: str, status: int = 200, active: str | None = "showcase", **context) -> Response:
    from server.portal.views import render_page

    body = render_page(template, _lang(), title=title, active=active, when=_when, **context)
    return Response(body, status=status, mimetype="text/html")


def _when(moment: float | str | None) -> str:
    """Write a moment (seconds, or an ISO time in UTC as the part keeps them) as local time
    (trends.utc_offset_h), to the minute."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return moment  # shown as kept
    zone = timezone(timedelta(hours=_platform().settings.trends.utc_offset_h))
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d %H:%M")


def dataset_exists(dataset_id: str) -> bool:
    platform = _platform()
    return is_dataset_id(dataset_id) and platform.store.record_modified(platform.dataset_uri(dataset_id)) is not None


def dataset_titles(ids, lang: str) -> dict[str, str]:
    """Return dataset id → its title (in lang, else Chinese, else any) for the datasets the store holds."""
    from server.portal.i18n import normalize_lang

    platform = _platform()
    ids = sorted({i for i in ids if is_dataset_id(i)})
    if not ids:
        return {}
    uris = {platform.dataset_uri(i): i for i in ids}
    ranked: dict[str, tuple[int, str]] = {}
    for row in platform.store.query(TITLES % " ".join(f"<{u}>" for u in uris)):
        literal, dataset = row[1], uris.get(row[0].value)
        if dataset is None:
            continue
        got = normalize_lang(getattr(literal, "language", None) or "")
        rank = 0 if got == lang else 1 if got == "zh" else 2
        if dataset not in ranked or rank < ranked[dataset][0]:
            ranked[dataset] = (rank, literal.value)
    return {i: title for i, (_, title) in ranked.items()}


def link_checks(items) -> dict:
    """Return link → what the link monitor last found of it: broken or not, and when (none: never checked)."""
    table = getattr(getattr(_platform(), "harvesting", None), "links", None)
    if table is None:
        return {}
    out = {}
    for url, (status, checked_at, broken_since) in table.checks(i.link for i in items).items():
        out[url] = {"broken": status.broken, "status": status.status, "error": status.error,
                    "checked": _when(checked_at), "broken_since": _when(broken_since)}
    return out


def _may_see(item) -> bool:
    from server.auth import current_principal

    if item.public:
        return True
    principal = current_principal()
    return principal.id is not None and (principal.id == item.account or allowed(principal, Action.REVIEW_SHOWCASE))


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and len(value) < 7 else default


# -- the public's pages -----------------------------------------------------------------------------------
@bp.get("/showcase")
def listing():
    """The approved items, newest first; filter by kind and by dataset."""
    from services.showcase import KINDS

    showcase, lang = _showcase(), _lang()
    kind = request.args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadRequestError(f"kind must be one of {', '.join(KINDS)}")
    dataset = (request.args.get("dataset") or "").strip() or None
    size = _platform().settings.showcase.page_size
    page = max(1, _int(request.args.get("page"), 1))
    items, total = showcase.listing(kind=kind, dataset=dataset, limit=size, offset=(page - 1) * size)
    titles = dataset_titles({d for i in items for d in i.datasets} | ({dataset} if dataset else set()), lang)
    counts = showcase.counts(dataset=dataset)
    return _page("showcase_list.html", TEXT["showcase"][lang == "en"], items=items, total=total, kind=kind,
                 kinds=KINDS, dataset=dataset, titles=titles, counts=counts, page=page,
                 pages=max(1, -(-total // size)), checks=link_checks(items))


@bp.get("/showcase/<int:item_id>")
def item(item_id: int):
    """One item: its link (and whether it answers), its image, the datasets it uses."""
    found = _showcase().get(item_id)
    if not _may_see(found):
        raise NotFoundError(f"no showcase item {item_id}")
    from server.auth import current_principal

    reviewer = allowed(current_principal(), Action.REVIEW_SHOWCASE)
    return _page("showcase_item.html", found.title, it=found, titles=dataset_titles(found.datasets, _lang()),
                 checks=link_checks([found]), reviewer=reviewer)


@bp.get("/showcase/<int:item_id>/image")
def image(item_id: int):
    showcase = _showcase()
    found = showcase.get(item_id)
    stored = showcase.image(item_id) if _may_see(found) else None
    if stored is None:
        raise NotFoundError(f"showcase item {item_id} has no image")
    media, data, digest = stored
    response = Response(data, mimetype=media)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "public, max-age=3600" if found.public else "private, no-store"
    response.set_etag(digest)
    return response.make_conditional(request)


# -- submitting ---------------------------------------------------------------------------------------------
def _signed_in():
    from server.auth import SignInRequired, current_account

    account = current_account()
    if account is None:
        raise SignInRequired("请先登录。 Sign in first to submit an app or result.")
    return account


def _ids(raw: str) -> list[str]:
    return [i.strip() for part in raw.replace("，", ",").split(",") for i in part.split() if i.strip()]


@bp.route("/showcase/new", methods=["GET", "POST"])
def submit():
    """The submission form; its post files the item (waiting for review) and goes to the account's items."""
    return _form_page(None)


@bp.route("/showcase/<int:item_id>/edit", methods=["GET", "POST"])
def resubmit(item_id: int):
    """A returned item's form, filled in; its post changes the item and submits it again."""
    account = _signed_in()
    found = _showcase().get(item_id)
    if found.account != account.id:
        raise NotFoundError(f"no showcase item {item_id} of this account")
    return _form_page(found)


def _form_page(editing):
    from services.showcase import KINDS

    account = _signed_in()
    platform, lang = _platform(), _lang()
    if request.method == "POST":
        form = request.form
    elif editing is not None:
        form = {"kind": editing.kind, "title": editing.title, "description": editing.description,
                "link": editing.link, "author": editing.author}
    else:
        form = {}
    raw = form.get("datasets", request.args.get("datasets", ",".join(editing.datasets) if editing else ""))
    errors = []
    if request.method == "POST":
        upload = request.files.get("image")
        data = upload.read(platform.settings.showcase.image_max_bytes + 1) if upload and upload.filename else None
        values = dict(kind=form.get("kind", ""), title=form.get("title", ""), description=form.get("description", ""),
                      link=form.get("link", ""), author=form.get("author", "") or account.display_name or account.login,
                      datasets=_ids(raw), exists=dataset_exists, image=data)
        try:
            if editing is None:
                found = _showcase().submit(account.id, **values)
            else:
                before = _showcase().resubmit(editing.id, account.id, **values)
                found = _showcase().get(editing.id)
        except BadRequestError as exc:
            errors.append(exc.message)
        else:
            detail = {"kind": found.kind, "link": found.link, "datasets": list(found.datasets),
                      "image": found.image_type}
            if editing is None:
                audit("showcase.submit", f"showcase:{found.id}", after=found.status, detail=detail)
            else:
                audit("showcase.resubmit", f"showcase:{found.id}", before=before.status, after=found.status,
                      detail=detail | {"returned_for": before.reason})
            return redirect(_link("/account/showcase") + f"#item-{found.id}", code=303)
    return _page("showcase_form.html", TEXT["sc_new"][lang == "en"], status=400 if errors else 200, form=form,
                 raw=raw, errors=errors, kinds=KINDS, account=account, editing=editing,
                 titles=dataset_titles(_ids(raw), lang),
                 kb=platform.settings.showcase.image_max_bytes // 1024)


@bp.get("/account/showcase")
def mine():
    account = _signed_in()
    items = _showcase().of_account(account.id)
    return _page("showcase_mine.html", TEXT["sc_mine"][_lang() == "en"], items=items, checks=link_checks(items),
                 titles=dataset_titles({d for i in items for d in i.datasets}, _lang()))


@bp.post("/showcase/<int:item_id>/withdraw")
def withdraw(item_id: int):
    """The author withdraws an item."""
    account = _signed_in()
    before = _showcase().withdraw(item_id, account.id, request.form.get("reason"), author=True)
    audit("showcase.withdraw", f"showcase:{item_id}", before=before.status, after="withdrawn",
          detail={"by": "author"})
    return redirect(_link("/account/showcase") + f"#item-{item_id}", code=303)


# -- the reviewer's queue -----------------------------------------------------------------------------------
@bp.get("/admin/showcase")
def queue():
    """The items waiting for review (oldest first) with their link checks, the public ones, the latest decisions."""
    from server.auth import authorize

    authorize(Action.REVIEW_SHOWCASE)
    showcase = _showcase()
    waiting, shown = showcase.queue(), showcase.listing(limit=200)[0]
    decided = showcase.decided(50)
    every = [*waiting, *shown, *decided]
    return _page("showcase_queue.html", TEXT["sc_queue"][_lang() == "en"], active=None, waiting=waiting, shown=shown,
                 decided=decided, checks=link_checks(every),
                 titles=dataset_titles({d for i in every for d in i.datasets}, _lang()))


@bp.post("/admin/showcase/<int:item_id>/decision")
def decide(item_id: int):
    """Approve a submitted item (decision=approve) or return it with the reason (decision=return)."""
    from server.auth import authorize

    principal = authorize(Action.REVIEW_SHOWCASE)
    decision = request.form.get("decision")
    if decision not in ("approve", "return"):
        raise BadRequestError("decision must be approve or return")
    reason = (request.form.get("reason") or "").strip() or None
    before = _showcase().decide(item_id, decision == "approve", principal.id, reason)
    audit(f"showcase.{decision}", f"showcase:{item_id}", before=before.status,
          after="approved" if decision == "approve" else "returned",
          detail={"datasets": list(before.datasets), "link": before.link, **({"reason": reason} if reason else {})})
    return redirect(_link("/admin/showcase") + f"#item-{item_id}", code=303)


@bp.post("/admin/showcase/<int:item_id>/withdraw")
def take_down(item_id: int):
    """The reviewer takes down an approved item, with the reason."""
    from server.auth import authorize

    principal = authorize(Action.REVIEW_SHOWCASE)
    reason = request.form.get("reason", "")
    before = _showcase().withdraw(item_id, principal.id, reason, author=False)
    audit("showcase.withdraw", f"showcase:{item_id}", before=before.status, after="withdrawn",
          detail={"by": "reviewer", "reason": reason.strip()})
    return redirect(_link("/admin/showcase"), code=303)


# -- the dataset page's panel ---------------------------------------------------------------------------------
def dataset_panel(platform, dataset_id: str) -> dict | None:
    """What the dataset page shows of the showcase: the approved items that use it (None: no showcase here)."""
    showcase = getattr(platform, "showcase", None)
    if showcase is None:
        return None
    return {"items": showcase.for_dataset(dataset_id), "dataset": dataset_id}
