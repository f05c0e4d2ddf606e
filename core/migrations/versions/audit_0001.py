"""audit: the staff audit log, hash-chained and append-only (access/audit.py), and its small state.

``audit_log`` refuses UPDATE and DELETE by a trigger on both engines: the log only grows. Whoever can drop the
trigger can still change rows; the hash chain and the anchor file (access/audit.py) make that seen.

Revision ID: audit_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "audit_0001"
down_revision = None
branch_labels = ("audit",)
depends_on = None

_REFUSE_SQLITE = """CREATE TRIGGER audit_log_append_only_{what} BEFORE {what} ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"""
_REFUSE_PG_FUNCTION = """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql"""
_REFUSE_PG = """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"""


def upgrade() -> None:
    op.create_table("audit_log", sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
                    sa.Column("at", sa.Text, nullable=False), sa.Column("actor", sa.Text), sa.Column("role", sa.Text),
                    sa.Column("action", sa.Text, nullable=False), sa.Column("target", sa.Text, nullable=False),
                    sa.Column("address", sa.Text), sa.Column("before", sa.Text), sa.Column("after", sa.Text),
                    sa.Column("detail", sa.Text), sa.Column("prev_hash", sa.Text, nullable=False),
                    sa.Column("hash", sa.Text, nullable=False))
    op.create_index("audit_log_at", "audit_log", ["at"])
    op.create_index("audit_log_actor", "audit_log", ["actor"])
    op.create_index("audit_log_action", "audit_log", ["action"])
    op.create_table("audit_state", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("value", sa.Text, nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_REFUSE_PG_FUNCTION)
        op.execute(_REFUSE_PG)
    else:
        op.execute(_REFUSE_SQLITE.format(what="UPDATE"))
        op.execute(_REFUSE_SQLITE.format(what="DELETE"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("audit_state")
    op.drop_table("audit_log")
