"""catalog_texts: the public N-Triples of each dataset for /catalog pages (adopts catalog-texts.sqlite).

Revision ID: catalog_texts_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import adopt

revision = "catalog_texts_0001"
down_revision = None
branch_labels = ("catalog_texts",)
depends_on = None


def upgrade() -> None:
    op.create_table("catalog_texts", sa.Column("uri", sa.Text, primary_key=True),
                    sa.Column("stamp", sa.Text, nullable=False), sa.Column("text", sa.Text, nullable=False))
    adopt("texts", "catalog_texts", ["uri", "stamp", "text"])


def downgrade() -> None:
    op.drop_table("catalog_texts")
