"""requests: error reports (纠错) and data requests (数据需求), their department, deadline and reply
(services/requests.py).

Revision ID: requests_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import big_id

revision = "requests_0001"
down_revision = None
branch_labels = ("requests",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests", sa.Column("id", big_id(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False), sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("dataset", sa.Text), sa.Column("dataset_title", sa.Text),
        sa.Column("field", sa.Text), sa.Column("row_ref", sa.Text), sa.Column("title", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("department", sa.Text), sa.Column("routed_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False), sa.Column("filed", sa.Text, nullable=False),
        sa.Column("received", sa.Text), sa.Column("assigned_by", sa.Text),
        sa.Column("deadline", sa.Text), sa.Column("deadline_note", sa.Text),
        sa.Column("reply", sa.Text), sa.Column("replied", sa.Text), sa.Column("replied_by", sa.Text),
        sa.Column("reply_days", sa.Integer), sa.Column("reply_note", sa.Text))
    op.create_index("requests_department", "requests", ["department", "status"])
    op.create_index("requests_dataset", "requests", ["kind", "dataset", "id"])
    op.create_index("requests_status", "requests", ["status", "id"])
    op.create_index("requests_account", "requests", ["account_id"])


def downgrade() -> None:
    op.drop_table("requests")
