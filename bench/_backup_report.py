"""Figures and the printed table of bench/backup.py: one record per timed command, the
medians and overheads made of them, and the text a reader compares.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

GOAL_OVERHEAD = 0.05  # the issue's: a backup within 5 % of the plain tool it drives
FORMATS = ("custom", "directory")
MIB = 1024 * 1024


@dataclass
class Run:
    """One timed command."""

    step: str  # backup, restore, verify; version, list (the start-up step)
    format: str  # custom, directory; "" for start-up
    tool: str  # plain, lightkeeper
    round: int  # -1: warm-up, not counted
    seconds: float
    ok: bool
    own_seconds: float | None = None  # what Lightkeeper printed for itself
    size: int | None = None
    cpu_seconds: float | None = None  # the command's process tree
    server_cpu_seconds: float | None = None  # PostgreSQL's processes meanwhile
    busy_cores: float | None = None  # the whole machine, during the command
    others_cores: float | None = None  # busy, less the command and PostgreSQL
    scratch_restore_seconds: float | None = None  # verify: its restore, as it printed it
    detail: str = ""  # the backup id
    output: str = ""  # what it printed, when it failed (and a verification's checks)


def stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    """Per step/format/tool: median, min, max of the counted runs; and our overhead."""
    keys = sorted({(r.step, r.format, r.tool) for r in runs if r.round >= 0})
    out: dict[str, Any] = {}
    for step, fmt, tool in keys:
        chosen = [r for r in runs if (r.step, r.format, r.tool) == (step, fmt, tool)]
        counted = [r for r in chosen if r.round >= 0]
        good = [r for r in counted if r.ok]
        own = [r.own_seconds for r in good if r.own_seconds is not None]
        sizes = [r.size for r in good if r.size is not None]
        out[f"{step}/{fmt}/{tool}"] = {
            "seconds": stats([r.seconds for r in good]),
            "own_seconds": stats(own),
            "scratch_restore_seconds": stats(
                [r.scratch_restore_seconds for r in good if r.scratch_restore_seconds is not None]
            ),
            "cpu_seconds": stats([r.cpu_seconds for r in good if r.cpu_seconds is not None]),
            "server_cpu_seconds": stats(
                [r.server_cpu_seconds for r in good if r.server_cpu_seconds is not None]
            ),
            "size": sizes[-1] if sizes else None,
            "failed": len(counted) - len(good),
        }
    for step in ("backup", "restore"):
        for fmt in FORMATS:
            ours = (out.get(f"{step}/{fmt}/lightkeeper") or {}).get("seconds")
            plain = (out.get(f"{step}/{fmt}/plain") or {}).get("seconds")
            if ours and plain:
                out[f"{step}/{fmt}/overhead"] = {
                    "median": ours["median"] / plain["median"] - 1,
                    "min": ours["min"] / plain["min"] - 1,
                    "paired_seconds": paired_difference(runs, step, fmt),
                    "goal_met": (ours["median"] / plain["median"] - 1) <= GOAL_OVERHEAD
                    if step == "backup"
                    else None,
                }
    return out


def paired_difference(runs: Sequence[Run], step: str, fmt: str) -> float | None:
    """Median over the rounds of ours − plain, each pair run back to back: steadier than
    the medians' ratio when the machine's load changes during the run."""
    by_round: dict[int, dict[str, float]] = {}
    for r in runs:
        if r.step == step and r.format == fmt and r.round >= 0 and r.ok:
            by_round.setdefault(r.round, {})[r.tool] = r.seconds
    diffs = [p["lightkeeper"] - p["plain"] for p in by_round.values() if len(p) == 2]
    return statistics.median(diffs) if diffs else None


def secs(s: dict[str, float] | None) -> str:
    return "—" if not s else f"{s['median']:.2f} s ({s['min']:.2f})"


def cpu(figures: dict[str, Any]) -> str:
    """Median CPU seconds of the command's processes + the server's, e.g. "2.1 + 1.3 s"."""
    own, server = figures.get("cpu_seconds"), figures.get("server_cpu_seconds")
    if not own or not server:
        return ""
    return f"{own['median']:.2f} + {server['median']:.2f} s"


def overhead_text(over: dict[str, Any]) -> str:
    if not over:
        return ""
    paired = over.get("paired_seconds")
    text = f"{pct(over['median'])} ({pct(over['min'])})"
    return text + (f"; {paired:+.2f} s paired" if paired is not None else "")


def pct(x: float) -> str:
    return f"{x * 100:+.1f} %"


def size_text(n: int | None) -> str:
    return "—" if n is None else f"{n / MIB:,.1f} MiB"


def table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - widths known at run time
    out = [line.format(*rows[0]), line.format(*("-" * w for w in widths))]
    return out + [line.format(*r).rstrip() for r in rows[1:]]


FLAGS = {"custom": "-Fc", "directory": "-Fd -j {jobs}"}


def render(report: dict[str, Any]) -> str:
    s = report.get("summary", {})
    db = report.get("database", {})
    jobs = report["setup"]["jobs"]
    lk_failed = "error" in report["lightkeeper"]
    missing = "(not run, see below)" if lk_failed else "—"

    def get(key: str) -> dict[str, Any]:
        return s.get(key) or {}

    head = (
        f"pgbench scale {db.get('scale')} ({db.get('filler')} filler), "
        f"{db.get('bytes', 0) / 1e9:.2f} GB;"
        " median (min), wall time",
        "Lightkeeper",
        "plain tool, same run",
        "overhead: medians (minima); paired",
        "goal",
        "",
    )
    rows: list[tuple[str, ...]] = [head]
    for step in ("backup", "restore"):
        for fmt in FORMATS:
            flags = FLAGS[fmt].format(jobs=jobs)
            if step == "restore":
                flags = flags.split()[0]
            plain_label = f"pg_dump {flags}" if step == "backup" else f"pg_restore -j {jobs}"
            rows += comparison(step, fmt, flags, plain_label, get, missing)
    for fmt in FORMATS:
        flags = FLAGS[fmt].format(jobs=jobs).split()[0]
        ours, plain = get(f"verify/{fmt}/lightkeeper"), get(f"restore/{fmt}/plain")
        if not ours and not lk_failed:
            continue
        rows += [
            (
                f"verify {flags} (fetch, restore into scratch, checks)",
                secs(ours.get("seconds")) if ours else missing,
                f"(pg_restore alone: {secs(plain.get('seconds'))})" if plain else "",
                "",
                "",
                "",
            ),
            ("  Lightkeeper's own figure (printed)", secs(ours.get("own_seconds")), "", "", "", ""),
            (
                "  of which restore into scratch (printed)",
                secs(ours.get("scratch_restore_seconds")),
                "",
                "",
                "",
                "",
            ),
        ]
    stored = report["lightkeeper"].get("stored_bytes") or {}
    for fmt in FORMATS:
        flags = FLAGS[fmt].format(jobs=jobs).split()[0]
        ours, plain = get(f"backup/{fmt}/lightkeeper"), get(f"backup/{fmt}/plain")
        ours_size, plain_size = ours.get("size"), plain.get("size")
        manifest = stored.get(fmt)
        text = size_text(ours_size) + (
            f" (manifest {size_text(manifest)})" if manifest is not None else ""
        )
        rows.append(
            (
                f"stored size {flags}",
                text if ours else missing,
                size_text(plain_size),
                pct(ours_size / plain_size - 1) if ours_size and plain_size else "",
                "",
                "",
            )
        )
    rows.append(
        (
            "CLI: `lightkeeper version`",
            secs(get("version//lightkeeper").get("seconds")),
            "",
            "",
            "",
            "",
        )
    )
    rows.append(
        (
            "CLI: `lightkeeper backup list` (config, store)",
            secs(get("list//lightkeeper").get("seconds")),
            "",
            "",
            "",
            "",
        )
    )
    return "\n".join([*table(rows), "", *notes(report)])


def comparison(
    step: str,
    fmt: str,
    flags: str,
    plain_label: str,
    get: Callable[[str], dict[str, Any]],
    missing: str,
) -> list[tuple[str, ...]]:
    """Ours beside the plain tool for one step and format: wall time with the overhead
    (and for a backup the goal), the figure Lightkeeper printed, CPU."""
    ours, plain = get(f"{step}/{fmt}/lightkeeper"), get(f"{step}/{fmt}/plain")
    if not ours and not plain:
        return []
    over = get(f"{step}/{fmt}/overhead")
    met = over.get("goal_met")
    own, plain_s = ours.get("own_seconds"), plain.get("seconds")
    own_over = pct(own["median"] / plain_s["median"] - 1) if own and plain_s else ""
    return [
        (
            f"{step} {flags}",
            secs(ours.get("seconds")) if ours else missing,
            f"{plain_label}: {secs(plain_s)}",
            overhead_text(over),
            "≤ +5 %" if step == "backup" else "",
            "" if met is None else ("ok" if met else "MISSED"),
        ),
        ("  Lightkeeper's own figure (printed)", secs(own), "", own_over, "", ""),
        ("  CPU: command + PostgreSQL", cpu(ours), cpu(plain), "", "", ""),
    ]


def notes(report: dict[str, Any]) -> list[str]:
    m, db, setup = report["machine"], report.get("database", {}), report["setup"]
    tables = ", ".join(f"{t['name']} {t['bytes'] / MIB:,.0f} MiB" for t in db.get("tables", [])[:4])
    made = "reused" if db.get("reused") else f"made in {db.get('init_seconds')} s"
    lines = [
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}; Python {m['python']};"
        f" load average before {m['load_before']}, after {m.get('load_after', '?')}",
        f"server: {report['server'].split(',')[0]}; {report['tools']['pg_dump']};"
        f" lightkeeper: {report['lightkeeper'].get('version', '?')}",
        f"database: {db.get('name')} {db.get('bytes', 0) / MIB:,.0f} MiB ({made}); {tables}",
        f"run: {setup['rounds']} rounds after one warm-up backup each; order plain, ours in even"
        f" rounds, ours, plain in odd; sync + CHECKPOINT before every timed command;"
        f" plain pg_dump compression: {setup.get('plain_compress', '?')}",
    ]
    runs = [Run(**r) for r in report["runs"]]
    counted = [r for r in runs if r.busy_cores is not None and r.round >= 0]
    if counted:
        busy = [r.busy_cores or 0.0 for r in counted]
        others = [r.others_cores or 0.0 for r in counted]
        lines.append(
            f"during the timed commands the machine was busy {statistics.median(busy):.2f}"
            f" cores (median; max {max(busy):.2f}), other processes than the command and"
            f" PostgreSQL {statistics.median(others):.2f} (max {max(others):.2f})"
        )
    for r in runs:
        if r.step == "verify" and r.ok and r.round == 0:
            checks = "; ".join(x.strip(" ✓") for x in r.output.splitlines()[:-1])
            lines.append(f"verify {r.format}, what it checked: {checks}")
    if "error" in report["lightkeeper"]:
        lines += ["", "Lightkeeper's CLI did not start:", report["lightkeeper"]["error"]]
    seen: set[tuple[str, str, str]] = set()
    for r in runs:
        key = (r.step, r.format, r.tool)
        if not r.ok and key not in seen:
            seen.add(key)
            failed = sum(1 for x in runs if (x.step, x.format, x.tool) == key and not x.ok)
            lines += ["", f"FAILED {r.step} {r.format} {r.tool} ({failed}×), first output:"]
            lines.append(r.output)
    return lines
