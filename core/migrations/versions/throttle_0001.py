"""throttle: the rate limits' counts, shared by the web processes (server/throttle_store.py).

Revision ID: throttle_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "throttle_0001"
down_revision = None
branch_labels = ("throttle",)
depends_on = None


def upgrade() -> None:
    # fixed and sliding windows: a count per key until it expires (seconds since the epoch)
    op.create_table("throttle_counters", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("n", sa.BigInteger, nullable=False), sa.Column("expires", sa.Float, nullable=False))
    op.create_index("throttle_counters_expires", "throttle_counters", ["expires"])
    # moving windows: one row a request, kept until it leaves its window
    op.create_table("throttle_hits", sa.Column("key", sa.Text, nullable=False),
                    sa.Column("at", sa.Float, nullable=False), sa.Column("until", sa.Float, nullable=False))
    op.create_index("throttle_hits_key", "throttle_hits", ["key", "at"])
    op.create_index("throttle_hits_until", "throttle_hits", ["until"])


def downgrade() -> None:
    op.drop_table("throttle_hits")
    op.drop_table("throttle_counters")
