"""catalog_order: /catalog's page order, one row per dataset (record time, IRI), and the kept count.

Adopts catalog-order.sqlite as the code before the data layer made it (tables meta, entries). On PostgreSQL the
text columns use byte order (COLLATE "C"), as SQLite's BINARY: pages and ``after=`` keys are the same.

Revision ID: catalog_order_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import adopt, has_table

revision = "catalog_order_0001"
down_revision = None
branch_labels = ("catalog_order",)
depends_on = None


def _bytes_text():
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table("catalog_order_meta", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    op.create_table("catalog_order_entries", sa.Column("uri", _bytes_text(), primary_key=True),
                    sa.Column("modified", _bytes_text(), nullable=False), sqlite_with_rowid=False)
    op.create_index("catalog_order_entries_order", "catalog_order_entries", ["modified", "uri"])
    if op.get_bind().dialect.name == "sqlite" and has_table("entries"):
        adopt("entries", "catalog_order_entries", ["uri", "modified"])
        adopt("meta", "catalog_order_meta", ["key", "value"])
        op.execute("DELETE FROM catalog_order_meta WHERE key = 'schema'")


def downgrade() -> None:
    op.drop_table("catalog_order_entries")
    op.drop_table("catalog_order_meta")
