"""workorders: findings handed to a department to fix, with status, deadline and history (manage/workorders.py).

Revision ID: workorders_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import big_id

revision = "workorders_0001"
down_revision = None
branch_labels = ("workorders",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workorders", sa.Column("id", big_id(), primary_key=True, autoincrement=True),
        sa.Column("department", sa.Text, nullable=False), sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False), sa.Column("kind", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False), sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened", sa.Text, nullable=False), sa.Column("opened_by", sa.Text),
        sa.Column("deadline", sa.Text), sa.Column("deadline_note", sa.Text),
        sa.Column("last_seen", sa.Text, nullable=False), sa.Column("updated", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text), sa.Column("closed", sa.Text), sa.Column("note", sa.Text),
        sa.Column("reminded", sa.Integer, nullable=False, server_default="0"))
    op.create_index("workorders_department", "workorders", ["department", "status"])
    op.create_index("workorders_finding", "workorders", ["kind", "dataset", "subject", "status"])
    op.create_table(
        "workorder_events", sa.Column("n", big_id(), primary_key=True, autoincrement=True),
        sa.Column("workorder", sa.BigInteger, nullable=False), sa.Column("at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text), sa.Column("from_status", sa.Text), sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("note", sa.Text))
    op.create_index("workorder_events_order", "workorder_events", ["workorder", "n"])


def downgrade() -> None:
    op.drop_table("workorder_events")
    op.drop_table("workorders")
