"""The secret benchmark's printed report: the table with Lightkeeper beside detect-secrets
and the goals, per-kind, per-decoy and per-place tables, every miss and false positive of
Lightkeeper's (file, line, kind, a preview of at most 8 characters), and the setup."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from _detect_secrets import DS_VERSION

# Issue 6's goals, and the published F1 on Samsung's CredData (2022) for scale.
GOAL_F1 = 0.95
GOAL_SPEEDUP = 10.0
CREDDATA = "gitleaks 0.33, detect-secrets 0.21, CredSweeper 0.86"


def fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - widths known at run time
    out = [line.format(*rows[0]), line.format(*("-" * w for w in widths))]
    return out + [line.format(*r).rstrip() for r in rows[1:]]


def render(report: dict[str, Any], limit: int = 40) -> str:
    c = report["corpus"]
    tools = {t["name"].split()[0]: t for t in report["tools"]}
    lk, dsr = tools.get("Lightkeeper"), tools.get("detect-secrets")
    mb = report["corpus_mb"]
    positives = sum(c["positives"].values())
    decoys = sum(c["decoys"].values())
    head = (
        f"{c['bytes'] / 1e6:.1f} MB, {c['files']:,} files; {positives} secrets, {decoys} decoys",
        "Lightkeeper",
        dsr["name"] if dsr else f"detect-secrets {DS_VERSION}",
        "goal",
        "",
    )

    def col(tool: dict[str, Any] | None, get: Callable[[dict[str, Any]], str]) -> str:
        if tool is None:
            return "(not run)"
        if tool.get("error"):
            return "(failed, see below)"
        return get(tool)

    def sc(key: str, digits: int = 3) -> Callable[[dict[str, Any]], str]:
        return lambda t: fmt(t["score"][key], digits)

    lk_ok = lk is not None and not lk.get("error")
    ds_ok = dsr is not None and not dsr.get("error")
    f1_ok = lk["score"]["f1"] >= GOAL_F1 if lk_ok and lk else None
    speedup = lk["mb_per_s"] / dsr["mb_per_s"] if lk_ok and ds_ok and lk and dsr else None
    rows = [
        head,
        ("precision", col(lk, sc("precision")), col(dsr, sc("precision")), "", ""),
        ("recall", col(lk, sc("recall")), col(dsr, sc("recall")), "", ""),
        ("F1", col(lk, sc("f1")), col(dsr, sc("f1")), f"≥ {GOAL_F1}", verdict(f1_ok)),
        (
            "throughput: corpus MB / wall s",
            col(lk, lambda t: fmt(t["mb_per_s"], 2, " MB/s")),
            col(dsr, lambda t: fmt(t["mb_per_s"], 2, " MB/s")),
            f"≥ {GOAL_SPEEDUP:g}× detect-secrets",
            verdict(None if speedup is None else speedup >= GOAL_SPEEDUP),
        ),
        (
            "  ratio to detect-secrets",
            fmt(speedup, 1, "×") if speedup else "",
            "1×" if ds_ok else "",
            "",
            "",
        ),
        (
            "  by its own timing (no start-up)",
            col(lk, own_rate(mb)),
            "",
            "",
            "",
        ),
        (
            "wall s; CPU s (command and its workers)",
            col(lk, lambda t: f"{t['wall_s']:.2f}; {t['cpu_s']:.2f} ({runs(t)})"),
            col(dsr, lambda t: f"{t['wall_s']:.1f}; {t['cpu_s']:.1f} ({runs(t)})"),
            "",
            "",
        ),
        (
            "files; bytes it scanned",
            col(lk, lambda t: f"{t['files']:,}; {t['bytes']:,}"),
            col(dsr, lambda t: f"{t['files']:,}; {t['bytes']:,}"),
            "",
            "",
        ),
        (
            "true positives / planted",
            col(lk, lambda t: f"{t['score']['tp']} / {t['score']['positives']}"),
            col(dsr, lambda t: f"{t['score']['tp']} / {t['score']['positives']}"),
            "",
            "",
        ),
        (
            "false positives: decoys + package lines",
            col(lk, fp_cell),
            col(dsr, fp_cell),
            "",
            "",
        ),
        (
            "reviewed fixture lines hit (not counted)",
            col(lk, lambda t: str(len(t["score"]["reviewed_fixtures_hit"]))),
            col(dsr, lambda t: str(len(t["score"]["reviewed_fixtures_hit"]))),
            "",
            "",
        ),
        (
            "findings; distinct lines",
            col(lk, lambda t: f"{t['findings']:,}; {t['score']['lines_reported']:,}"),
            col(dsr, lambda t: f"{t['findings']:,}; {t['score']['lines_reported']:,}"),
            "",
            "",
        ),
        ("F1 on Samsung CredData (2022), published", "", "0.21", CREDDATA, ""),
    ]
    out = [*table(rows), ""]
    if lk_ok and lk:
        out += kind_tables(lk, dsr if ds_ok else None, c)
        out += misses(lk, limit)
    out += notes(report)
    return "\n".join(out)


def runs(t: dict[str, Any]) -> str:
    n = len(t["rounds"])
    return f"{n} run" if n == 1 else f"median of {n} runs"


def own_rate(mb: float) -> Callable[[dict[str, Any]], str]:
    def cell(t: dict[str, Any]) -> str:
        own = t.get("own_seconds")
        return "—" if not own else f"{mb / own:,.1f} MB/s ({own:.2f} s, stats.seconds)"

    return cell


def fp_cell(t: dict[str, Any]) -> str:
    s = t["score"]
    extra = f" + {s['fp_other_planted']} other" if s["fp_other_planted"] else ""
    return f"{s['fp']} = {s['fp_decoys']} + {s['fp_package_lines']}{extra}"


def kind_tables(lk: dict[str, Any], dsr: dict[str, Any] | None, c: dict[str, Any]) -> list[str]:
    ds_found: Counter[str] = Counter()
    if dsr:
        for kind, row in dsr["score"]["per_kind"].items():
            ds_found[kind] = row["found"]
    rows: list[tuple[str, ...]] = [
        (
            "kind (Lightkeeper)",
            "planted",
            "found",
            "FP",
            "precision",
            "recall",
            "F1",
            "rules",
            "detect-secrets found",
        )
    ]
    for kind, row in lk["score"]["per_kind"].items():
        rows.append(
            (
                kind,
                str(row["planted"]),
                str(row["found"]),
                str(row["fp"]),
                fmt(row["precision"]),
                fmt(row["recall"]),
                fmt(row["f1"]),
                ", ".join(row["rules"])[:60],
                str(ds_found.get(kind, 0)) if dsr and row["planted"] else "",
            )
        )
    decoy_rows: list[tuple[str, ...]] = [
        ("decoy kind", "planted", "Lightkeeper hit", "detect-secrets hit")
    ]
    for kind, n in sorted(c["decoys"].items(), key=lambda kv: -kv[1]):
        decoy_rows.append(
            (
                kind,
                str(n),
                str(lk["score"]["decoy_kinds_hit"].get(kind, 0)),
                str(dsr["score"]["decoy_kinds_hit"].get(kind, 0)) if dsr else "",
            )
        )
    return [*table(rows), "", *table(decoy_rows), "", *host_table(lk, dsr)]


def host_table(lk: dict[str, Any], dsr: dict[str, Any] | None) -> list[str]:
    """Recall by where the secret was planted (file syntax, or a planted .env/.npmrc/key)."""
    planted: Counter[str] = Counter(m["host"] for m in lk["score"]["missed"])
    planted.update(lk["score"]["found_by_host"])
    rows: list[tuple[str, ...]] = [
        ("where planted", "secrets", "Lightkeeper found", "detect-secrets found")
    ]
    for host, n in sorted(planted.items(), key=lambda kv: -kv[1]):
        rows.append(
            (
                host,
                str(n),
                str(lk["score"]["found_by_host"].get(host, 0)),
                str(dsr["score"]["found_by_host"].get(host, 0)) if dsr else "",
            )
        )
    return [*table(rows), ""]


def misses(lk: dict[str, Any], limit: int) -> list[str]:
    s = lk["score"]
    out = []
    missed = s["missed"]
    out.append(f"Lightkeeper missed {len(missed)} planted secrets" + (":" if missed else "."))
    for m in missed[:limit]:
        where = f"{m['kind']} in {m['host']} ({m['style']})"
        out.append(f"  {m['path']}:{m['line']}  {where}  {m['preview']!r}")
    if len(missed) > limit:
        out.append(f"  … {len(missed) - limit} more in the raw JSON")
    fps = [("decoy " + d["kind"], d["path"], d["line"], d["preview"]) for d in s["decoys_hit"]]
    fps += [
        ("package line " + ",".join(h["rules"]), h["path"], h["line"], h["preview"])
        for h in s["package_fp"]
    ]
    fps += [
        ("other planted " + ",".join(h["rules"]), h["path"], h["line"], h["preview"])
        for h in s["other_fp"]
    ]
    out.append(f"Lightkeeper false positives: {len(fps)}" + (":" if fps else "."))
    for what, path, line, preview in fps[:limit]:
        out.append(f"  {path}:{line}  {what}  {preview[:8]!r}")
    if len(fps) > limit:
        out.append(f"  … {len(fps) - limit} more in the raw JSON")
    fixtures = s["reviewed_fixtures_hit"]
    if fixtures:
        out.append(f"reviewed fixture lines it reported (not counted): {len(fixtures)}")
    return [*out, ""]


def notes(report: dict[str, Any]) -> list[str]:
    m, c = report["machine"], report["corpus"]
    pkgs = ", ".join(f"{p['name']} {p['version']}" for p in c["packages"])
    lines = [
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}; Python {m['python']};"
        f" load average before {m['load_before']}, after {m.get('load_after', '?')}",
        f"commit: {report['commit']}; lightkeeper: {report.get('lightkeeper_version', '?')}",
        f"corpus {c['key']} (seed {c['seed']}): {c['bytes']:,} bytes in {c['files']:,} files"
        f" ({c['planted_files']} files with planted lines, {c['new_files']} planted files);"
        f" {c['root']}",
        f"packages: {pkgs}",
        "secrets planted: " + ", ".join(f"{k} {v}" for k, v in sorted(c["positives"].items())),
        "decoys planted: " + ", ".join(f"{k} {v}" for k, v in sorted(c["decoys"].items())),
        "where: " + ", ".join(f"{k} {v}" for k, v in sorted(c["hosts"].items())),
    ]
    if c.get("not_placed"):
        lines.append(f"not placed (no fitting line found): {c['not_placed']}")
    for tool in report["tools"]:
        for note in tool.get("notes", []):
            lines.append(f"{tool['name']}: {note}")
        if tool.get("error"):
            lines.append(f"{tool['name']}: ERROR {tool['error']}")
    return lines
