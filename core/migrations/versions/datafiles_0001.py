"""datafiles: what identifies each spatial dataset's data file (URL, ETag, Last-Modified, sha256, recipe, outcome).

The table keeps its name; a datafiles.sqlite made before the data layer already holds it and keeps its rows.

Revision ID: datafiles_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import has_table

revision = "datafiles_0001"
down_revision = None
branch_labels = ("datafiles",)
depends_on = None


def upgrade() -> None:
    if not has_table("datafiles"):
        op.create_table(
            "datafiles", sa.Column("dataset", sa.Text, primary_key=True), sa.Column("url", sa.Text, nullable=False),
            sa.Column("etag", sa.Text), sa.Column("last_modified", sa.Text), sa.Column("sha256", sa.Text),
            sa.Column("recipe", sa.Text, nullable=False), sa.Column("outcome", sa.Text, nullable=False),
            sa.Column("placed", sa.BigInteger), sa.Column("extent", sa.Text))


def downgrade() -> None:
    op.drop_table("datafiles")
