"""harvest: jobs, their logs and errors, dataset hashes and history, source state, intents (adopts harvest.sqlite).

Revision ID: harvest_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import adopt, big_id, real

revision = "harvest_0001"
down_revision = None
branch_labels = ("harvest",)
depends_on = None

COUNTS = ("new", "updated", "unchanged", "withdrawn", "failed", "superseded", "held")


def upgrade() -> None:
    op.create_table(
        "harvest_jobs",
        sa.Column("id", big_id(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False), sa.Column("status", sa.Text, nullable=False),
        sa.Column("started", real(), nullable=False), sa.Column("finished", real()),
        sa.Column("heartbeat", real(), nullable=False), sa.Column("pid", sa.Integer), sa.Column("host", sa.Text),
        sa.Column("boot", sa.Text), sa.Column("retry_of", sa.BigInteger), sa.Column("trigger", sa.Text),
        *[sa.Column(c, sa.Integer, server_default="0") for c in COUNTS],
        sa.Column("message", sa.Text, server_default=""), sa.Column("figures", sa.Text, server_default="{}"))
    op.create_index("harvest_jobs_source", "harvest_jobs", ["source", "id"])
    op.create_index("harvest_jobs_running", "harvest_jobs", ["status"])
    op.create_table("harvest_job_errors", sa.Column("n", big_id(), primary_key=True, autoincrement=True),
                    sa.Column("job", sa.BigInteger, nullable=False), sa.Column("origin", sa.Text),
                    sa.Column("kind", sa.Text), sa.Column("message", sa.Text))
    op.create_index("harvest_job_errors_job", "harvest_job_errors", ["job", "n"])
    op.create_table("harvest_job_log", sa.Column("n", big_id(), primary_key=True, autoincrement=True),
                    sa.Column("job", sa.BigInteger, nullable=False), sa.Column("at", real(), nullable=False),
                    sa.Column("line", sa.Text, nullable=False))
    op.create_index("harvest_job_log_job", "harvest_job_log", ["job", "n"])
    op.create_table("harvest_datasets", sa.Column("uri", sa.Text, primary_key=True),
                    sa.Column("source", sa.Text, nullable=False), sa.Column("channel", sa.Text),
                    sa.Column("rank", sa.Integer), sa.Column("hash", sa.Text),
                    sa.Column("state", sa.Text, nullable=False), sa.Column("job", sa.BigInteger),
                    sa.Column("updated", real(), nullable=False))
    op.create_index("harvest_datasets_source", "harvest_datasets", ["source"])
    op.create_table("harvest_history", sa.Column("n", big_id(), primary_key=True, autoincrement=True),
                    sa.Column("dataset", sa.Text, nullable=False), sa.Column("job", sa.BigInteger),
                    sa.Column("source", sa.Text), sa.Column("at", real(), nullable=False),
                    sa.Column("action", sa.Text, nullable=False), sa.Column("hash", sa.Text))
    op.create_index("harvest_history_dataset", "harvest_history", ["dataset", "n"])
    op.create_index("harvest_history_job", "harvest_history", ["job", "n"])
    op.create_table("harvest_source_state", sa.Column("source", sa.Text, primary_key=True),
                    sa.Column("state", sa.Text, nullable=False), sa.Column("updated", real(), nullable=False))
    op.create_table("harvest_intents", sa.Column("uri", sa.Text, primary_key=True),
                    sa.Column("source", sa.Text, nullable=False), sa.Column("channel", sa.Text),
                    sa.Column("rank", sa.Integer), sa.Column("hash", sa.Text), sa.Column("job", sa.BigInteger),
                    sa.Column("at", real(), nullable=False))
    # a harvest.sqlite made before the data layer: its rows move into the tables above
    adopt("jobs", "harvest_jobs", ["id", "source", "status", "started", "finished", "heartbeat", "pid", "host",
                                   "boot", "retry_of", "trigger", *COUNTS, "message", "figures"])
    adopt("job_errors", "harvest_job_errors", ["job", "origin", "kind", "message"], rowid_as="n")
    adopt("job_log", "harvest_job_log", ["job", "at", "line"], rowid_as="n")
    adopt("datasets", "harvest_datasets", ["uri", "source", "channel", "rank", "hash", "state", "job", "updated"])
    adopt("history", "harvest_history", ["dataset", "job", "source", "at", "action", "hash"], rowid_as="n")
    adopt("source_state", "harvest_source_state", ["source", "state", "updated"])
    adopt("intents", "harvest_intents", ["uri", "source", "channel", "rank", "hash", "job", "at"])


def downgrade() -> None:
    for table in ("harvest_intents", "harvest_source_state", "harvest_history", "harvest_datasets",
                  "harvest_job_log", "harvest_job_errors", "harvest_jobs"):
        op.drop_table(table)
