"""changes: the change log behind /changes, the datasets it last saw, its generation (adopts changes.sqlite).

Revision ID: changes_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import adopt, big_id, real

revision = "changes_0001"
down_revision = None
branch_labels = ("changes",)
depends_on = None


def upgrade() -> None:
    op.create_table("changes_meta", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    op.create_table("changes_log", sa.Column("seq", big_id(), primary_key=True, autoincrement=True),
                    sa.Column("at", real(), nullable=False), sa.Column("generation", sa.BigInteger, nullable=False),
                    sa.Column("id", sa.Text, nullable=False), sa.Column("uri", sa.Text, nullable=False),
                    sa.Column("action", sa.Text, nullable=False), sqlite_autoincrement=True)
    op.create_index("changes_log_at", "changes_log", ["at"])
    op.create_table("changes_seen", sa.Column("uri", sa.Text, primary_key=True),
                    sa.Column("generation", sa.BigInteger, nullable=False),
                    sa.Column("present", sa.Integer, nullable=False), sa.Column("modified", sa.Text))
    adopt("meta", "changes_meta", ["key", "value"])
    adopt("changes", "changes_log", ["seq", "at", "generation", "id", "uri", "action"])
    adopt("seen", "changes_seen", ["uri", "generation", "present", "modified"])
    if op.get_bind().dialect.name == "postgresql":  # sequence numbers only grow, after adopted rows too
        op.execute("SELECT setval(pg_get_serial_sequence('changes_log', 'seq'), "
                   "COALESCE((SELECT MAX(seq) FROM changes_log), 0) + 1, false)")


def downgrade() -> None:
    for table in ("changes_seen", "changes_log", "changes_meta"):
        op.drop_table(table)
