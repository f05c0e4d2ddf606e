"""freshness: each published dataset's update measured against its declared cycle, per day (manage/freshness.py).

Revision ID: freshness_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "freshness_0001"
down_revision = None
branch_labels = ("freshness",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "freshness_days", sa.Column("day", sa.Text, primary_key=True),
        sa.Column("measured_at", sa.Text, nullable=False), sa.Column("datasets", sa.Integer, nullable=False))
    op.create_table(
        "freshness", sa.Column("day", sa.Text, primary_key=True), sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("department", sa.Text, nullable=False), sa.Column("cycle", sa.Text),
        sa.Column("modified", sa.Text), sa.Column("due", sa.Text), sa.Column("status", sa.Text, nullable=False),
        sa.Column("days_late", sa.Integer), sa.Column("detail", sa.Text))
    op.create_index("freshness_department", "freshness", ["day", "department", "status"])
    op.create_index("freshness_dataset", "freshness", ["dataset", "day"])


def downgrade() -> None:
    op.drop_table("freshness")
    op.drop_table("freshness_days")
