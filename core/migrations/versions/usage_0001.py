"""usage: views, downloads and API calls per day, dataset and kind (services/usage.py); no addresses kept.

usage_visitors holds, per day and dataset, hashes of client networks (/24 IPv4, /48 IPv6) with that day's salt;
usage_salts keeps today's salt only (older ones are deleted, so older hashes cannot be tied to a network).

Revision ID: usage_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "usage_0001"
down_revision = None
branch_labels = ("usage",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_counts", sa.Column("day", sa.Text, primary_key=True), sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True), sa.Column("bot", sa.Integer, primary_key=True),
        sa.Column("department", sa.Text, nullable=False, server_default=""),
        sa.Column("n", sa.BigInteger, nullable=False))
    op.create_index("usage_counts_dataset", "usage_counts", ["dataset", "day"])
    op.create_index("usage_counts_department", "usage_counts", ["department", "day"])
    op.create_table(
        "usage_visitors", sa.Column("day", sa.Text, primary_key=True),
        sa.Column("dataset", sa.Text, primary_key=True), sa.Column("visitor", sa.Text, primary_key=True))
    op.create_table("usage_salts", sa.Column("day", sa.Text, primary_key=True),
                    sa.Column("salt", sa.Text, nullable=False))


def downgrade() -> None:
    op.drop_table("usage_salts")
    op.drop_table("usage_visitors")
    op.drop_table("usage_counts")
