"""Ratings (1-5, one per account and dataset, changeable) and moderated comments on datasets.

A comment is ``pending`` until a reviewer approves it (``approved``) or rejects it with a reason (``rejected``);
only approved ones are public. The feedback is published apart from the dataset's graph: as DQV user feedback
(``feedback_triples``) added when the dataset's RDF is served, and as schema.org ``aggregateRating`` on its page,
so a rating never changes the dataset's content digest (harvesters see no change).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pyoxigraph as ox
from sqlalchemy import text

from core.database import as_database
from core.errors import BadRequestError, NotFoundError, WodpError
from core.stamps import stamp, utc_now

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
MAX_COMMENT = 2000
DQV = "http://www.w3.org/ns/dqv#"
OA = "http://www.w3.org/ns/oa#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
DCT = "http://purl.org/dc/terms/"
XSD = "http://www.w3.org/2001/XMLSchema#"


class DecisionError(WodpError):
    """A comment that was already decided (409)."""

    status = 409


def _now() -> str:
    return stamp(utc_now())


@dataclass(frozen=True)
class Comment:
    id: int
    dataset: str
    account: str
    author: str
    body: str
    status: str
    created: str
    decided: str | None
    decided_by: str | None
    reason: str | None


@dataclass(frozen=True)
class Rating:
    value: float  # the mean, rounded half up to 2 decimals
    count: int

    @property
    def exact(self) -> Decimal:
        return Decimal(str(self.value))


COLUMNS = "id, dataset, account, author, body, status, created, decided, decided_by, reason"


class Feedback:
    """The feedback part: ratings and comments on the data layer."""

    def __init__(self, where, max_chars: int = MAX_COMMENT) -> None:
        self.db = as_database(where, "feedback")
        self.max_chars = max_chars

    def close(self) -> None:
        self.db.close()

    # -- ratings -------------------------------------------------------------------------------------------
    def rate(self, dataset: str, account: str, value: int) -> int | None:
        """Set the account's rating of the dataset (1-5); return the rating it replaces (None: the first)."""
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise BadRequestError(f"a rating is a whole number from 1 to 5, got {value!r}")
        now = _now()
        with self.db.write() as conn:
            before = conn.execute(text("SELECT value FROM feedback_ratings WHERE dataset = :d AND account = :a"),
                                  {"d": dataset, "a": account}).fetchone()
            conn.execute(text(
                "INSERT INTO feedback_ratings (dataset, account, value, created, updated) VALUES (:d, :a, :v, :t, :t) "
                "ON CONFLICT (dataset, account) DO UPDATE SET value = excluded.value, updated = excluded.updated"),
                {"d": dataset, "a": account, "v": value, "t": now})
        return None if before is None else int(before[0])

    def rating_of(self, dataset: str, account: str) -> int | None:
        row = self.db.rows("SELECT value FROM feedback_ratings WHERE dataset = :d AND account = :a",
                           {"d": dataset, "a": account})
        return int(row[0][0]) if row else None

    def rating(self, dataset: str) -> Rating | None:
        """Return the dataset's mean rating and the number of ratings (None: not rated)."""
        total, count = self.db.rows("SELECT COALESCE(SUM(value), 0), COUNT(*) FROM feedback_ratings "
                                    "WHERE dataset = :d", {"d": dataset})[0]
        if not count:
            return None
        mean = (Decimal(int(total)) / Decimal(int(count))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return Rating(float(mean), int(count))

    # -- comments ------------------------------------------------------------------------------------------
    def comment(self, dataset: str, account: str, author: str, body: str) -> int:
        """File a comment (pending moderation); return its number."""
        body = (body or "").strip()
        if not body:
            raise BadRequestError("a comment cannot be empty")
        if len(body) > self.max_chars:
            raise BadRequestError(f"a comment has at most {self.max_chars} characters, this one {len(body)}")
        with self.db.write() as conn:
            row = conn.execute(text(
                "INSERT INTO feedback_comments (dataset, account, author, body, status, created) "
                "VALUES (:d, :a, :n, :b, :s, :t) RETURNING id"),
                {"d": dataset, "a": account, "n": author, "b": body, "s": PENDING, "t": _now()}).fetchone()
        return int(row[0])

    def get(self, comment_id: int) -> Comment:
        rows = self.db.rows(f"SELECT {COLUMNS} FROM feedback_comments WHERE id = :id", {"id": comment_id})
        if not rows:
            raise NotFoundError(f"no comment {comment_id}")
        return Comment(*rows[0])

    def comments(self, dataset: str | None = None, status: str | None = APPROVED, limit: int = 200) -> list[Comment]:
        """Return comments, oldest first: a dataset's approved ones (the public's), or those of a status."""
        where, params = [], {"limit": limit}
        if dataset is not None:
            where.append("dataset = :d")
            params["d"] = dataset
        if status is not None:
            where.append("status = :s")
            params["s"] = status
        sql = f"SELECT {COLUMNS} FROM feedback_comments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Comment(*row) for row in self.db.rows(sql + " ORDER BY id LIMIT :limit", params)]

    def decided(self, limit: int = 50) -> list[Comment]:
        """Return the latest decided comments, newest decision first."""
        return [Comment(*row) for row in self.db.rows(
            f"SELECT {COLUMNS} FROM feedback_comments WHERE status <> :p ORDER BY decided DESC, id DESC LIMIT :n",
            {"p": PENDING, "n": limit})]

    def decide(self, comment_id: int, approve: bool, reviewer: str, reason: str | None = None) -> Comment:
        """Approve or reject (with a reason) a pending comment; return it as it was before."""
        reason = (reason or "").strip() or None
        if not approve and reason is None:
            raise BadRequestError("a rejection needs its reason")
        before = self.get(comment_id)
        with self.db.write() as conn:
            done = conn.execute(text(
                "UPDATE feedback_comments SET status = :s, decided = :t, decided_by = :by, reason = :r "
                "WHERE id = :id AND status = :pending"),
                {"s": APPROVED if approve else REJECTED, "t": _now(), "by": reviewer, "r": reason,
                 "id": comment_id, "pending": PENDING}).rowcount
        if not done:
            raise DecisionError(f"comment {comment_id} was already {self.get(comment_id).status}")
        return before

    def version(self, dataset: str) -> str:
        """A short tag that changes with the dataset's ratings and public comments (for ETags)."""
        r = self.db.rows("SELECT COUNT(*), COALESCE(SUM(value), 0), MAX(updated) FROM feedback_ratings "
                         "WHERE dataset = :d", {"d": dataset})[0]
        c = self.db.rows("SELECT COUNT(*), MAX(decided) FROM feedback_comments WHERE dataset = :d AND status = :s",
                         {"d": dataset, "s": APPROVED})[0]
        return hashlib.sha256(repr((tuple(r), tuple(c))).encode()).hexdigest()[:16]

    # -- publication ---------------------------------------------------------------------------------------
    def feedback_triples(self, dataset: str, dataset_uri: str) -> list[ox.Triple]:
        """Return the dataset's public feedback as DQV user quality feedback (W3C DQV §6.10, Web Annotation):

        one annotation for the ratings (the mean as rdf:value, with schema:ratingCount, bestRating 5, worstRating 1)
        and one per approved comment (its text as oa:hasBody / rdf:value); none when there is no feedback.
        """
        target = ox.NamedNode(dataset_uri)
        out: list[ox.Triple] = []

        def annotation(node: ox.NamedNode, created: str) -> None:
            out.extend([
                ox.Triple(target, ox.NamedNode(DQV + "hasQualityAnnotation"), node),
                ox.Triple(node, RDF_TYPE, ox.NamedNode(DQV + "UserQualityFeedback")),
                ox.Triple(node, RDF_TYPE, ox.NamedNode(OA + "Annotation")),
                ox.Triple(node, ox.NamedNode(OA + "hasTarget"), target),
                ox.Triple(node, ox.NamedNode(OA + "motivatedBy"), ox.NamedNode(DQV + "qualityAssessment")),
                ox.Triple(node, ox.NamedNode(DCT + "created"),
                          ox.Literal(created, datatype=ox.NamedNode(XSD + "dateTime"))),
            ])

        rating = self.rating(dataset)
        if rating is not None:
            node = ox.NamedNode(f"{dataset_uri}/feedback/rating")
            last = self.db.rows("SELECT MAX(updated) FROM feedback_ratings WHERE dataset = :d", {"d": dataset})[0][0]
            annotation(node, last)
            out += [
                ox.Triple(node, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#value"),
                          ox.Literal(f"{rating.exact}", datatype=ox.NamedNode(XSD + "decimal"))),
                ox.Triple(node, ox.NamedNode("https://schema.org/ratingCount"),
                          ox.Literal(str(rating.count), datatype=ox.NamedNode(XSD + "integer"))),
                ox.Triple(node, ox.NamedNode("https://schema.org/bestRating"),
                          ox.Literal("5", datatype=ox.NamedNode(XSD + "integer"))),
                ox.Triple(node, ox.NamedNode("https://schema.org/worstRating"),
                          ox.Literal("1", datatype=ox.NamedNode(XSD + "integer"))),
            ]
        for c in self.comments(dataset, APPROVED):
            node = ox.NamedNode(f"{dataset_uri}/feedback/comment-{c.id}")
            body = ox.NamedNode(f"{dataset_uri}/feedback/comment-{c.id}/body")
            annotation(node, c.created)
            out += [
                ox.Triple(node, ox.NamedNode(OA + "hasBody"), body),
                ox.Triple(body, RDF_TYPE, ox.NamedNode(OA + "TextualBody")),
                ox.Triple(body, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#value"), ox.Literal(c.body)),
                ox.Triple(body, ox.NamedNode(DCT + "format"), ox.Literal("text/plain")),
            ]
        return out
