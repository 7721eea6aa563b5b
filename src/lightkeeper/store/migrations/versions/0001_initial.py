"""Initial schema: monitors, raw results, rollups, live monitor state, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "results",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("monitor_id", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_results_monitor_ts", "results", ["monitor_id", "ts"])
    op.create_index("ix_results_ts", "results", ["ts"])
    op.create_table(
        "rollups",
        sa.Column("monitor_id", sa.Integer, primary_key=True),
        sa.Column("period", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.Float, primary_key=True),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("up", sa.Integer, nullable=False),
        sa.Column("degraded", sa.Integer, nullable=False),
        sa.Column("down", sa.Integer, nullable=False),
        sa.Column("latency_sum", sa.Float, nullable=False),
        sa.Column("latency_count", sa.Integer, nullable=False),
        sa.Column("latency_max", sa.Float, nullable=False),
    )
    op.create_table(
        "monitor_state",
        sa.Column("monitor_id", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("last_check", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("fail_streak", sa.Integer, nullable=False),
        sa.Column("ok_streak", sa.Integer, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("last_ping", sa.Float),
        sa.Column("last_start", sa.Float),
        sa.Column("last_ping_kind", sa.String(16), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float),
    )


def downgrade() -> None:
    for table in ("api_tokens", "monitor_state", "rollups", "results", "monitors"):
        op.drop_table(table)
