"""Telemetry: issues grouped from error events, their tags, users and hours, the events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telemetry_issues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("culprit", sa.Text, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("components", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("users", sa.Integer, nullable=False),
        sa.Column("first_release", sa.String(200)),
        sa.Column("last_release", sa.String(200)),
        sa.Column("resolved_at", sa.Float),
        sa.Column("regressed_at", sa.Float),
        sa.Column("regressions", sa.Integer, nullable=False),
        sa.Column("sample", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ux_telemetry_issues_hash", "telemetry_issues", ["project_id", "hash"], unique=True
    )
    op.create_index(
        "ix_telemetry_issues_last_seen", "telemetry_issues", ["project_id", "last_seen"]
    )
    op.create_table(
        "telemetry_issue_tags",
        sa.Column("issue_id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_index("ix_telemetry_issue_tags_value", "telemetry_issue_tags", ["key", "value"])
    op.create_table(
        "telemetry_issue_users",
        sa.Column("issue_id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(16), primary_key=True),
    )
    op.create_table(
        "telemetry_issue_hours",
        sa.Column("issue_id", sa.Integer, primary_key=True),
        sa.Column("hour", sa.Float, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "telemetry_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("issue_id", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("received", sa.Float, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("release", sa.String(200)),
        sa.Column("environment", sa.String(64)),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ux_telemetry_events_event_id",
        "telemetry_events",
        ["project_id", "event_id"],
        unique=True,
    )
    op.create_index("ix_telemetry_events_issue", "telemetry_events", ["issue_id", "id"])
    op.create_index("ix_telemetry_events_received", "telemetry_events", ["project_id", "received"])
    # Signal minutes are now pruned by age (telemetry keeps them for charts and baselines).
    op.create_index("ix_signal_minutes_minute", "signal_minutes", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_signal_minutes_minute", "signal_minutes")
    op.drop_index("ix_telemetry_events_received", "telemetry_events")
    op.drop_index("ix_telemetry_events_issue", "telemetry_events")
    op.drop_index("ux_telemetry_events_event_id", "telemetry_events")
    op.drop_table("telemetry_events")
    op.drop_table("telemetry_issue_hours")
    op.drop_table("telemetry_issue_users")
    op.drop_index("ix_telemetry_issue_tags_value", "telemetry_issue_tags")
    op.drop_table("telemetry_issue_tags")
    op.drop_index("ix_telemetry_issues_last_seen", "telemetry_issues")
    op.drop_index("ux_telemetry_issues_hash", "telemetry_issues")
    op.drop_table("telemetry_issues")
