"""links: the link monitor's checks per URL, datasets → URLs, published link counts (kept in harvest.sqlite).

The tables keep their names; a harvest.sqlite made before the data layer already holds them and keeps its rows.

Revision ID: links_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import has_table, real

revision = "links_0001"
down_revision = None
branch_labels = ("links",)
depends_on = None


def upgrade() -> None:
    if not has_table("link_status"):
        op.create_table(
            "link_status", sa.Column("url", sa.Text, primary_key=True), sa.Column("status", sa.Integer),
            sa.Column("content_type", sa.Text), sa.Column("size", sa.BigInteger), sa.Column("etag", sa.Text),
            sa.Column("last_modified", sa.Text), sa.Column("hash", sa.Text),
            sa.Column("broken", sa.Integer, nullable=False), sa.Column("error", sa.Text),
            sa.Column("checked_at", real(), nullable=False), sa.Column("changed_at", real()),
            sa.Column("broken_since", real()))
    if not has_table("dataset_links"):
        op.create_table("dataset_links", sa.Column("dataset", sa.Text, primary_key=True),
                        sa.Column("url", sa.Text, primary_key=True))
        op.create_index("dataset_links_url", "dataset_links", ["url"])
    if not has_table("link_quality"):
        op.create_table("link_quality", sa.Column("dataset", sa.Text, primary_key=True),
                        sa.Column("ok", sa.Integer, nullable=False), sa.Column("checked", sa.Integer, nullable=False))


def downgrade() -> None:
    for table in ("link_quality", "dataset_links", "link_status"):
        op.drop_table(table)
