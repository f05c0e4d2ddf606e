"""Adopt the tables a home made before the data layer holds (raw sqlite3, no Alembic) into the first revisions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def has_table(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def columns(name: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(name)}


def adopt(old: str, new: str, keep: list[str], *, rowid_as: str | None = None) -> None:
    """Copy an old table's rows into the new one (its rowid into rowid_as, to keep their order) and drop it."""
    if op.get_bind().dialect.name != "sqlite" or not has_table(old):
        return  # only an embedded file can hold the old tables (a shared database may hold others' "jobs")
    have = columns(old)
    cols = [c for c in keep if c in have]
    source = ", ".join(cols)
    target = ", ".join(cols)
    if rowid_as:
        source, target = f"rowid, {source}", f"{rowid_as}, {target}"
    op.execute(f"INSERT INTO {new} ({target}) SELECT {source} FROM {old}")
    op.execute(f"DROP TABLE {old}")


def big_id():
    """A 64-bit key that is SQLite's rowid there (INTEGER PRIMARY KEY) and an identity on PostgreSQL."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def real():
    return sa.Float(precision=53)
