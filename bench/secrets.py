"""Benchmark: Lightkeeper's secret scanner beside detect-secrets, on a labelled corpus.

    .venv/bin/python bench/secrets.py                         # 64 MB corpus, both tools
    .venv/bin/python bench/secrets.py --only detect-secrets --corpus-mb 16

The corpus (``_secrets_corpus.py``) is real source from pinned PyPI sdists and npm
tarballs, a seeded selection of their text files, with secrets of every kind issue 6 names
and decoys planted at recorded lines in each file's own syntax (``_secrets_kinds.py``,
``_secrets_plant.py``). It is built once per argument set and cached under
``~/.cache/lightkeeper-bench/secrets/``.

Both tools scan the same directory, one after the other, each as a whole command with its
defaults for a repository scan: ``lightkeeper scan secrets DIR --format json`` and
``detect-secrets scan --all-files -n .`` (``_detect_secrets.py`` says why those flags).
Scoring (``_secrets_score.py``) is by line: true positives are planted secrets reported,
false positives are decoys reported plus reports on the packages' own lines.
Throughput = corpus bytes / wall time of the command (start-up included); Lightkeeper's
is the median of ``--rounds`` runs, detect-secrets' of ``--ds-rounds`` (1: it is slow).

Goals (issue 6): F1 ≥ 0.95 and throughput ≥ 10× detect-secrets'. For scale, published F1
on Samsung's CredData (2022): gitleaks 0.33, detect-secrets 0.21, CredSweeper 0.86.
Raw figures go to bench/results/secrets-<time>.json.
"""

from __future__ import annotations

import sys

# bench/ last on the search path, so this file never stands in for the standard library's
# `secrets` (as in the other benchmarks).
sys.path.append(sys.path.pop(0))

import argparse
import json
import os
import resource
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _detect_secrets as ds
import _secrets_corpus as corpora
from _results import load_average, log, machine, publish, stop_cleanly
from _secrets_packages import CorpusError
from _secrets_report import render
from _secrets_score import Hit, ToolRun, Truth, as_json, check_scoring, distinct_lines, score

REPO = Path(__file__).resolve().parent.parent
LIGHTKEEPER = REPO / ".venv" / "bin" / "lightkeeper"
PIP = REPO / ".venv" / "bin" / "pip"


# -- running the tools -------------------------------------------------------------------------


def lightkeeper_ready(binary: Path) -> bool:
    if not binary.exists():
        return False
    done = subprocess.run(
        [str(binary), "scan", "secrets", "--help"], capture_output=True, text=True, check=False
    )
    return done.returncode == 0


