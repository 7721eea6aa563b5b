"""Benchmark: Lightkeeper's PostgreSQL backup against plain pg_dump, in the same run.

    .venv/bin/python bench/backup.py                   # ~1 GB pgbench database, 3 rounds
    .venv/bin/python bench/backup.py --keep            # then, while developing:
    .venv/bin/python bench/backup.py --reuse --rounds 1 --steps backup
    .venv/bin/python bench/backup.py --filler random   # a dump that does not shrink 55:1

Method
- A pgbench database (`pgbench -i -s 68`, about 1 GB by `pg_database_size`, printed) on
  the PostgreSQL server of `--dsn`, created afresh as `lk_bench_backup` (or reused with
  `--reuse` when it holds a complete pgbench database of that scale and filler, which a
  comment on the database records) and dropped at the end unless `--keep`. pgbench's
  `filler` column is blank padding, so its dump is ~18 MB (55:1) and pg_dump takes ~2-3 s;
  `--filler random` puts 64 random hex digits in every account's filler instead (then
  VACUUM FULL: the same 1 GB) for a ~290 MB dump where pg_dump's own work dominates.
- Lightkeeper is driven through its CLI, a fresh process per command, as cron or a person
  would run it, with a config in a temporary directory: a SQLite store and one local
  target, and two jobs on that database, `format: custom` and `format: directory` with
  `jobs: 2`, verification after the backup off (it is timed on its own).
- backup: `lightkeeper backup run <job> --no-verify` against `pg_dump -Fc -f out db` and
  `pg_dump -Fd -j 2 -f out db`. restore: `lightkeeper restore <id> --to <fresh db> --yes`
  against `pg_restore -j 2 --no-owner --no-privileges --exit-on-error -d <fresh db> <out>`
  (the flags Lightkeeper gives pg_restore), each into a new empty database made from
  template0, whose pgbench tables are then counted (not timed) to be sure all came back.
  verify: `lightkeeper backup verify --latest --job <job>` by itself, plain pg_restore's
  time beside it only for scale.
- Wall time is `time.perf_counter()` around the whole command (start to exit). CPU is
  the command's whole process tree (`RUSAGE_CHILDREN`, so pg_dump's -j workers and the
  pg_dump Lightkeeper starts are in it) and, separately, PostgreSQL's (its live processes
  plus the postmaster's reaped children, from /proc); the machine's busy cores less both
  say how much other processes took meanwhile (this 2-core machine is shared). Before
  each timed command, outside the timing: `sync` and a `CHECKPOINT`, so no run pays for
  the previous one's dirty pages or WAL. One untimed warm-up of each backup command comes
  first (the database and both programs in the page cache, Python's bytecode compiled).
- Each round runs both sides back to back, in the order plain, ours in even rounds and
  ours, plain in odd ones, so a drift in the machine's load falls on both alike. Median
  and minimum over `--rounds` (3); overhead = ours / plain − 1 on the medians (minima
  beside), and the median over rounds of ours − plain in seconds, each pair having run
  back to back (steadier when the load changes). The issue's goal: a backup within 5 % of
  the plain tool Lightkeeper drives, judged on the medians.

Fairness, and what is counted
- The same database, server, pg_dump/pg_restore binaries (found the way Lightkeeper finds
  them: PATH, then /usr/lib/postgresql/*/bin), job count, compression (pg_dump's default,
  gzip, up to 15; for 16+ Lightkeeper passes `-Z zstd:3`, and so does the plain command
  here), and disk: plain output, the
  target and Lightkeeper's dump work directory (TMPDIR) are all in one temporary directory.
  Both get the connection from libpq environment variables.
- Our time counts everything a `lightkeeper backup run` does: Python start-up, loading and
  validating the config, opening and migrating the SQLite store, `pg_dump --version`,
  exporting a snapshot that pg_dump imports, pg_dump itself, exact row counts of every
  table in that snapshot (after pg_dump ends, server-side CPU), staging the files into
  the target (sha256 of each), the manifest, the atomic publish, and recording the run in
  the store. Plain pg_dump does only the dump (it does fsync its
  output, as pg_dump does by default). `lightkeeper version` and `backup list` are timed
  too, to show the fixed cost of a command apart from the dump; the figure each command
  prints for itself ("… T s") is shown beside its wall time.
- Restore counts fetching the backup from the target, checking every file's size and
  sha256, the empty-target check, and pg_restore. Verify counts the same fetch and checks,
  creating a scratch database, pg_restore, exact row counts against the manifest,
  pg_amcheck, and dropping the scratch database.
- Not counted: creating and dropping the restore databases, counting what was restored,
  sync and CHECKPOINT between runs, measuring sizes.
- Sizes: the plain tool's file or directory; Lightkeeper's growth of the target per
  backup (its `backup list --json` size beside, when the manifest has one).

Raw figures go to bench/results/backup-<time>.json; `--json` prints them.
"""

