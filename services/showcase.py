"""The showcase (应用成果): apps, analyses and visualisations made with the catalogue's data, reviewed before shown.

An item names its kind, title, description, link (http or https only), author, optionally an image (PNG, JPEG,
GIF or WebP, recognised by its bytes, bounded in size), and the datasets it uses (at least one, each in the
catalogue: an unknown one is refused by its name). It is ``submitted`` by a signed-in account, then ``approved``
or ``returned`` (with the reason) by the data bureau's reviewer; its author may withdraw it (``withdrawn``), and
the reviewer may take down an approved one (``withdrawn``, with the reason). Only approved items are public.

The part keeps no judgement of the link itself: the platform's link monitor checks the links of submitted and
approved items (``links_to_check``) beside the distributions' and keeps their status in its own table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import urlsplit

from sqlalchemy import text

from core.database import as_database
from core.errors import BadRequestError, NotFoundError, WodpError
from core.stamps import stamp, utc_now

KINDS = ("app", "analysis", "visualisation")
SUBMITTED, APPROVED, RETURNED, WITHDRAWN = "submitted", "approved", "returned", "withdrawn"
STATUSES = (SUBMITTED, APPROVED, RETURNED, WITHDRAWN)
MAX_TITLE, MAX_DESCRIPTION, MAX_AUTHOR, MAX_LINK, MAX_REASON = 200, 4000, 200, 2000, 1000
# an image is recognised by its first bytes, never by the name or type its uploader claims (no SVG: it runs code)
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"))
COLUMNS = "id, kind, title, description, link, author, account, status, created, decided, decided_by, reason, image_type"


class DecisionError(WodpError):
    """An item that is not in the state the step needs (409): decided already, or withdrawn."""

    status = 409
    code = "conflict"


def _now() -> str:
    return stamp(utc_now())


@dataclass(frozen=True)
class Item:
    """One showcase item as kept."""

    id: int
    kind: str
    title: str
    description: str
    link: str
    author: str
    account: str
    status: str
    created: str
    decided: str | None
    decided_by: str | None
    reason: str | None
    image_type: str | None
    datasets: tuple[str, ...] = field(default=())

    @property
    def public(self) -> bool:
        return self.status == APPROVED


def check_link(link: str) -> str:
    """Return the link as given when it is an absolute http(s) URL with a host; refuse it otherwise (400)."""
    link = (link or "").strip()
    if not link:
        raise BadRequestError("an item needs its link (http:// or https://)")
    if len(link) > MAX_LINK:
        raise BadRequestError(f"a link has at most {MAX_LINK} characters, this one {len(link)}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in link):
        raise BadRequestError(f"the link {link[:100]!r} holds spaces or control characters")
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018  a port that is not a number raises here
    except ValueError as exc:
        raise BadRequestError(f"the link {link[:100]!r} is not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadRequestError(f"the link must start with http:// or https://, not {parts.scheme or '(none)'}:")
    if not parts.hostname:
        raise BadRequestError(f"the link {link[:100]!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise BadRequestError("the link must not carry a user name or password")
    return link


def image_type(data: bytes, max_bytes: int) -> str:
    """Return the media type of an uploaded image (PNG, JPEG, GIF, WebP) by its bytes; refuse others (400)."""
    if len(data) > max_bytes:
        raise BadRequestError(f"the image has {len(data)} bytes, at most {max_bytes} are taken")
    for magic, media in IMAGE_MAGIC:
        if data.startswith(magic):
            return media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise BadRequestError("the image must be a PNG, JPEG, GIF or WebP file (recognised by its content)")


def _text(value: str, name: str, limit: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise BadRequestError(f"an item needs its {name}")
    if len(value) > limit:
        raise BadRequestError(f"the {name} has at most {limit} characters, this one {len(value)}")
    return value


class Showcase:
    """The showcase part: items, the datasets they use, their images, on the data layer."""

    def __init__(self, where, *, image_max_bytes: int = 512 * 1024, max_datasets: int = 20) -> None:
        self.db = as_database(where, "showcase")
        self.image_max_bytes, self.max_datasets = image_max_bytes, max_datasets

    def close(self) -> None:
        self.db.close()

    # -- submitting ----------------------------------------------------------------------------------------
    def submit(self, account: str, *, kind: str, title: str, description: str, link: str, author: str,
               datasets: Iterable[str], exists: Callable[[str], bool], image: bytes | None = None) -> Item:
        """File an item (submitted, waiting for review); refuse it whole with the first fault found (400)."""
        kind, title, description, link, author, ids, media = self._checked(
            kind, title, description, link, author, datasets, exists, image)
        with self.db.write() as conn:
            row = conn.execute(text(
                f"INSERT INTO showcase_items (kind, title, description, link, author, account, status, created, "
                f"image_type) VALUES (:k, :t, :d, :l, :a, :acc, :s, :c, :img) RETURNING id"),
                {"k": kind, "t": title, "d": description, "l": link, "a": author, "acc": account, "s": SUBMITTED,
                 "c": _now(), "img": media}).fetchone()
            item_id = int(row[0])
            self._put_uses(conn, item_id, ids, image, media)
        return self.get(item_id)

    def resubmit(self, item_id: int, account: str, *, kind: str, title: str, description: str, link: str,
                 author: str, datasets: Iterable[str], exists: Callable[[str], bool],
                 image: bytes | None = None) -> Item:
        """Change a returned item as its author asks and submit it again (its image kept unless a new one is
        given); return it as it was before."""
        before = self.get(item_id)
        if before.account != account:
            raise NotFoundError(f"no showcase item {item_id} of this account")
        kind, title, description, link, author, ids, media = self._checked(
            kind, title, description, link, author, datasets, exists, image)
        with self.db.write() as conn:
            done = conn.execute(text(
                "UPDATE showcase_items SET kind = :k, title = :t, description = :d, link = :l, author = :a, "
                "status = :s, decided = NULL, decided_by = NULL, reason = NULL, image_type = COALESCE(:img, "
                "image_type) WHERE id = :id AND account = :acc AND status = :returned"),
                {"k": kind, "t": title, "d": description, "l": link, "a": author, "s": SUBMITTED, "img": media,
                 "id": item_id, "acc": account, "returned": RETURNED}).rowcount
            if not done:
                raise DecisionError(f"showcase item {item_id} is {before.status}: only a returned item is "
                                    "submitted again")
            conn.execute(text("DELETE FROM showcase_datasets WHERE item = :i"), {"i": item_id})
            if media:
                conn.execute(text("DELETE FROM showcase_images WHERE item = :i"), {"i": item_id})
            self._put_uses(conn, item_id, ids, image, media)
        return before

    @staticmethod
    def _put_uses(conn, item_id: int, ids: list[str], image: bytes | None, media: str | None) -> None:
        conn.execute(text("INSERT INTO showcase_datasets (item, dataset, position) VALUES (:i, :d, :p)"),
                     [{"i": item_id, "d": d, "p": n} for n, d in enumerate(ids)])
        if media:
            conn.execute(text("INSERT INTO showcase_images (item, media_type, sha256, data) VALUES (:i, :m, :h, :b)"),
                         {"i": item_id, "m": media, "h": hashlib.sha256(image).hexdigest(), "b": image})

    def _checked(self, kind, title, description, link, author, datasets, exists, image) -> tuple:
        """Return an item's values checked and trimmed (the datasets without repeats), or refuse them (400)."""
        if kind not in KINDS:
            raise BadRequestError(f"the kind must be one of {', '.join(KINDS)}, got {str(kind)[:40]!r}")
        title = _text(title, "title", MAX_TITLE)
        description = _text(description, "description", MAX_DESCRIPTION)
        author = _text(author, "author", MAX_AUTHOR)
        link = check_link(link)
        ids = list(dict.fromkeys(d.strip() for d in datasets if d and d.strip()))
        if not ids:
            raise BadRequestError("an item names at least one dataset it uses")
        if len(ids) > self.max_datasets:
            raise BadRequestError(f"an item names at most {self.max_datasets} datasets, this one {len(ids)}")
        unknown = [d for d in ids if not exists(d)]
        if unknown:
            raise BadRequestError("not in this catalogue: " + ", ".join(unknown))
        media = image_type(image, self.image_max_bytes) if image else None
        return kind, title, description, link, author, ids, media

    # -- reading -------------------------------------------------------------------------------------------
    def _items(self, where: str, params: dict, order: str = "id DESC", limit: int = 200,
               offset: int = 0) -> list[Item]:
        rows = self.db.rows(f"SELECT {COLUMNS} FROM showcase_items i WHERE {where} ORDER BY {order} "
                            f"LIMIT :limit OFFSET :offset", {**params, "limit": limit, "offset": offset})
        if not rows:
            return []
        ids = [int(r[0]) for r in rows]
        marks = ", ".join(f":i{n}" for n in range(len(ids)))
        uses: dict[int, list[str]] = {}
        for item, dataset in self.db.rows(
                f"SELECT item, dataset FROM showcase_datasets WHERE item IN ({marks}) ORDER BY item, position",
                {f"i{n}": i for n, i in enumerate(ids)}):
            uses.setdefault(int(item), []).append(dataset)
        return [Item(int(r[0]), *r[1:], datasets=tuple(uses.get(int(r[0]), ()))) for r in rows]

    def get(self, item_id: int) -> Item:
        found = self._items("id = :id", {"id": item_id})
        if not found:
            raise NotFoundError(f"no showcase item {item_id}")
        return found[0]

    def _filter(self, status: str | None, kind: str | None, dataset: str | None) -> tuple[str, dict]:
        where, params = ["1 = 1"], {}
        if status is not None:
            where.append("status = :status")
            params["status"] = status
        if kind is not None:
            where.append("kind = :kind")
            params["kind"] = kind
        if dataset is not None:
            where.append("id IN (SELECT item FROM showcase_datasets WHERE dataset = :dataset)")
            params["dataset"] = dataset
        return " AND ".join(where), params

    def listing(self, *, kind: str | None = None, dataset: str | None = None, status: str | None = APPROVED,
                limit: int = 24, offset: int = 0) -> tuple[list[Item], int]:
        """Return a page of items (approved ones, newest first, unless another status is asked) and their total."""
        where, params = self._filter(status, kind, dataset)
        total = self.db.rows(f"SELECT COUNT(*) FROM showcase_items WHERE {where}", params)[0][0]
        return self._items(where, params, "id DESC", limit, offset), int(total)

    def counts(self, *, dataset: str | None = None) -> dict[str, int]:
        """Return kind → how many approved items (of a dataset, when one is named)."""
        where, params = self._filter(APPROVED, None, dataset)
        rows = self.db.rows(f"SELECT kind, COUNT(*) FROM showcase_items WHERE {where} GROUP BY kind", params)
        return {kind: int(n) for kind, n in rows}

    def for_dataset(self, dataset: str, limit: int = 50) -> list[Item]:
        """Return the approved items that use a dataset, newest first."""
        return self.listing(dataset=dataset, limit=limit)[0]

    def of_account(self, account: str) -> list[Item]:
        return self._items("account = :a", {"a": account})

    def queue(self) -> list[Item]:
        """Return the items waiting for review, oldest first."""
        return self._items("status = :s", {"s": SUBMITTED}, "id", limit=500)

    def decided(self, limit: int = 50) -> list[Item]:
        return self._items("status <> :s AND decided IS NOT NULL", {"s": SUBMITTED}, "decided DESC, id DESC",
                           limit=limit)

    def image(self, item_id: int) -> tuple[str, bytes, str] | None:
        """Return an item's image: (media type, bytes, sha256), or None when it has none."""
        rows = self.db.rows("SELECT media_type, data, sha256 FROM showcase_images WHERE item = :i", {"i": item_id})
        return (rows[0][0], bytes(rows[0][1]), rows[0][2]) if rows else None

    def links_to_check(self) -> set[str]:
        """Return the links of the items a reader or a reviewer sees (submitted and approved)."""
        return {r[0] for r in self.db.rows("SELECT DISTINCT link FROM showcase_items WHERE status IN (:a, :b)",
                                           {"a": SUBMITTED, "b": APPROVED})}

    def version(self, dataset: str) -> str:
        """A short tag that changes with the approved items of a dataset (for ETags)."""
        rows = self.db.rows("SELECT i.id, i.decided FROM showcase_items i JOIN showcase_datasets d ON d.item = i.id "
                            "WHERE d.dataset = :d AND i.status = :s ORDER BY i.id", {"d": dataset, "s": APPROVED})
        return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]

    # -- publication ---------------------------------------------------------------------------------------
    def reference_triples(self, dataset: str, dataset_uri: str, base_uri: str) -> list:
        """Return the approved items that use a dataset as RDF, added when the dataset's RDF is served (never
        stored with its graph, so its digest does not change): ``dct:isReferencedBy`` each item's page, the item a
        schema.org work (SoftwareApplication, Report or CreativeWork) with its name, link and ``schema:isBasedOn``."""
        import pyoxigraph as ox

        schema, out = "https://schema.org/", []
        types = {"app": "SoftwareApplication", "analysis": "Report", "visualisation": "CreativeWork"}
        target = ox.NamedNode(dataset_uri)
        for item in self.for_dataset(dataset, limit=500):
            node = ox.NamedNode(f"{base_uri}/showcase/{item.id}")
            try:
                link = ox.NamedNode(item.link)
            except ValueError:  # not an IRI pyoxigraph takes: carried as it is, typed as a URI
                link = ox.Literal(item.link, datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#anyURI"))
            out += [ox.Triple(target, ox.NamedNode("http://purl.org/dc/terms/isReferencedBy"), node),
                    ox.Triple(node, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                              ox.NamedNode(schema + types[item.kind])),
                    ox.Triple(node, ox.NamedNode(schema + "name"), ox.Literal(item.title)),
                    ox.Triple(node, ox.NamedNode(schema + "url"), link),
                    ox.Triple(node, ox.NamedNode(schema + "isBasedOn"), target)]
        return out

    # -- deciding ------------------------------------------------------------------------------------------
    def _move(self, item_id: int, frm: tuple[str, ...], to: str, by: str, reason: str | None) -> Item:
        before = self.get(item_id)
        marks = ", ".join(f":f{n}" for n in range(len(frm)))
        with self.db.write() as conn:
            done = conn.execute(text(
                f"UPDATE showcase_items SET status = :to, decided = :t, decided_by = :by, reason = :r "
                f"WHERE id = :id AND status IN ({marks})"),
                {"to": to, "t": _now(), "by": by, "r": reason, "id": item_id,
                 **{f"f{n}": s for n, s in enumerate(frm)}}).rowcount
        if not done:
            raise DecisionError(f"showcase item {item_id} is {self.get(item_id).status}: it cannot become {to}")
        return before

    def decide(self, item_id: int, approve: bool, reviewer: str, reason: str | None = None) -> Item:
        """Approve a submitted item, or return it with the reason; return it as it was before."""
        reason = _text(reason or "", "reason", MAX_REASON, required=not approve) or None
        return self._move(item_id, (SUBMITTED,), APPROVED if approve else RETURNED, reviewer, reason)

    def withdraw(self, item_id: int, by: str, reason: str | None = None, *, author: bool) -> Item:
        """Withdraw an item: its author at any time before (no reason needed), the reviewer an approved one
        (with the reason); return it as it was before."""
        if author:
            if self.get(item_id).account != by:
                raise NotFoundError(f"no showcase item {item_id} of this account")
            return self._move(item_id, (SUBMITTED, APPROVED, RETURNED), WITHDRAWN, by,
                              _text(reason or "", "reason", MAX_REASON, required=False) or None)
        return self._move(item_id, (APPROVED,), WITHDRAWN, by, _text(reason or "", "reason", MAX_REASON))
