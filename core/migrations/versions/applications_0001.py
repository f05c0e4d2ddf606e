"""applications: 有条件开放 applications, their per-dataset department decisions, grants and use reports
(services/applications.py).

Revision ID: applications_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import big_id

revision = "applications_0001"
down_revision = None
branch_labels = ("applications",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications", sa.Column("id", big_id(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Text, nullable=False), sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("scenario", sa.Text, nullable=False), sa.Column("fields", sa.Text, nullable=False),
        sa.Column("period_from", sa.Text, nullable=False), sa.Column("period_to", sa.Text, nullable=False),
        sa.Column("commitment_version", sa.Text, nullable=False), sa.Column("commitment_text", sa.Text, nullable=False),
        sa.Column("committed_at", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False), sa.Column("submitted", sa.Text, nullable=False),
        sa.Column("department_deadline", sa.Text), sa.Column("bureau_from", sa.Text),
        sa.Column("bureau_deadline", sa.Text), sa.Column("deadline_note", sa.Text),
        sa.Column("bureau_decided", sa.Text), sa.Column("bureau_by", sa.Text), sa.Column("bureau_reason", sa.Text),
        sa.Column("expires", sa.Text), sa.Column("updated", sa.Text, nullable=False))
    op.create_index("applications_account", "applications", ["account_id"])
    op.create_index("applications_status", "applications", ["status"])
    op.create_table(
        "application_items", sa.Column("application", sa.BigInteger, nullable=False),
        sa.Column("dataset", sa.Text, nullable=False), sa.Column("department", sa.Text, nullable=False),
        sa.Column("title", sa.Text), sa.Column("decision", sa.Text, nullable=False),
        sa.Column("decided", sa.Text), sa.Column("decided_by", sa.Text), sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("application", "dataset"))
    op.create_index("application_items_department", "application_items", ["department", "decision"])
    op.create_table(
        "application_grants", sa.Column("application", sa.BigInteger, nullable=False),
        sa.Column("dataset", sa.Text, nullable=False), sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("granted", sa.Text, nullable=False), sa.Column("expires", sa.Text, nullable=False),
        sa.Column("revoked", sa.Text), sa.Column("revoked_by", sa.Text), sa.Column("revoke_reason", sa.Text),
        sa.PrimaryKeyConstraint("application", "dataset"))
    op.create_index("application_grants_account", "application_grants", ["account_id"])
    op.create_table(
        "application_reports", sa.Column("n", big_id(), primary_key=True, autoincrement=True),
        sa.Column("application", sa.BigInteger, nullable=False), sa.Column("at", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False))
    op.create_index("application_reports_order", "application_reports", ["application", "n"])


def downgrade() -> None:
    op.drop_table("application_reports")
    op.drop_table("application_grants")
    op.drop_table("application_items")
    op.drop_table("applications")