from __future__ import annotations

import sys

# This directory holds secrets.py (the secret-scanner benchmark): first on the search path it
# would stand in for the standard library's `secrets`, which pydantic imports. Last, it won't.
sys.path.append(sys.path.pop(0))

import argparse
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _backup_lk import (
    LightkeeperCli,
    config_text,
    manifest_size,
    parse_backup,
    parse_outcome,
    parse_scratch_restore,
)
from _backup_pg import (
    RESTORE_DB,
    Server,
    Timed,
    children_cpu_seconds,
    find_program,
    postgres_cpu_seconds,
    run_timed,
    tool_version,
    tree_bytes,
)
from _backup_report import FORMATS, MIB, Run, render, summarize
from _results import load_average, log, machine, publish, stop_cleanly

DATABASE = "lk_bench_backup"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432"
STEPS = ("backup", "restore", "verify", "startup")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def busy_jiffies() -> tuple[int, float]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, time.monotonic()


class Bench:
    """The rounds, in one temporary directory, on one database."""

    def __init__(
        self, server: Server, cli: LightkeeperCli | None, workdir: Path, args: argparse.Namespace
    ) -> None:
        self.server = server
        self.cli = cli
        self.args = args
        self.plain_dir = workdir / "plain"
        self.plain_dir.mkdir()
        self.target = workdir / "backups"
        self.runs: list[Run] = []
        self.latest: dict[str, str] = {}  # format → our newest backup id
        self.pg_dump = find_program("pg_dump")
        # Lightkeeper adds `-Z zstd:3` for pg_dump 16+ (postgres.dump); the plain command
        # gets the same, so both sides do the same compression work.
        major = re.search(r"\)\s*(\d+)", tool_version(self.pg_dump))
        self.compress = ["-Z", "zstd:3"] if major and int(major[1]) >= 16 else []
        self.pg_restore = find_program("pg_restore")

    @property
    def tools(self) -> list[str]:
        return ["plain", "lightkeeper"] if self.cli else ["plain"]

    def ordered(self, round_: int) -> list[str]:
        return self.tools if round_ % 2 == 0 else self.tools[::-1]

    def timed(self, step: str, fmt: str, tool: str, round_: int, call: Callable[[], Timed]) -> Run:
        os.sync()
        self.server.checkpoint()
        cpu0, server0 = children_cpu_seconds(), postgres_cpu_seconds()
        busy0, t0 = busy_jiffies()
        result = call()
        busy1, t1 = busy_jiffies()
        cpu1, server1 = children_cpu_seconds(), postgres_cpu_seconds()
        run = Run(step, fmt, tool, round_, result.seconds, result.ok)
        wall = max(t1 - t0, 1e-9)
        run.cpu_seconds, run.server_cpu_seconds = cpu1 - cpu0, server1 - server0
        run.busy_cores = (busy1 - busy0) / CLOCK_TICK / wall
        run.others_cores = max(0.0, run.busy_cores - (cpu1 - cpu0 + server1 - server0) / wall)
        if not result.ok:
            run.output = result.output()
        self.runs.append(run)
        label = "warm-up" if round_ < 0 else f"round {round_ + 1}"
        status = "" if result.ok else " FAILED"
        log(f"  {step} {fmt} {tool} ({label}): {result.seconds:.2f} s{status}")
        return run

    # backup ----------------------------------------------------------------------------

    def plain_out(self, fmt: str) -> Path:
        return self.plain_dir / ("fc.dump" if fmt == "custom" else "fd")

    def backup(self, fmt: str, tool: str, round_: int) -> None:
        if tool == "plain":
            out = self.plain_out(fmt)
            shutil.rmtree(out, ignore_errors=True)
            out.unlink(missing_ok=True)
            argv = [self.pg_dump, "-f", str(out)]
            argv += ["-Fc"] if fmt == "custom" else ["-Fd", "-j", str(self.args.jobs)]
            argv += self.compress
            env = self.server.env(DATABASE)
            run = self.timed("backup", fmt, tool, round_, lambda: run_timed([*argv, DATABASE], env))
            run.size = tree_bytes(out) if run.ok else None
            return
        assert self.cli is not None
        cli = self.cli
        before = tree_bytes(self.target) if self.target.exists() else 0
        timed: list[Timed] = []
        run = self.timed("backup", fmt, tool, round_, lambda: _keep(timed, cli.backup(fmt)))
        parsed = parse_backup(timed[0].stdout)
        if run.ok and parsed is None:
            run.ok = False
            run.output = "no `backup <id>: …` line in its output:\n" + timed[0].output()
        if run.ok and parsed:
            self.latest[fmt], run.own_seconds = parsed
            run.detail = parsed[0]
            run.size = tree_bytes(self.target) - before

    # restore ---------------------------------------------------------------------------

    def restore(self, fmt: str, tool: str, round_: int) -> None:
        self.server.drop(RESTORE_DB)
        self.server.create(RESTORE_DB)
        try:
            if tool == "plain":
                argv = [self.pg_restore, "-j", str(self.args.jobs), "--no-owner"]
                argv += ["--no-privileges", "--exit-on-error", "-d", RESTORE_DB]
                argv.append(str(self.plain_out(fmt)))
                env = self.server.env(RESTORE_DB)
                run = self.timed("restore", fmt, tool, round_, lambda: run_timed(argv, env))
            else:
                assert self.cli is not None
                cli, backup_id = self.cli, self.latest.get(fmt)
                if backup_id is None:
                    self.runs.append(
                        Run("restore", fmt, tool, round_, 0.0, False, output="no backup to restore")
                    )
                    return
                dsn = self.server.database_dsn(RESTORE_DB)
                timed: list[Timed] = []
                run = self.timed(
                    "restore", fmt, tool, round_, lambda: _keep(timed, cli.restore(backup_id, dsn))
                )
                run.own_seconds = parse_outcome(timed[0].stdout)
                run.detail = backup_id
            scale = self.server.pgbench_scale(RESTORE_DB)
            if run.ok and scale != self.args.scale:
                run.ok = False
                run.output += (
                    f"\nrestored database holds pgbench scale {scale}, not {self.args.scale}"
                )
        finally:
            self.server.drop(RESTORE_DB)

    # verify and the fixed cost -----------------------------------------------------------

    def verify(self, fmt: str, round_: int) -> None:
        assert self.cli is not None
        cli = self.cli
        timed: list[Timed] = []
        run = self.timed(
            "verify", fmt, "lightkeeper", round_, lambda: _keep(timed, cli.verify(fmt))
        )
        run.own_seconds = parse_outcome(timed[0].stdout)
        run.scratch_restore_seconds = parse_scratch_restore(timed[0].stdout)
        run.detail = self.latest.get(fmt, "")
        if run.ok:  # what it checked, for the notes
            run.output = timed[0].stdout.strip()[-2000:]

    def startup(self, round_: int) -> None:
        assert self.cli is not None
        cli = self.cli
        self.timed("version", "", "lightkeeper", round_, cli.version)
        self.timed("list", "", "lightkeeper", round_, lambda: cli.list("directory")[0])

    def stored_sizes(self) -> dict[str, int | None]:
        """Our newest backup's size per format, as its manifest states it."""
        sizes: dict[str, int | None] = {}
        if self.cli is None:
            return sizes
        for fmt in FORMATS:
            _, listed = self.cli.list(fmt)
            found = [m for m in listed or [] if m.get("id") == self.latest.get(fmt)]
            sizes[fmt] = manifest_size(found[0]) if found else None
        return sizes

    def all_rounds(self, steps: Sequence[str]) -> None:
        rounds = range(self.args.rounds)
        if "backup" in steps:
            log("backup: warm-up, then rounds")
            for fmt in FORMATS:
                for tool in self.tools:
                    self.backup(fmt, tool, -1)
            for r in rounds:
                for fmt in FORMATS:
                    for tool in self.ordered(r):
                        self.backup(fmt, tool, r)
        if "restore" in steps:
            log("restore")
            for r in rounds:
                for fmt in FORMATS:
                    for tool in self.ordered(r):
                        self.restore(fmt, tool, r)
        if "verify" in steps and self.cli:
            log("verify")
            for r in rounds:
                for fmt in FORMATS:
                    self.verify(fmt, r)
        if "startup" in steps and self.cli:
            log("start-up")
            for r in rounds:
                self.startup(r)


