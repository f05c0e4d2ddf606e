"""quotas: API-key request counters per window and daily usage per key and dataset (services/quotas.py).

Revision ID: quotas_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "quotas_0001"
down_revision = None
branch_labels = ("quotas",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_counters", sa.Column("key_id", sa.Text, nullable=False), sa.Column("slot", sa.Text, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False), sa.PrimaryKeyConstraint("key_id", "slot"))
    op.create_table(
        "quota_usage", sa.Column("key_id", sa.Text, nullable=False), sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("day", sa.Text, nullable=False), sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("refused", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("key_id", "dataset", "day"))
    op.create_index("quota_usage_day", "quota_usage", ["day"])


def downgrade() -> None:
    op.drop_table("quota_usage")
    op.drop_table("quota_counters")
