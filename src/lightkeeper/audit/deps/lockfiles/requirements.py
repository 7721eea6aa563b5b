"""pip's ``requirements*.txt``.

The format is pip's (pip.pypa.io, reference/requirements-file-format): a line ending in an
unescaped ``\\`` continues on the next one, and continuations are joined *before* comments
are stripped (pypa/pip#7780); ``#`` at the start of a line or after whitespace starts a
comment; ``-r``/``--requirement FILE`` includes another file (relative to this one);
``-c``/``--constraint`` names a constraints file, which pins without installing and is not
read; ``-e``/``--editable`` installs a local project or VCS checkout; other ``-x`` lines are
options. A requirement is a PEP 508 specifier (``name[extras] ==1.2 ; markers``) that may be
followed by per-requirement options such as ``--hash=sha256:…``.

Only ``==V`` (without a wildcard) and ``===V`` pin one version; anything else is reported as
"not pinned, not checked", as are URLs, paths and editables. pip-compile's (and ``uv pip
compile``'s) ``# via`` annotations tell direct from transitive: ``# via -r requirements.in``
or ``# via app (pyproject.toml)`` is direct, ``# via flask`` transitive; without annotations
every requirement is taken as direct. A file whose name says dev, test, lint, docs or ci
(``requirements-dev.txt``, ``requirements/test.txt``) holds development dependencies.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from lightkeeper.audit.deps.lockfiles.model import LockfileError, Package, Parsed, Unchecked

_FIX = "fix the line (pip's requirements file format) or regenerate the file with pip-compile"
_COMMENT = re.compile(r"(^|\s)#.*$")
_VIA = re.compile(r"^\s*#\s+via\b\s*(.*)$")
_VIA_MORE = re.compile(r"^\s*#\s{2,}(\S.*)$")
_OPTION_TAIL = re.compile(r"\s--?[A-Za-z][\w-]*(?:[=\s]|$)")
_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+)(\S+)$")
_DEV_NAME = re.compile(
    r"(?:^|[-_.])(dev|develop|development|tests?|testing|lint|docs?|ci)(?:[-_.]|$)"
)


def is_dev_file(path: Path) -> bool:
    stem = path.stem.lower()
    if stem.startswith("requirements"):
        stem = stem[len("requirements") :]
    return bool(_DEV_NAME.search(stem))


def _logical_lines(text: str) -> list[tuple[int, str, list[str]]]:
    """(first line number, joined line, raw physical lines) with continuations joined."""
    out: list[tuple[int, str, list[str]]] = []
    buffer, start, raws = "", 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        raws.append(raw)
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            buffer += raw[:-1] + " "
            continue
        out.append((start, buffer + raw, raws))
        buffer, raws = "", []
    if buffer:
        out.append((start, buffer, raws))
    return out


def parse_requirements(path: Path, text: str) -> Parsed:
    out = Parsed()
    _parse(path, text, out, seen={path.resolve()})
    return out


def _parse(path: Path, text: str, out: Parsed, seen: set[Path]) -> None:
    out.files.append(path)
    dev = is_dev_file(path)
    via: dict[int, list[str]] = {}  # index into out.packages → annotation items
    current: int | None = None  # the package the annotation lines below belong to
    for number, line, raws in _logical_lines(text):
        if len(raws) == 1 and current is not None:
            head, more = _VIA.match(raws[0]), _VIA_MORE.match(raws[0])
            if head:
                via.setdefault(current, []).extend(
                    [head.group(1).strip()] if head.group(1).strip() else []
                )
                continue
            if more and current in via:
                via[current].append(more.group(1).strip())
                continue
        body = _COMMENT.sub("", line).strip()
        if not body:
            continue
        current = None
        if body.startswith("-"):
            include = _INCLUDE.match(body)
            if include:
                _include(path, number, include.group(1), out, seen)
            elif re.match(r"^(-e|--editable)\b", body):
                target = body.split(None, 1)[1] if " " in body else body
                out.unchecked.append(
                    Unchecked(path, number, target, "", "editable install, not pinned")
                )
            continue  # -c constraints and other pip options
        cut = _OPTION_TAIL.search(body)
        spec = (body[: cut.start()] if cut else body).strip()
        if re.match(r"^(\.|/|~|[A-Za-z][\w+.-]*://)", spec):
            out.unchecked.append(Unchecked(path, number, spec, "", "URL or path, not pinned"))
            continue
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise LockfileError(
                path, number, f"not a requirement: {spec!r} ({exc}); {_FIX}"
            ) from None
        if req.url:
            out.unchecked.append(
                Unchecked(path, number, req.name, f"@ {req.url}", "direct URL, not pinned")
            )
            continue
        specs = list(req.specifier)
        pinned = (
            len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version
        )
        if not pinned:
            shown = str(req.specifier) or "(any version)"
            out.unchecked.append(
                Unchecked(path, number, req.name, shown, "not pinned, not checked")
            )
            continue
        current = len(out.packages)
        out.packages.append(Package("PyPI", req.name, specs[0].version, path, number, True, dev))
    for index, items in via.items():
        direct = any(item.startswith("-r") or "(" in item for item in items)
        old = out.packages[index]
        out.packages[index] = Package(
            old.ecosystem, old.name, old.version, old.file, old.line, direct, old.dev
        )


def _include(path: Path, line: int, target: str, out: Parsed, seen: set[Path]) -> None:
    included = (path.parent / target).resolve()
    if included in seen:
        return
    if not included.is_file():
        raise LockfileError(path, line, f"-r {target}: no such file ({included})")
    seen.add(included)
    try:
        text = included.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(included, None, f"cannot be read ({exc})") from None
    shown = path.parent / target  # keep paths relative to the scanned root where possible
    _parse(shown if shown.resolve() == included else included, text, out, seen)
