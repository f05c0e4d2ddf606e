"""quality_checks: what identifies each checked data file's content (URL, ETag, Last-Modified, sha256).

The daily job checks again only the files that are new or changed since their last check: a conditional GET
with the kept validators, or the same sha256, means the file is the one already checked.

Revision ID: quality_checks_0002
Revises: quality_checks_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "quality_checks_0002"
down_revision = "quality_checks_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("url", "etag", "last_modified", "sha256"):
        op.add_column("quality_check_files", sa.Column(name, sa.Text))


def downgrade() -> None:
    for name in ("sha256", "last_modified", "etag", "url"):
        op.drop_column("quality_check_files", name)
