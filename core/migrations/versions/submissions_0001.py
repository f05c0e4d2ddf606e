"""submissions: departments' drafts of datasets (数据报送), their attached data files and every step of their review.

Revision ID: submissions_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "submissions_0001"
down_revision = None
branch_labels = ("submissions",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions", sa.Column("id", sa.Text, primary_key=True),
        sa.Column("department", sa.Text, nullable=False), sa.Column("dataset_id", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),  # new, change
        sa.Column("status", sa.Text, nullable=False),  # draft, submitted, returned, published, withdrawn
        sa.Column("fields", sa.Text, nullable=False),  # the form's values (JSON)
        sa.Column("report", sa.Text),  # the last validation: findings and mapping problems (JSON)
        sa.Column("created", sa.Text, nullable=False), sa.Column("created_by", sa.Text),
        sa.Column("updated", sa.Text, nullable=False), sa.Column("submitted", sa.Text),
        sa.Column("decided", sa.Text), sa.Column("decided_by", sa.Text), sa.Column("reason", sa.Text))
    op.create_index("submissions_department", "submissions", ["department", "status"])
    op.create_index("submissions_queue", "submissions", ["status", "submitted"])
    op.create_table(
        "submission_files", sa.Column("id", sa.Text, primary_key=True),
        sa.Column("submission", sa.Text, nullable=False), sa.Column("name", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False), sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False), sa.Column("crs", sa.Text),
        sa.Column("rows", sa.Integer), sa.Column("added", sa.Text, nullable=False), sa.Column("added_by", sa.Text))
    op.create_index("submission_files_submission", "submission_files", ["submission"])
    op.create_table(
        "submission_events", sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission", sa.Text, nullable=False), sa.Column("at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text), sa.Column("role", sa.Text), sa.Column("action", sa.Text, nullable=False),
        sa.Column("detail", sa.Text))
    op.create_index("submission_events_submission", "submission_events", ["submission", "n"])


def downgrade() -> None:
    for table in ("submission_events", "submission_files", "submissions"):
        op.drop_table(table)
