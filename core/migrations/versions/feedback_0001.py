"""feedback: ratings (1-5, one per account and dataset) and moderated comments (services/feedback.py).

Revision ID: feedback_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import big_id

revision = "feedback_0001"
down_revision = None
branch_labels = ("feedback",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_ratings", sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("account", sa.Text, primary_key=True), sa.Column("value", sa.Integer, nullable=False),
        sa.Column("created", sa.Text, nullable=False), sa.Column("updated", sa.Text, nullable=False))
    op.create_table(
        "feedback_comments", sa.Column("id", big_id(), primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.Text, nullable=False), sa.Column("account", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False), sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False), sa.Column("created", sa.Text, nullable=False),
        sa.Column("decided", sa.Text), sa.Column("decided_by", sa.Text), sa.Column("reason", sa.Text))
    op.create_index("feedback_comments_dataset", "feedback_comments", ["dataset", "status", "id"])
    op.create_index("feedback_comments_status", "feedback_comments", ["status", "id"])


def downgrade() -> None:
    op.drop_table("feedback_comments")
    op.drop_table("feedback_ratings")
