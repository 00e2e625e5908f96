"""The ledger as veolab made it before migrations: claims, payments, budgets (issue 7) and the
review tables (issue 12). A ledger made by that code has some or all of them and no version
table: only the missing tables are created, so it is brought up in place.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "claims" not in have:
        op.create_table(
            "claims",
            sa.Column("key", sa.String(400), primary_key=True),
            sa.Column("experiment", sa.String(400), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("job_id", sa.String(200)),
            sa.Column("error", sa.Text),
            sa.Column("owner", sa.String(300)),
            sa.Column("lease_until", sa.Float),
            sa.Column("run_id", sa.String(64)),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("updated", sa.Float, nullable=False),
        )
    if "payments" not in have:
        op.create_table(
            "payments",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("key", sa.String(400), nullable=False),
            sa.Column("experiment", sa.String(400), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("job_id", sa.String(200)),
            sa.Column("estimate", sa.Float, nullable=False),
            sa.Column("billed", sa.Float),
            sa.Column("owner", sa.String(300)),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("updated", sa.Float, nullable=False),
        )
        op.create_index("ix_payments_key", "payments", ["key"])
        op.create_index("ix_payments_experiment", "payments", ["experiment"])
    if "budgets" not in have:
        op.create_table(
            "budgets",
            sa.Column("experiment", sa.String(400), primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
        )
    if "review_pairs" not in have:
        op.create_table(
            "review_pairs",
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("experiment", sa.String(400), nullable=False),
            sa.Column("reviewer", sa.String(100), nullable=False),
            sa.Column("by", sa.String(400), nullable=False),
            sa.Column("left_run_id", sa.String(64), nullable=False),
            sa.Column("right_run_id", sa.String(64), nullable=False),
            sa.Column("left_group", sa.String(400), nullable=False),
            sa.Column("right_group", sa.String(400), nullable=False),
            sa.Column("served", sa.Float, nullable=False),
            sa.Column("skipped", sa.Float),
        )
        op.create_index("ix_review_pairs_experiment", "review_pairs", ["experiment"])
    if "review_votes" not in have:
        op.create_table(
            "review_votes",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("experiment", sa.String(400), nullable=False),
            sa.Column("reviewer", sa.String(100), nullable=False),
            sa.Column("time", sa.Float, nullable=False),
            sa.Column("pair_id", sa.String(32), nullable=False, unique=True),
            sa.Column("by", sa.String(400), nullable=False),
            sa.Column("left_run_id", sa.String(64), nullable=False),
            sa.Column("right_run_id", sa.String(64), nullable=False),
            sa.Column("left_group", sa.String(400), nullable=False),
            sa.Column("right_group", sa.String(400), nullable=False),
            sa.Column("choice", sa.String(16), nullable=False),
            sa.Column("note", sa.Text),
        )
        op.create_index("ix_review_votes_experiment", "review_votes", ["experiment"])


def downgrade() -> None:
    for table in ("review_votes", "review_pairs", "budgets", "payments", "claims"):
        op.drop_table(table)
