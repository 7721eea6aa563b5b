"""The store's tables (SQLAlchemy Core). Migrations under migrations/ create them.

Times are epoch seconds as floats: portable across SQLite and PostgreSQL, cheap to
compare, and never confused by time zones.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

monitors = Table(
    "monitors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
)

results = Table(
    "results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("monitor_id", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("latency_ms", Float),
    Column("reason", Text, nullable=False),
    Index("ix_results_monitor_ts", "monitor_id", "ts"),
    Index("ix_results_ts", "ts"),
)

# One row per monitor and period (3600: hourly, 86400: daily) and bucket start. Written in
# the same transaction as the raw results it counts, so a crash never counts one twice.
rollups = Table(
    "rollups",
    metadata,
    Column("monitor_id", Integer, primary_key=True),
    Column("period", Integer, primary_key=True),
    Column("bucket", Float, primary_key=True),
    Column("checks", Integer, nullable=False),
    Column("up", Integer, nullable=False),
    Column("degraded", Integer, nullable=False),
    Column("down", Integer, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_count", Integer, nullable=False),
    Column("latency_max", Float, nullable=False),
)

monitor_state = Table(
    "monitor_state",
    metadata,
    Column("monitor_id", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("last_check", Float),
    Column("latency_ms", Float),
    Column("fail_streak", Integer, nullable=False),
    Column("ok_streak", Integer, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("last_ping", Float),
    Column("last_start", Float),
    Column("last_ping_kind", String(16), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
)

# --- Decide and tell: signals, alerts, the notification outbox --------------------------

# A series is one signal name with one set of labels, e.g. probe_latency_ms{monitor="api"}.
series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(512), nullable=False, unique=True),  # name{k="v",…}, labels sorted
    Column("name", String(128), nullable=False),
    Column("labels", Text, nullable=False),  # JSON object
)

# One row per series and minute: what windowed aggregations are computed from.
signal_minutes = Table(
    "signal_minutes",
    metadata,
    Column("series_id", Integer, primary_key=True),
    Column("minute", Float, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("sum", Float, nullable=False),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("last", Float, nullable=False),
    Column("sketch", Text, nullable=False),  # JSON: quantile sketch bins, mergeable
    Index("ix_signal_minutes_minute", "minute"),
)

# One row per alert (a rule and one label set), in its current state.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("rule", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | firing | resolved
    Column("pending_since", Float),
    Column("fired_at", Float),
    Column("resolved_at", Float),
    Column("last_true", Float),
    Column("value", Float),
    Column("updated_at", Float, nullable=False),
    Index("ix_alerts_state", "state"),
)

# Every notification is a row here before anything is sent.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("channel", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # firing | resolved | repeat | test | digest
    Column("dedup_key", String(128), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON: structured facts for webhooks
    Column("created_at", Float, nullable=False),
    Column("due_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("last_error", Text),
    Column("sent_at", Float),
    Column("lease_until", Float),
    Index("ix_outbox_due", "status", "due_at"),
)

# A notification group (route + group_by values) and what its channels were last told.
notify_groups = Table(
    "notify_groups",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("route", Integer, nullable=False),
    Column("state", Text, nullable=False),  # JSON: labels, alert fingerprints, notified map
    Column("next_flush", Float),
    Column("last_flush", Float),
    Column("last_notify", Float),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("matchers", Text, nullable=False),  # JSON list of matcher strings
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("author", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# --- Incidents and on-call --------------------------------------------------------------

# One row per incident. ``open_key`` is the group key while the incident is not resolved
# and NULL after, so the unique constraint allows one live incident per group (NULLs are
# distinct on SQLite and PostgreSQL alike). Writes are guarded by ``version``.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("group_key", String(64), nullable=False),
    Column("open_key", String(64), unique=True),
    Column("title", Text, nullable=False),
    Column("labels", Text, nullable=False),  # JSON: the group_by label values
    Column("state", String(16), nullable=False),  # open | acknowledged | resolved
    Column("opened_at", Float, nullable=False),
    Column("acknowledged_at", Float),
    Column("acknowledged_by", String(128)),
    Column("resolved_at", Float),
    Column("resolved_by", String(128)),
    Column("rotation", String(128)),
    Column("paged", Text, nullable=False),  # JSON list: people paged, in order
    Column("next_escalation_at", Float),
    Column("version", Integer, nullable=False),
    Index("ix_incidents_opened_at", "opened_at"),
    Index("ix_incidents_escalation", "next_escalation_at"),
)

# The alerts of an incident, each with the snapshot its messages are written from.
incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", Integer, primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("state", String(16), nullable=False),  # firing | resolved
    Column("alert", Text, nullable=False),  # JSON: the alert as last seen
    Column("updated_at", Float, nullable=False),
    Index("ix_incident_alerts_fingerprint", "fingerprint"),
)

# The timeline: alerts, pages, escalations, acknowledgements, notes, the resolve.
incident_events = Table(
    "incident_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128)),
    Column("text", Text, nullable=False),
    Column("data", Text, nullable=False),  # JSON: the values behind a decision
    Index("ix_incident_events_incident", "incident_id", "id"),
)


# --- Telemetry: issues grouped from error events, and the events themselves --------------

# One row per project and grouping hash. ``sample`` is the issue's first event (zstd),
# which later events of the issue are compressed against: they differ from it in little.
telemetry_issues = Table(
    "telemetry_issues",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, nullable=False),
    Column("hash", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("culprit", Text, nullable=False),
    Column("level", String(16), nullable=False),
    Column("method", String(16), nullable=False),  # how it was grouped
    Column("components", Text, nullable=False),  # JSON: what went into the hash
    Column("status", String(16), nullable=False),  # unresolved | resolved | ignored
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("users", Integer, nullable=False),
    Column("first_release", String(200)),
    Column("last_release", String(200)),
    Column("resolved_at", Float),
    Column("regressed_at", Float),
    Column("regressions", Integer, nullable=False),
    Column("sample", LargeBinary, nullable=False),
    Index("ux_telemetry_issues_hash", "project_id", "hash", unique=True),
    Index("ix_telemetry_issues_last_seen", "project_id", "last_seen"),
)

# Tag values seen on an issue's events (release and environment always), with counts.
telemetry_issue_tags = Table(
    "telemetry_issue_tags",
    metadata,
    Column("issue_id", Integer, primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", String(200), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_telemetry_issue_tags_value", "key", "value"),
)

# Distinct users per issue (a short hash of the user's id, name, e-mail or address).
telemetry_issue_users = Table(
    "telemetry_issue_users",
    metadata,
    Column("issue_id", Integer, primary_key=True),
    Column("user", String(16), primary_key=True),
)

# Events per issue and hour: the issue page's occurrences chart, beyond event retention.
telemetry_issue_hours = Table(
    "telemetry_issue_hours",
    metadata,
    Column("issue_id", Integer, primary_key=True),
    Column("hour", Float, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

telemetry_events = Table(
    "telemetry_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("event_id", String(32), nullable=False),
    Column("issue_id", Integer, nullable=False),
    Column("ts", Float, nullable=False),  # when it happened, by the app's clock
    Column("received", Float, nullable=False),
    Column("level", String(16), nullable=False),
    Column("release", String(200)),
    Column("environment", String(64)),
    Column("payload", LargeBinary, nullable=False),  # zstd, against the issue's sample
    Index("ux_telemetry_events_event_id", "project_id", "event_id", unique=True),
    Index("ix_telemetry_events_issue", "issue_id", "id"),
    Index("ix_telemetry_events_received", "project_id", "received"),
)

# --- Protect: what backup runs, verifications and drills did ------------------------------

# One row per run of a job, a verification or a drill: the values behind each decision
# (sizes, checks, problems, recovery time) in ``detail``. The backups themselves are listed
# from their manifests in the target; this is what happened to them.
backup_runs = Table(
    "backup_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # backup | verify | drill | prune | restore
    Column("backup_id", String(128)),
    Column("started", Float, nullable=False),
    Column("finished", Float, nullable=False),
    Column("ok", Integer, nullable=False),  # 1 or 0
    Column("size", BigInteger),
    Column("seconds", Float, nullable=False),
    Column("detail", Text, nullable=False),  # JSON
    Index("ix_backup_runs_job", "job", "kind", "finished"),
)
