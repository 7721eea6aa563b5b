"""Scanning a git repository's history: every line added by every commit on every ref.

One ``git log --all -p -U0 --date-order --reverse`` (one process, not one per commit)
streams the added lines of each commit, oldest first: ``--date-order`` never shows a
parent after its child and otherwise follows commit dates, and ``-U0`` drops context
lines so only ``+`` lines and hunk headers (``@@ -a,b +c,d @@``, whose ``c`` is the line
number in the new file) remain. Merge commits are shown as dense combined diffs (``--cc``,
git-diff(1) "Combined diff format"): only lines that are new against *every* parent (``++``
for two parents) are read, which is what a conflict resolution or an "evil merge" wrote;
lines a merge takes from one side were read in that side's commit, which ``--date-order``
puts first, so a secret is attributed to the commit that introduced it on its branch
(git's default shows merges with no diff at all, so a secret written while resolving a
conflict would never be seen; gitleaks' ``git log -p`` has that blind spot). Each secret
(fingerprint) is reported once, at its first appearance; removing it later does not remove
the finding, because it stays readable in history until the credential is rotated.
"""

from __future__ import annotations

import codecs
import re
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightkeeper.audit.findings import Report
from lightkeeper.audit.secrets.detect import Hit, detect
from lightkeeper.audit.secrets.options import Collector, SecretOptions
from lightkeeper.audit.secrets.parallel import run_batches
from lightkeeper.audit.secrets.preview import fingerprint
from lightkeeper.audit.secrets.scanner import (
    BATCH_BYTES,
    BATCH_FILES,
    POOL_MIN_BYTES,
    ScanError,
)
from lightkeeper.backup.command import CommandError, run

