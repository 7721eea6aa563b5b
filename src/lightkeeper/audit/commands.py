"""`lightkeeper scan secrets`, `lightkeeper audit headers`, `lightkeeper audit deps`: one
command per concern, for CI (exit codes, JSON, SARIF 2.1.0 for GitHub code scanning) and for
people (text).

Exit codes, the same for all three: 0 nothing found at or above the threshold, 1 found,
2 the audit could not run (site unreachable, OSV API away), 3 a usage or input mistake (bad
option, unknown revision, corrupt lock file): a message on stderr, never a traceback.
The work is in ``audit/secrets``, ``audit/headers`` and ``audit/deps``, imported only when
their command runs.
"""

# No `from __future__ import annotations`: Typer reads the parameters' annotations, and
# the --config option is the CLI's own, passed in (it lives in cli.py, which imports this).

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="text, json or sarif (SARIF 2.1.0, for GitHub).")
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report to this file.", dir_okay=False),
]


def build(
    load: Callable[[Path | None], Any], config_option: Any
) -> tuple[typer.Typer, typer.Typer]:
    """The `scan` group (secrets) and the `audit` group (headers, deps)."""
    scan_app = typer.Typer(
        help="Scan code and history for committed secrets.", no_args_is_help=True
    )
    audit_app = typer.Typer(
        help="Audit a site's security headers (Mozilla Observatory score) or dependencies "
        "(OSV advisories).",
        no_args_is_help=True,
    )

    @scan_app.command("secrets")
    def secrets(
        path: Annotated[
            Path | None, typer.Argument(help="Directory or file (default: the current one).")
        ] = None,
        history: Annotated[
            bool, typer.Option("--history", help="Scan every commit of every branch and tag.")
        ] = False,
        since: Annotated[
            str | None, typer.Option("--since", help="Only commits after REV (implies --history).")
        ] = None,
        fmt: FormatOption = "text",
        baseline: Annotated[
            Path | None,
            typer.Option("--baseline", help="Report only secrets not in this baseline file."),
        ] = None,
        write_baseline: Annotated[
            Path | None,
            typer.Option("--write-baseline", help="Write what is found now as a baseline."),
        ] = None,
        output: OutputOption = None,
        jobs: Annotated[
            int | None, typer.Option("--jobs", "-j", help="Worker processes (default: CPUs).")
        ] = None,
        config: config_option = None,
    ) -> None:
        """Find committed secrets (API keys, tokens, private keys, passwords in URLs, .env
        files). Exit 1 when something is found. Allowlists: `audits.allow` in the config and
        `lightkeeper:allow` on the line."""
        from lightkeeper.audit.secrets import scan_secrets

        allow = load(config).audits.allow
        code = scan_secrets(
            path,
            history=history,
            since=since,
            fmt=fmt,
            baseline=baseline,
            write_baseline=write_baseline,
            output=output,
            allow=allow,
            jobs=jobs,
        )
        raise typer.Exit(code)

    @audit_app.command("headers")
    def headers(
        url: Annotated[
            str, typer.Argument(help="The site: https://example.com or http://host:port.")
        ],
        fmt: FormatOption = "text",
        output: OutputOption = None,
        fail_on: Annotated[
            str,
            typer.Option(
                "--fail-on", help="Exit 1 on a finding this severe or worse ('none': never)."
            ),
        ] = "high",
        min_grade: Annotated[
            str,
            typer.Option("--min-grade", help="Exit 1 below this grade ('none': never)."),
        ] = "B",
        http_port: Annotated[
            int | None, typer.Option(help="Port for http:// (default 80).")
        ] = None,
        https_port: Annotated[int | None, typer.Option(help="Port for https:// (443).")] = None,
        ca_file: Annotated[
            Path | None, typer.Option(help="Trust this CA (PEM) besides the system's.")
        ] = None,
        timeout: Annotated[
            float,
            typer.Option(help="Seconds for each redirect chain, and for the CORS preflight."),
        ] = 10.0,
    ) -> None:
        """Score a site's HTTP security headers as the Mozilla HTTP Observatory does
        (algorithm 5: ten tests, modifiers, grade), plus the seed's header list and
        Permissions-Policy, with a fix (and a next.config snippet) for each."""
        from lightkeeper.audit.headers.commands import audit_headers_command

        code = audit_headers_command(
            url,
            fmt=fmt,
            output=output,
            fail_on=None if fail_on.lower() == "none" else fail_on,
            min_grade=None if min_grade.lower() == "none" else min_grade,
            http_port=http_port,
            https_port=https_port,
            ca_file=ca_file,
            timeout=timeout,
        )
        raise typer.Exit(code)

    @audit_app.command("deps")
    def deps(
        path: Annotated[
            Path, typer.Argument(help="A lock file or a directory holding lock files.")
        ] = Path("."),
        fmt: FormatOption = "text",
        output: OutputOption = None,
        fail_on: Annotated[
            str,
            typer.Option(
                "--fail-on", help="Exit 1 on a vulnerability this severe or worse ('none': never)."
            ),
        ] = "high",
        osv_db: Annotated[
            list[Path] | None,
            typer.Option(
                "--osv-db", help="Offline OSV export: an all.zip or a directory (repeatable)."
            ),
        ] = None,
        npm_audit_json: Annotated[
            Path | None,
            typer.Option("--npm-audit-json", help="Fold in `npm audit --json` output."),
        ] = None,
        offline: Annotated[
            bool, typer.Option("--offline", help="Never ask the OSV API (needs --osv-db).")
        ] = False,
        api_url: Annotated[
            str | None, typer.Option("--api-url", help="OSV API (default https://api.osv.dev).")
        ] = None,
        timeout: Annotated[float, typer.Option(help="Seconds per API request.")] = 10.0,
    ) -> None:
        """Match npm (package-lock, pnpm, yarn) and Python (requirements, poetry, uv) lock
        files against OSV advisories: severity, fixed version, direct or transitive."""
        from lightkeeper.audit.deps.commands import audit_deps_command

        code = audit_deps_command(
            path,
            fmt=fmt,
            output=output,
            fail_on=fail_on,
            osv_db=osv_db or (),
            npm_audit_json=npm_audit_json,
            offline=offline,
            api_url=api_url,
            timeout=timeout,
        )
        raise typer.Exit(code)

    return scan_app, audit_app
