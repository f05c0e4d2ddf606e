"""harvest: sources added in the admin console (kept on the data layer, so every process sees them).

Revision ID: harvest_0002
Revises: harvest_0001
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import real

revision = "harvest_0002"
down_revision = "harvest_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harvest_sources",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("config", sa.Text, nullable=False),         # the source as JSON (config.settings.HarvestSource)
        sa.Column("enabled", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created", real(), nullable=False), sa.Column("updated", real(), nullable=False),
        sa.Column("updated_by", sa.Text))


def downgrade() -> None:
    op.drop_table("harvest_sources")