def _keep(into: list[Timed], result: Timed) -> Timed:
    into.append(result)
    return result


# -- the whole run -----------------------------------------------------------------------------


def prepare_database(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": DATABASE,
        "scale": args.scale,
        "filler": args.filler,
        "reused": False,
    }
    wanted = server.label_for(args.scale, args.filler)
    if (
        args.reuse
        and server.exists(DATABASE)
        and server.label(DATABASE) == wanted
        and server.pgbench_scale(DATABASE) == args.scale
    ):
        info["reused"] = True
        log(f"reusing {DATABASE} ({wanted})")
    else:
        log(f"creating {DATABASE}: pgbench -i -s {args.scale}, filler {args.filler}")
        info["init_seconds"] = round(server.pgbench_init(DATABASE, args.scale, args.filler), 2)
    server.execute(DATABASE, "VACUUM ANALYZE")  # fresh statistics and visibility map on both
    info["bytes"] = server.size(DATABASE)
    info["tables"] = server.tables(DATABASE)
    log(f"{DATABASE}: {info['bytes'] / MIB:,.0f} MiB ({info['bytes'] / 1e9:.2f} GB)")
    return info


def measure(args: argparse.Namespace) -> dict[str, Any]:
    server = Server(args.dsn)
    report: dict[str, Any] = {
        "setup": {
            "rounds": args.rounds,
            "jobs": args.jobs,
            "steps": args.steps,
            "dsn": args.dsn,
            "only": args.only,
        },
        "machine": machine(),
        "tools": {p: tool_version(find_program(p)) for p in ("pg_dump", "pg_restore")},
        "server": server.version(),
        "lightkeeper": {},
        "runs": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="lk-bench-backup-", dir=args.workdir))
    scratch_before = server.databases("lk_verify_")
    try:
        report["database"] = prepare_database(server, args)
        cli = None
        if args.only != "plain":
            (workdir / "tmp").mkdir()
            config = workdir / "lightkeeper.yaml"
            config.write_text(config_text(workdir, server.database_dsn(DATABASE), args.jobs))
            cli = LightkeeperCli(config, workdir / "tmp", args.timeout)
            version = cli.version()
            report["lightkeeper"]["version"] = version.stdout.strip() or version.output()
            error = cli.ready()
            if error:
                log(f"`lightkeeper backup --help` failed; measuring the plain tools only:\n{error}")
                report["lightkeeper"]["error"] = error
                cli = None
        bench = Bench(server, cli, workdir, args)
        report["setup"]["plain_compress"] = " ".join(bench.compress) or "pg_dump's default"
        try:
            bench.all_rounds(args.steps)
        finally:
            report["runs"] = [asdict(r) for r in bench.runs]
        report["lightkeeper"]["stored_bytes"] = bench.stored_sizes()
        report["summary"] = summarize(bench.runs)
        report["machine"]["load_after"] = load_average()
    finally:
        server.drop(RESTORE_DB)
        for name in server.databases("lk_verify_") - scratch_before:
            log(f"dropping {name}, left behind by a verification")
            server.drop(name)
        if args.keep:
            log(f"kept {workdir} and the database {DATABASE}")
        else:
            server.drop(DATABASE)
            shutil.rmtree(workdir, ignore_errors=True)
    return report


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=int, default=68, help="pgbench scale (68: ~1 GB)")
    parser.add_argument(
        "--filler",
        choices=["blank", "random"],
        default="blank",
        help="pgbench_accounts.filler: pgbench's blanks (the dump compresses ~55:1), or"
        " random hex digits (a dump ~27 %% of the database, pg_dump's work dominates)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per step (3)")
    parser.add_argument("--jobs", type=int, default=2, help="-j for -Fd and restores (2)")
    parser.add_argument(
        "--steps",
        type=lambda v: [s for s in v.split(",") if s],
        default=list(STEPS),
        help=f"comma-separated, of {','.join(STEPS)} (all)",
    )
    parser.add_argument("--only", choices=["plain"], help="measure the plain tools only")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help=f"the server ({DEFAULT_DSN})")
    parser.add_argument("--workdir", type=Path, help="where the temporary directory goes")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds per Lightkeeper command"
    )
    parser.add_argument(
        "--reuse", action="store_true", help=f"reuse {DATABASE} if it has this scale"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the temporary directory"
    )
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.jobs < 1 or args.scale < 1:
        parser.error("--rounds, --jobs and --scale must be at least 1")
    unknown = set(args.steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    for step in ("restore", "verify"):
        if step in args.steps and "backup" not in args.steps:
            parser.error(f"{step} needs backup in --steps (it uses what the rounds made)")
    return args


def main(argv: Sequence[str] | None = None, out: Callable[[str], Any] = print) -> None:
    args = parse_args(argv)
    stop_cleanly()  # an interrupt unwinds through the clean-up in measure()
    publish(measure(args), render, "backup", args.json, out)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted; the commands were stopped and the databases dropped")
        sys.exit(130)
