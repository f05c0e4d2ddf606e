"""showcase: apps, analyses and visualisations (应用成果), the datasets each uses, their images
(services/showcase.py).

Revision ID: showcase_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import big_id

revision = "showcase_0001"
down_revision = None
branch_labels = ("showcase",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "showcase_items", sa.Column("id", big_id(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False), sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False), sa.Column("link", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False), sa.Column("account", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False), sa.Column("created", sa.Text, nullable=False),
        sa.Column("decided", sa.Text), sa.Column("decided_by", sa.Text), sa.Column("reason", sa.Text),
        sa.Column("image_type", sa.Text))
    op.create_index("showcase_items_status", "showcase_items", ["status", "id"])
    op.create_index("showcase_items_account", "showcase_items", ["account", "id"])
    op.create_table(
        "showcase_datasets", sa.Column("item", sa.BigInteger, primary_key=True),
        sa.Column("dataset", sa.Text, primary_key=True), sa.Column("position", sa.Integer, nullable=False))
    op.create_index("showcase_datasets_dataset", "showcase_datasets", ["dataset", "item"])
    op.create_table(
        "showcase_images", sa.Column("item", sa.BigInteger, primary_key=True),
        sa.Column("media_type", sa.Text, nullable=False), sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False))


def downgrade() -> None:
    for table in ("showcase_images", "showcase_datasets", "showcase_items"):
        op.drop_table(table)
