"""`lightkeeper backup …`, `lightkeeper restore`, `lightkeeper drill`: the jobs one-shot,
for people and for CI. Exit 0 on success, 1 when a backup, verification or drill fails,
3 for a usage or configuration mistake."""

# No `from __future__ import annotations`: Typer reads the parameters' annotations, and
# the --config option is the CLI's own, passed in (it lives in cli.py, which imports this).

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lightkeeper.errors import ConfigError, LightkeeperError

if TYPE_CHECKING:  # the runner (drivers, compression, crypto) loads only for backup commands
    from lightkeeper.backup.runner import Backups, Outcome

# Piped (CI logs, grep) a table is not squeezed into 80 columns: its reasons stay whole.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)  # messages stay one line: grep-able, copy-able
EXIT_USAGE = 3


def human_size(n: int | None) -> str:
    """Bytes in binary units, labelled as such: 19,133,565 → '18.2 MiB'."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def build(load: Callable[[Path | None], Any], config_option: Any) -> tuple[typer.Typer, Any, Any]:
    """The `backup` group, and the top-level `restore` and `drill` commands."""
    app = typer.Typer(
        help="Backups: run, list, verify, prune (PostgreSQL, ChromaDB, directories).",
        no_args_is_help=True,
    )

    @contextmanager
    def backups(config: Path | None) -> "Iterator[Backups]":
        from lightkeeper.backup.runner import Backups
        from lightkeeper.store import Store

        cfg = load(config)
        if not cfg.backups.jobs:
            err.print("[red]error:[/red] no backup jobs: add backups.jobs to the config")
            raise typer.Exit(EXIT_USAGE)
        try:
            store = Store(cfg.store.url)
            store.migrate()
        except ConfigError as exc:
            for problem in exc.problems:
                sys.stderr.write(problem + "\n")
            raise typer.Exit(EXIT_USAGE) from None
        except LightkeeperError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        try:
            yield Backups(cfg.backups, store.engine)
        except LightkeeperError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        finally:
            store.close()

    def report(outcome: "Outcome") -> None:
        for check in outcome.checks:
            out.print(f"  [green]✓[/green] {escape(check)}")
        for problem in outcome.problems:
            out.print(f"  [red]✗[/red] {escape(problem)}")
        verdict = "[green]ok[/green]" if outcome.ok else "[red]FAILED[/red]"
        out.print(
            f"{outcome.kind} {escape(outcome.backup_id or '')}: {verdict} "
            f"in {outcome.seconds:.1f} s"
        )
        if not outcome.ok:
            raise typer.Exit(1)

    @app.command("run")
    def run(
        job: Annotated[str, typer.Argument(help="A name in backups.jobs.")],
        no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip verification.")] = False,
        config: config_option = None,
    ) -> None:
        """Back up JOB now (and verify it, unless the job or --no-verify says not to)."""
        with (
            backups(config) as b,
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task(f"{job}: starting")
            outcome = b.run(
                job,
                verify=False if no_verify else None,
                progress=lambda phase: bar.update(task, description=f"{job}: {phase}"),
            )
        out.print(
            f"backup {outcome.backup_id}: {human_size(outcome.size)}, "
            f"{outcome.details.get('files', 0)} files, {outcome.seconds:.1f} s"
        )
        if outcome.details.get("verify") is False:
            err.print(
                "[red]verification FAILED[/red]: `lightkeeper backup verify "
                f"{outcome.backup_id}` says why"
            )
            raise typer.Exit(1)

    @app.command("list")
    def list_(
        job: Annotated[str | None, typer.Argument(help="Only this job.")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        config: config_option = None,
    ) -> None:
        """List complete backups, newest first (from the targets' manifests)."""
        with backups(config) as b:
            jobs = [b.job(job)] if job else list(b.config.jobs)
            listed = [(j, m) for j in jobs for m in b.backups(j)]
        if as_json:
            out.print_json(json.dumps([m.model_dump() for _, m in listed]))
            return
        table = Table("backup", "job", "finished", "size", "files", "encrypted")
        for j, m in listed:
            table.add_row(
                m.id,
                j.name,
                _when(m.finished),
                human_size(m.size),
                str(len(m.files)),
                "yes" if m.encrypted_to else "no",
            )
        out.print(table)

    @app.command("verify")
    def verify(
        backup: Annotated[str | None, typer.Argument(help="A backup id.")] = None,
        latest: Annotated[bool, typer.Option("--latest", help="The newest of --job.")] = False,
        job: Annotated[str | None, typer.Option("--job", help="With --latest.")] = None,
        config: config_option = None,
    ) -> None:
        """Check every checksum, restore into scratch, compare with the manifest."""
        if (backup is None) == (not latest):
            err.print("[red]error:[/red] give a backup id, or --latest --job JOB")
            raise typer.Exit(EXIT_USAGE)
        with backups(config) as b:
            if backup is not None:
                found, _manifest = b.find(backup)
                outcome = b.verify(found.name, backup)
            else:
                if job is None:
                    err.print("[red]error:[/red] --latest needs --job JOB")
                    raise typer.Exit(EXIT_USAGE)
                outcome = b.verify(job)
        report(outcome)

    @app.command("prune")
    def prune(
        job: Annotated[str | None, typer.Argument(help="Only this job.")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
        config: config_option = None,
    ) -> None:
        """Apply each job's retention; list every backup with the rule that keeps it."""
        with backups(config) as b:
            names = [job] if job else [j.name for j in b.config.jobs]
            table = Table("backup", "job", "taken", "verdict", "kept by")
            for name in names:
                for d in b.prune(name, dry_run=dry_run):
                    verdict = "keep" if d.keep else ("would delete" if dry_run else "deleted")
                    style = "green" if d.keep else "red"
                    table.add_row(
                        d.backup.id,
                        name,
                        _when(d.backup.time),
                        f"[{style}]{verdict}[/{style}]",
                        escape(", ".join(d.reasons)),
                    )
        out.print(table)

    @app.command("keygen")
    def keygen() -> None:
        """Print a new age key pair: the public key for encrypt_to, the secret for the env."""
        from pyrage import x25519  # type: ignore[import-untyped]

        identity = x25519.Identity.generate()
        err.print("public key (backups.jobs[].encrypt_to):")
        sys.stdout.write(str(identity.to_public()) + "\n")
        err.print("secret key (keep it OUT of the backups, e.g. BACKUP_AGE_IDENTITY):")
        sys.stdout.write(str(identity) + "\n")

    def restore(
        backup: Annotated[str, typer.Argument(help="A backup id (`lightkeeper backup list`).")],
        to: Annotated[str, typer.Option("--to", help="Database URL, Chroma URL or directory.")],
        force: Annotated[bool, typer.Option("--force", help="Restore over existing data.")] = False,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
        config: config_option = None,
    ) -> None:
        """Restore a backup; refuses a target with data unless --force, and asks first."""
        from lightkeeper.redact import redact_url

        with backups(config) as b:
            _job, manifest = b.find(backup)
            what = (
                f"{manifest.kind} backup {manifest.id} ({human_size(manifest.size)}, "
                f"taken {_when(manifest.started)})"
            )
            err.print(
                f"will restore {what}\n  into {redact_url(to)}"
                + (" [red]over what is there (--force)[/red]" if force else "")
            )
            if not yes and not typer.confirm("go ahead?", default=False, err=True):
                raise typer.Exit(1)
            report(b.restore(backup, to, force=force))

    def drill(
        job: Annotated[str | None, typer.Argument(help="Only this job.")] = None,
        config: config_option = None,
    ) -> None:
        """Restore each job's newest backup into scratch, timed against its RTO."""
        failed = False
        with backups(config) as b:
            for name in [job] if job else [j.name for j in b.config.jobs]:
                outcome = b.drill(name)
                rto = outcome.details.get("rto_seconds")
                out.print(f"{name}: recovered in {outcome.seconds:.1f} s (RTO {rto:.0f} s)")
                try:
                    report(outcome)
                except typer.Exit:
                    failed = True
        if failed:
            raise typer.Exit(1)

    return app, restore, drill
