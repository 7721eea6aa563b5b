"""Scanning a directory tree (or one file) for secrets.

The walk never follows symlinks (a link can point outside the tree or loop) and never
enters ``SecretOptions.skip_dirs``. A file whose first 8 KiB hold a NUL byte is binary
(git's own heuristic, ``buffer_is_binary`` in xdiff-interface.c) and one larger than
``max_file_size`` (5 MiB) is skipped; both are counted in the report's stats, and so are
files and directories that cannot be read. A root that cannot be read at all is an error,
not an empty (clean) report. Text is decoded as UTF-8 with replacement, so a stray Latin-1
byte cannot hide a secret; so are file names, which reach JSON and SARIF (both UTF-8) and
must not carry the lone surrogates Python uses for undecodable bytes (PEP 383).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from lightkeeper.audit.findings import Finding, Report
from lightkeeper.audit.secrets.config import Allowlist
from lightkeeper.audit.secrets.detect import Hit, detect
from lightkeeper.audit.secrets.options import Collector, SecretOptions
from lightkeeper.audit.secrets.parallel import run_batches
from lightkeeper.errors import LightkeeperError

BINARY_SNIFF = 8192
# In-process below these (a pool's start-up would cost more than it saves); batches of
# about BATCH_BYTES keep workers busy without shipping huge lists between processes.
POOL_MIN_BYTES = 4 * 1024 * 1024
POOL_MIN_FILES = 64
BATCH_BYTES = 1024 * 1024
BATCH_FILES = 256


class ScanError(LightkeeperError):
    """The scan cannot start (missing path, not a git repository, unknown revision)."""


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: str
    status: str  # "text", "binary", "unreadable"
    size: int
    hits: tuple[Hit, ...] = ()


def read_text(data: bytes) -> str | None:
    """``data`` as text, or None when it is binary."""
    if b"\0" in data[:BINARY_SNIFF]:
        return None
    text = data.decode("utf-8", errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def _scan_file(absolute: str, relative: str) -> FileOutcome:
    try:
        with open(absolute, "rb") as handle:
            data = handle.read()
    except OSError:
        return FileOutcome(relative, "unreadable", 0)
    text = read_text(data)
    if text is None:
        return FileOutcome(relative, "binary", len(data))
    return FileOutcome(relative, "text", len(data), tuple(detect(text, relative)))


def scan_file_batch(batch: list[tuple[str, str]]) -> list[FileOutcome]:
    """Worker entry point: scan (absolute, relative) paths."""
    return [_scan_file(absolute, relative) for absolute, relative in batch]


def _display_name(name: str) -> str:
    """A file name as valid Unicode: undecodable bytes become U+FFFD, as in history scans
    (``os.scandir`` keeps them as lone surrogates, which no UTF-8 output can hold)."""
    return os.fsencode(name).decode("utf-8", errors="replace")


@dataclass(slots=True)
class Walk:
    """The files to scan under a root, sorted by relative path, and what was left out."""

    files: list[tuple[str, str, int]]  # (absolute, relative for display, size)
    large: int = 0
    unreadable: int = 0  # directories that could not be listed, files that could not stat


def walk(root: Path, options: SecretOptions, allowlist: Allowlist) -> Walk:
    """Files under ``root``. Paths exempted by the allowlist are not even opened.

    Raises :class:`ScanError` when ``root`` itself cannot be listed: reporting nothing
    found there would read as "clean"."""
    found = Walk([])
    stack = [(str(root), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            if not prefix:
                raise ScanError(
                    f"{root} cannot be read ({exc.strerror or exc}): run the scan as a user"
                    " who can list it, or give another directory"
                ) from None
            found.unreadable += 1
            continue
        for entry in entries:
            relative = prefix + _display_name(entry.name)
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in options.skip_dirs and not allowlist.path_allowed(relative):
                    stack.append((entry.path, relative + "/"))
            elif entry.is_file(follow_symlinks=False) and not allowlist.path_allowed(relative):
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except OSError:
                    found.unreadable += 1
                    continue
                if size > options.max_file_size:
                    found.large += 1
                else:
                    found.files.append((entry.path, relative, size))
    found.files.sort(key=lambda f: f[1])
    return found


def _single_file(root: Path, options: SecretOptions) -> Walk:
    try:
        size = root.stat().st_size
        with root.open("rb"):
            pass
    except OSError as exc:
        raise ScanError(
            f"{root} cannot be read ({exc.strerror or exc}): run the scan as a user who can"
            " read it, or give another file"
        ) from None
    if size > options.max_file_size:
        return Walk([], large=1)
    return Walk([(str(root), _display_name(root.name), size)])


def _not_scannable(root: Path) -> ScanError:
    if root.is_symlink():
        return ScanError(
            f"{root} is a broken symbolic link (to {os.readlink(root)}): give the path of the"
            " directory or file it should point to"
        )
    if root.exists():
        return ScanError(
            f"{root} is neither a directory nor a regular file (a socket, FIFO or device):"
            " give a directory or a file to scan"
        )
    return ScanError(f"{root} does not exist: give a directory or a file to scan")


def _batches(files: list[tuple[str, str, int]]) -> list[list[tuple[str, str]]]:
    batches: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for absolute, relative, file_size in files:
        current.append((absolute, relative))
        size += file_size
        if size >= BATCH_BYTES or len(current) >= BATCH_FILES:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def scan_paths(root: Path, options: SecretOptions | None = None) -> Report:
    """Scan every file under ``root`` (a directory or a single file).

    Paths in findings are relative to ``root`` (to the file's directory when ``root`` is
    a file) with forward slashes. Raises :class:`ScanError` when ``root`` does not exist,
    is neither a directory nor a file, or cannot be read.
    """
    options = options or SecretOptions()
    started = time.monotonic()
    collector = Collector(options)
    if root.is_file():
        found = _single_file(root, options)
    elif root.is_dir():
        found = walk(root, options, collector.allowlist)
    else:
        raise _not_scannable(root)
    files = found.files
    total_bytes = sum(f[2] for f in files)
    use_pool = total_bytes >= POOL_MIN_BYTES and len(files) >= POOL_MIN_FILES
    workers = options.workers() if use_pool else 1
    counts = {"text": 0, "binary": 0, "unreadable": 0}
    scanned_bytes = done = 0
    for outcomes in run_batches(scan_file_batch, _batches(files), workers):
        for outcome in outcomes:
            counts[outcome.status] += 1
            if outcome.status == "text":
                scanned_bytes += outcome.size
            for hit in outcome.hits:
                collector.add(hit, outcome.path, hit.line)
        done += len(outcomes)
        if options.progress is not None:
            options.progress(done, len(files))
    collector.findings.sort(key=_location_order)
    return collector.report(
        {
            "files": counts["text"],
            "bytes": scanned_bytes,
            "skipped_binary": counts["binary"],
            "skipped_large": found.large,
            "skipped_unreadable": counts["unreadable"] + found.unreadable,
            "seconds": round(time.monotonic() - started, 3),
        }
    )


def _location_order(finding: Finding) -> tuple[str, int, int]:
    location = finding.location
    if location is None:
        return ("", 0, 0)
    return (location.path, location.line or 0, location.column or 0)
