"""quality_scores: per dataset graph its (publisher, score) pairs, per publisher their number and exact sum.

Adopts quality-scores.sqlite as the code before the data layer made it (tables meta, pairs, publishers).

Revision ID: quality_scores_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import adopt, has_table

revision = "quality_scores_0001"
down_revision = None
branch_labels = ("quality_scores",)
depends_on = None


def upgrade() -> None:
    op.create_table("quality_meta", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    op.create_table("quality_pairs", sa.Column("graph", sa.Text, nullable=False),
                    sa.Column("publisher", sa.Text, nullable=False), sa.Column("value", sa.Text))
    op.create_index("quality_pairs_graph", "quality_pairs", ["graph"])
    op.create_table("quality_publishers", sa.Column("publisher", sa.Text, primary_key=True),
                    sa.Column("n", sa.BigInteger, nullable=False), sa.Column("total", sa.Text, nullable=False),
                    sa.Column("bad", sa.BigInteger, nullable=False), sqlite_with_rowid=False)
    if op.get_bind().dialect.name == "sqlite" and has_table("pairs"):
        adopt("pairs", "quality_pairs", ["graph", "publisher", "value"])
        adopt("publishers", "quality_publishers", ["publisher", "n", "total", "bad"])
        adopt("meta", "quality_meta", ["key", "value"])
        op.execute("DELETE FROM quality_meta WHERE key = 'schema'")


def downgrade() -> None:
    for table in ("quality_publishers", "quality_pairs", "quality_meta"):
        op.drop_table(table)
