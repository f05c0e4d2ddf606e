"""accounts: department accounts of the push API (token hashes) and grants (adopts accounts.sqlite).

Revision ID: accounts_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import adopt

revision = "accounts_0001"
down_revision = None
branch_labels = ("accounts",)
depends_on = None


def upgrade() -> None:
    op.create_table("push_accounts", sa.Column("id", sa.Text, primary_key=True),
                    sa.Column("department", sa.Text, nullable=False), sa.Column("name", sa.Text, nullable=False),
                    sa.Column("token_hash", sa.Text, nullable=False), sa.Column("created", sa.Text, nullable=False),
                    sa.Column("revoked", sa.Text), sa.Column("last_used", sa.Text))
    op.create_index("push_accounts_department", "push_accounts", ["department"])
    op.create_table("push_grants", sa.Column("dataset_id", sa.Text, primary_key=True),
                    sa.Column("department", sa.Text, primary_key=True), sa.Column("granted", sa.Text, nullable=False),
                    sa.Column("note", sa.Text))
    adopt("accounts", "push_accounts", ["id", "department", "name", "token_hash", "created", "revoked", "last_used"])
    adopt("grants", "push_grants", ["dataset_id", "department", "granted", "note"])


def downgrade() -> None:
    op.drop_table("push_grants")
    op.drop_table("push_accounts")
