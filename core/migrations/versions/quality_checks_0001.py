"""quality_checks: data-quality checks on the data itself (tabular/): each check's last value, and its findings.

Revision ID: quality_checks_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import real

revision = "quality_checks_0001"
down_revision = None
branch_labels = ("quality_checks",)
depends_on = None


def upgrade() -> None:
    # one row per dataset, distribution ('' for the dataset itself) and check: the value it measured
    op.create_table(
        "quality_check_runs", sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("distribution", sa.Text, primary_key=True), sa.Column("check_name", sa.Text, primary_key=True),
        sa.Column("value", real(), nullable=False), sa.Column("checked_at", real(), nullable=False))
    op.create_table(
        "quality_check_findings", sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("distribution", sa.Text, nullable=False), sa.Column("check_name", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False), sa.Column("detail", sa.Text, nullable=False),
        sa.Column("message_zh", sa.Text, nullable=False), sa.Column("message_en", sa.Text, nullable=False),
        sa.Column("found_at", real(), nullable=False))
    op.create_index("quality_check_findings_dataset", "quality_check_findings", ["dataset", "check_name"])
    # one row per data file read: what its bytes are (csv, xlsx, PDF …), how it was read, its size as a table
    op.create_table(
        "quality_check_files", sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("distribution", sa.Text, primary_key=True), sa.Column("sniffed", sa.Text, nullable=False),
        sa.Column("encoding", sa.Text), sa.Column("row_count", sa.BigInteger), sa.Column("column_count", sa.Integer),
        sa.Column("notes", sa.Text), sa.Column("checked_at", real(), nullable=False))


def downgrade() -> None:
    op.drop_table("quality_check_files")
    op.drop_table("quality_check_findings")
    op.drop_table("quality_check_runs")
