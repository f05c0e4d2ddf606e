"""accounts: staff and public accounts, scoped tokens; each department push account becomes a publisher account.

A row of push_accounts becomes an account (login ``push-<id>``, role publisher, its department, no password)
holding one token with the scope ``push`` whose id is the old account id and whose hash is the old token hash:
every token given out before keeps working, and a revoked one stays revoked.

Revision ID: accounts_0002
Revises: accounts_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "accounts_0002"
down_revision = "accounts_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("accounts", sa.Column("id", sa.Text, primary_key=True),
                    sa.Column("login", sa.Text, nullable=False, unique=True),
                    sa.Column("display_name", sa.Text, nullable=False), sa.Column("role", sa.Text, nullable=False),
                    sa.Column("department", sa.Text), sa.Column("password_hash", sa.Text),
                    sa.Column("external_id", sa.Text, unique=True), sa.Column("disabled", sa.Text),
                    sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
                    sa.Column("locked_until", sa.Text), sa.Column("created", sa.Text, nullable=False),
                    sa.Column("last_sign_in", sa.Text))
    op.create_index("accounts_department", "accounts", ["department"])
    op.create_table("account_tokens", sa.Column("id", sa.Text, primary_key=True),
                    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
                    sa.Column("name", sa.Text), sa.Column("scopes", sa.Text, nullable=False),
                    sa.Column("token_hash", sa.Text, nullable=False), sa.Column("created", sa.Text, nullable=False),
                    sa.Column("revoked", sa.Text), sa.Column("last_used", sa.Text))
    op.create_index("account_tokens_account", "account_tokens", ["account_id"])
    op.execute("INSERT INTO accounts (id, login, display_name, role, department, failed_attempts, created) "
               "SELECT id, 'push-' || id, name, 'publisher', department, 0, created FROM push_accounts")
    op.execute("INSERT INTO account_tokens (id, account_id, name, scopes, token_hash, created, revoked, last_used) "
               "SELECT id, id, 'push', 'push', token_hash, created, revoked, last_used FROM push_accounts")
    op.drop_table("push_accounts")


def downgrade() -> None:
    op.create_table("push_accounts", sa.Column("id", sa.Text, primary_key=True),
                    sa.Column("department", sa.Text, nullable=False), sa.Column("name", sa.Text, nullable=False),
                    sa.Column("token_hash", sa.Text, nullable=False), sa.Column("created", sa.Text, nullable=False),
                    sa.Column("revoked", sa.Text), sa.Column("last_used", sa.Text))
    op.create_index("push_accounts_department", "push_accounts", ["department"])
    op.execute("INSERT INTO push_accounts (id, department, name, token_hash, created, revoked, last_used) "
               "SELECT t.id, a.department, a.display_name, t.token_hash, t.created, t.revoked, t.last_used "
               "FROM account_tokens t JOIN accounts a ON a.id = t.account_id "
               "WHERE t.scopes LIKE '%push%' AND a.department IS NOT NULL")
    op.drop_table("account_tokens")
    op.drop_table("accounts")