_MARK = b"\x1e"
_FIELD = "\x1f"
_FORMAT = "--format=%x1e%H%x1f%an%x1f%ae%x1f%aI"
# "@@ -a,b +c,d @@" for a commit, "@@@ -a,b -c,d +e,f @@@" for a two-parent merge (one
# more "@" and "-range" per parent): the count of "@" gives the number of parents.
_HUNK = re.compile(rb"^(@@+) (?:-\d+(?:,\d+)? )+\+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    author: str
    email: str
    date: str


@dataclass(slots=True)
class Chunk:
    """The lines one commit added to one file, joined, with each line's number in the
    file at that commit."""

    commit: int
    path: str
    lines: list[str]
    numbers: list[int]
    size: int = 0


def _git(repo: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str:
    try:
        result = run(["git", "-C", str(repo), *args], ok_codes=ok_codes, timeout=300)
    except CommandError as exc:
        raise ScanError(str(exc)) from None
    return result.stdout.decode("utf-8", errors="replace").strip()


def _check_repository(repo: Path, since: str | None) -> str | None:
    """The commit ``since`` names (resolved, so it cannot be read as an option), after
    checking that ``repo`` is a git repository."""
    if repo.exists() and not repo.is_dir():
        raise ScanError(
            f"{repo} is a file: --history scans a git repository, so give its directory"
            " (or drop --history to scan this file)"
        )
    if not repo.is_dir():
        raise ScanError(f"{repo} does not exist: give the path of a git repository")
    try:
        run(["git", "-C", str(repo), "rev-parse", "--git-dir"], timeout=60)
    except CommandError as exc:
        if exc.returncode is None:  # git itself is missing or hung
            raise ScanError(str(exc)) from None
        if "dubious ownership" in exc.stderr:
            # git >= 2.35.2 refuses a repository another user owns (CVE-2022-24765); a
            # scheduled scan as the service user meets this, and it is not "no repository".
            raise ScanError(
                f"{repo} belongs to another user and git refuses to read it (dubious"
                " ownership): run `git config --global --add safe.directory"
                f" {repo.resolve()}` as the user running the scan, or scan as the owner"
            ) from None
        raise ScanError(
            f"{repo} is not a git repository: --history needs one (run it in a clone, or"
            " drop --history to scan the files)"
        ) from None
    if since is None:
        return None
    try:
        result = run(
            [
                "git",
                "-C",
                str(repo),
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                f"{since}^{{commit}}",
            ],
            timeout=60,
        )
    except CommandError:
        raise ScanError(
            f"unknown revision {since!r} in {repo}: give a commit, branch or tag that exists"
            " (see git log --oneline --all)"
        ) from None
    return result.stdout.decode().strip()


def _path(raw: bytes) -> str:
    """The new path from a ``+++ b/…`` line (C-quoted by git when it holds odd bytes)."""
    name = raw.rstrip(b"\n").rstrip(b"\r")
    if name.endswith(b"\t"):  # git appends a tab to names that contain a space
        name = name[:-1]
    if name.startswith(b'"') and name.endswith(b'"'):
        name = codecs.escape_decode(name[1:-1])[0]
    text = name.decode("utf-8", errors="replace")
    return text[2:] if text.startswith("b/") else text


def parse_log(
    stream: Iterator[bytes], commits: list[Commit], max_size: int = sys.maxsize
) -> Iterator[Chunk]:
    """Chunks of added lines from ``git log -p -U0`` output with our ``--format``;
    ``commits`` is filled as commit headers go by. A chunk past ``max_size`` bytes keeps
    counting its size but drops its lines (it will be skipped as too large), so a 1 GB dump
    committed once does not become gigabytes of Python strings."""
    chunk: Chunk | None = None
    in_hunk = False
    number = 0
    parents = 1  # prefix columns of a diff line: one, or one per parent of a merge
    added = b"+"
    for raw in stream:
        if raw.startswith(_MARK):
            if chunk is not None and chunk.size:
                yield chunk
            chunk, in_hunk = None, False
            sha, author, email, date = (
                raw[1:].rstrip(b"\n").decode("utf-8", errors="replace").split(_FIELD, 3)
            )
            commits.append(Commit(sha, author, email, date))
        elif raw.startswith((b"diff --git ", b"diff --cc ", b"diff --combined ")):
            if chunk is not None and chunk.size:
                yield chunk
            chunk, in_hunk = None, False
        elif not in_hunk and raw.startswith(b"+++ "):
            path = raw[4:]
            chunk = (
                None
                if path.startswith(b"/dev/null")
                else Chunk(len(commits) - 1, _path(path), [], [])
            )
        elif raw.startswith(b"@@"):
            m = _HUNK.match(raw)
            if m:
                in_hunk, number = True, int(m.group(2))
                parents = len(m.group(1)) - 1
                added = b"+" * parents
        elif in_hunk and not raw.startswith(b"\\"):  # "\ No newline at end of file"
            prefix = raw[:parents]
            if b"-" in prefix:
                continue  # a line of a parent that the result no longer has
            if prefix == added and chunk is not None:
                chunk.size += len(raw) - parents
                if chunk.size <= max_size:
                    line = raw[parents:].rstrip(b"\n").decode("utf-8", errors="replace")
                    chunk.lines.append(line)
                    chunk.numbers.append(number)
                elif chunk.lines:
                    chunk.lines.clear()
                    chunk.numbers.clear()
            number += 1  # added or (in a merge) taken from one parent: in the result
    if chunk is not None and chunk.size:
        yield chunk


def scan_text_batch(batch: list[tuple[str, str]]) -> list[tuple[Hit, ...]]:
    """Worker entry point: scan (path, text) pairs."""
    return [tuple(detect(text, path)) for path, text in batch]


def scan_history(
    repo: Path, options: SecretOptions | None = None, since: str | None = None
) -> Report:
    """Scan the lines added by every commit reachable from any ref (branches, tags),
    or only by commits after ``since`` (``since..``, a commit, branch or tag).

    Findings carry ``commit``, ``author``, ``email`` and ``date`` (author date, ISO 8601)
    in their properties and the line number in the file at that commit. Raises
    :class:`ScanError` when ``repo`` is not a git repository or ``since`` is unknown.
    """
    options = options or SecretOptions()
    started = time.monotonic()
    since_sha = _check_repository(repo, since)
    collector = Collector(options)
    commits: list[Commit] = []
    stats: dict[str, Any] = {
        "commits": 0,
        "files": 0,
        "bytes": 0,
        "skipped_binary": 0,
        "skipped_large": 0,
    }
    total = None
    if options.progress is not None:
        count = ["rev-list", "--count", "--all", *([f"^{since_sha}"] if since_sha else [])]
        total = int(_git(repo, *count) or 0)
    with tempfile.TemporaryDirectory(prefix="lightkeeper-history-") as tmp:
        log = Path(tmp) / "log.patch"
        args = [
            "git",
            "-C",
            str(repo),
            "-c",
            "core.quotePath=false",
            "log",
            "--all",
            "--date-order",
            "--reverse",
            "-p",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--cc",
            "--root",  # the first commit's diff too, whatever log.showRoot says
            "--src-prefix=a/",
            "--dst-prefix=b/",
            _FORMAT,
        ]
        if since_sha:
            args.append(f"^{since_sha}")
        try:
            run(args, stdout_path=log, timeout=None)
        except CommandError as exc:
            raise ScanError(f"git log failed in {repo}: {exc}") from None
        workers = options.workers() if log.stat().st_size >= POOL_MIN_BYTES else 1
        with log.open("rb") as stream:
            metas: deque[list[Chunk]] = deque()
            chunks = parse_log(stream, commits, options.max_file_size)
            batches = _batches(chunks, options, collector, stats, metas)
            seen: set[str] = set()
            for results in run_batches(scan_text_batch, batches, workers):
                for chunk, hits in zip(metas.popleft(), results, strict=True):
                    _collect(collector, seen, commits[chunk.commit], chunk, hits)
                if options.progress is not None:
                    options.progress(len(commits), total)
        stats["commits"] = len(commits)
        stats["skipped_binary"] = _count_binary(log)
    stats["seconds"] = round(time.monotonic() - started, 3)
    return collector.report(stats)


def _batches(
    chunks: Iterator[Chunk],
    options: SecretOptions,
    collector: Collector,
    stats: dict[str, Any],
    metas: deque[list[Chunk]],
) -> Iterator[list[tuple[str, str]]]:
    """Group chunks into batches for the workers, remembering each batch's chunks (in
    ``metas``, in order) to place the hits that come back."""
    batch: list[Chunk] = []
    size = 0
    for chunk in chunks:
        parts = chunk.path.split("/")
        if any(p in options.skip_dirs for p in parts[:-1]) or collector.allowlist.path_allowed(
            chunk.path
        ):
            continue
        if chunk.size > options.max_file_size:
            stats["skipped_large"] += 1
            continue
        stats["files"] += 1
        stats["bytes"] += chunk.size
        batch.append(chunk)
        size += chunk.size
        if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            metas.append(batch)
            yield [(c.path, "\n".join(c.lines)) for c in batch]
            batch, size = [], 0
    if batch:
        metas.append(batch)
        yield [(c.path, "\n".join(c.lines)) for c in batch]


def _collect(
    collector: Collector, seen: set[str], commit: Commit, chunk: Chunk, hits: tuple[Hit, ...]
) -> None:
    for hit in hits:
        key = fingerprint(hit.rule, hit.secret)
        if key in seen:
            continue
        finding = collector.add(
            hit,
            chunk.path,
            chunk.numbers[hit.line - 1],
            {
                "commit": commit.sha,
                "author": commit.author,
                "email": commit.email,
                "date": commit.date,
            },
            note=f" (commit {commit.sha[:10]}, {commit.author}, {commit.date[:10]})",
        )
        if finding is not None:
            seen.add(key)


def _count_binary(log: Path) -> int:
    count = 0
    with log.open("rb") as stream:
        for raw in stream:
            if raw.startswith(b"Binary files ") and raw.rstrip().endswith(b" differ"):
                count += 1
    return count
