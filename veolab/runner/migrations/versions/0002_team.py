"""Team scale (issue 15): many workers, one sweep. ``sweeps`` holds the MLflow sweep run the
workers of one plan share, ``sweep_workers`` each worker's lease and counts, and
``claims.attempt`` the sweep that last dealt with a request (a colleague in that sweep does not
deal with it again).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("claims", sa.Column("attempt", sa.String(64)))
    op.create_table(
        "sweeps",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("experiment", sa.String(400), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("owner", sa.String(300)),
        sa.Column("lease_until", sa.Float),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_table(
        "sweep_workers",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(300), primary_key=True),
        sa.Column("sweep_key", sa.String(100), nullable=False),
        sa.Column("lease_until", sa.Float),
        sa.Column("joined", sa.Float, nullable=False),
        sa.Column("left", sa.Float),
        sa.Column("generated", sa.Integer, nullable=False),
        sa.Column("relogged", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("check_failed", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("spend", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sweep_workers")
    op.drop_table("sweeps")
    with op.batch_alter_table("claims") as batch:  # SQLite rebuilds the table to drop a column
        batch.drop_column("attempt")
