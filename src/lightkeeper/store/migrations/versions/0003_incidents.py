"""Incidents and on-call: incidents, their alerts and their timeline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("open_key", sa.String(64), unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("acknowledged_at", sa.Float),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("resolved_at", sa.Float),
        sa.Column("resolved_by", sa.String(128)),
        sa.Column("rotation", sa.String(128)),
        sa.Column("paged", sa.Text, nullable=False),
        sa.Column("next_escalation_at", sa.Float),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_index("ix_incidents_escalation", "incidents", ["next_escalation_at"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("alert", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_incident_alerts_fingerprint", "incident_alerts", ["fingerprint"])
    op.create_table(
        "incident_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_events_incident", "incident_events", ["incident_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_incident_events_incident", "incident_events")
    op.drop_table("incident_events")
    op.drop_index("ix_incident_alerts_fingerprint", "incident_alerts")
    op.drop_table("incident_alerts")
    op.drop_index("ix_incidents_escalation", "incidents")
    op.drop_index("ix_incidents_opened_at", "incidents")
    op.drop_table("incidents")