def run_lightkeeper(binary: Path, root: Path, timeout: float) -> ToolRun:
    """``lightkeeper scan secrets ROOT --format json``: exit 1 means it found something."""
    cmd = [str(binary), "scan", "secrets", str(root), "--format", "json"]
    # The built-in config: no ./lightkeeper.yaml (cwd is the corpus), no $LIGHTKEEPER_CONFIG.
    env = {k: v for k, v in os.environ.items() if k != "LIGHTKEEPER_CONFIG"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=root, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        return ToolRun([], wall, cpu, 0, 0, [], f"exit {done.returncode}: {done.stderr[-1500:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        return ToolRun([], wall, cpu, 0, 0, [], f"output is not JSON ({exc}): {done.stdout[:300]}")
    stats = report.get("stats", {})
    findings = []
    no_line = 0
    for f in report.get("findings", []):
        if f.get("line") is None:
            no_line += 1
            continue
        findings.append((str(f["path"]), int(f["line"]), str(f["rule"]), str(f.get("preview", ""))))
    notes = [f"stats: {json.dumps(stats)}"]
    if no_line:
        notes.append(f"{no_line} findings without a line (not scored)")
    return ToolRun(
        [(p, ln, r) for p, ln, r, _ in findings],
        wall,
        cpu,
        int(stats.get("files", 0)),
        int(stats.get("bytes", 0)),
        notes,
        previews={(p, ln): pv for p, ln, _, pv in findings},
        own_seconds=float(stats["seconds"]) if "seconds" in stats else None,
    )


def warm_page_cache(root: Path) -> int:
    """Read every file once, so neither tool pays for the disk and the first does not pay
    for the second."""
    total = 0
    for path in root.rglob("*"):
        if path.is_file():
            total += len(path.read_bytes())
    return total


def hits_of(run: ToolRun, root: Path) -> list[Hit]:
    previews = run.previews or {}
    findings = [(p, ln, rule, previews.get((p, ln), "")) for p, ln, rule in run.findings]
    hits = distinct_lines(findings)
    for hit in hits:
        if not hit.preview:
            hit.preview = line_preview(root / hit.path, hit.line)
    return hits


def line_preview(path: Path, line: int) -> str:
    try:
        text = path.read_text(encoding="utf-8").split("\n")[line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return ""
    return text.strip()[:8]


def measure_tool(
    name: str, scan: Callable[[], ToolRun], rounds: int, truth: Truth, root: Path, mb: float
) -> dict[str, Any]:
    runs = []
    for i in range(rounds):
        log(f"{name}: scan {i + 1} of {rounds}")
        runs.append(scan())
        if runs[-1].error:
            break
    last = runs[-1]
    out: dict[str, Any] = {
        "name": name,
        "rounds": [{"wall_s": r.wall_s, "cpu_s": r.cpu_s} for r in runs],
        "error": last.error,
        "notes": last.notes,
        "files": last.files,
        "bytes": last.bytes,
    }
    if last.error:
        return out
    wall = statistics.median(r.wall_s for r in runs)
    out |= {
        "wall_s": wall,
        "cpu_s": statistics.median(r.cpu_s for r in runs),
        "mb_per_s": mb / wall,
        "own_seconds": (
            statistics.median(r.own_seconds for r in runs if r.own_seconds is not None)
            if any(r.own_seconds is not None for r in runs)
            else None
        ),
        "findings": len(last.findings),
        "findings_by_rule": dict(Counter(rule for _, _, rule in last.findings)),
        "score": as_json(truth, score(truth, hits_of(last, root))),
    }
    return out


# -- the run -----------------------------------------------------------------------------------


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return head + (" + uncommitted src changes" if dirty else "")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "secrets",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": commit(),
        "machine": machine(),
        "setup": {
            "seed": args.seed,
            "corpus_mb": args.corpus_mb,
            "positives": args.positives,
            "decoys": args.decoys,
            "rounds": args.rounds,
            "ds_rounds": args.ds_rounds,
        },
        "tools": [],
    }
    log("building the corpus (cached after the first run)")
    started = time.perf_counter()
    corpus = corpora.build(args.seed, args.corpus_mb, args.positives, args.decoys, PIP)
    report["corpus"] = corpus.manifest | {"root": str(corpus.root)}
    report["corpus_ready_s"] = round(time.perf_counter() - started, 1)
    truth = Truth(corpus)
    check_scoring(truth)
    mb = corpus.manifest["bytes"] / 1e6
    report["corpus_mb"] = mb
    warm_page_cache(corpus.root)

    if args.only in (None, "lightkeeper"):
        if not lightkeeper_ready(args.lightkeeper):
            report["tools"].append(
                {
                    "name": "Lightkeeper",
                    "error": f"{args.lightkeeper} scan secrets --help failed:"
                    " the command is not there yet",
                    "notes": [],
                    "rounds": [],
                }
            )
        else:
            report["tools"].append(
                measure_tool(
                    "Lightkeeper",
                    lambda: run_lightkeeper(args.lightkeeper, corpus.root, args.timeout),
                    args.rounds,
                    truth,
                    corpus.root,
                    mb,
                )
            )
            report["lightkeeper_version"] = version_of(args.lightkeeper)
    if args.only in (None, "detect-secrets"):
        bin_dir = ds.ensure_venv(args.ds_venv)
        report["tools"].append(
            measure_tool(
                f"detect-secrets {ds.DS_VERSION}",
                lambda: ds.scan(bin_dir, corpus.root, args.timeout),
                args.ds_rounds,
                truth,
                corpus.root,
                mb,
            )
        )
    report["machine"]["load_after"] = load_average()
    return report


def version_of(binary: Path) -> str:
    done = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1, help="corpus selection and planting (1)")
    parser.add_argument("--corpus-mb", type=float, default=64.0, help="corpus size, MB (64)")
    parser.add_argument("--positives", type=int, default=300, help="secrets to plant (300)")
    parser.add_argument("--decoys", type=int, default=300, help="decoys to plant (300)")
    parser.add_argument("--only", choices=["lightkeeper", "detect-secrets"], help="run one tool")
    parser.add_argument("--rounds", type=int, default=3, help="Lightkeeper scans, median (3)")
    parser.add_argument("--ds-rounds", type=int, default=1, help="detect-secrets scans (1)")
    parser.add_argument("--lightkeeper", type=Path, default=LIGHTKEEPER, help=argparse.SUPPRESS)
    parser.add_argument(
        "--ds-venv",
        type=Path,
        default=ds.DEFAULT_VENV,
        help=f"detect-secrets' own venv, made on first use (default {ds.DEFAULT_VENV})",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="per scan, seconds")
    parser.add_argument("--list", type=int, default=40, help="misses and FPs to print (40)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    if args.corpus_mb <= 0 or args.positives < 20 or args.decoys < 0 or args.rounds < 1:
        parser.error("--corpus-mb must be > 0, --positives ≥ 20, --decoys ≥ 0, --rounds ≥ 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    stop_cleanly()
    try:
        report = measure(args)
    except CorpusError as exc:
        log(f"cannot build the corpus: {exc}")
        sys.exit(2)
    publish(report, lambda r: render(r, args.list), "secrets", args.json)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
