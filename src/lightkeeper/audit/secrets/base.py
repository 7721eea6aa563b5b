"""The detector contract: what a detector is, what it finds, and what it knows of the file.

A detector is a regular expression plus the keywords that must occur for it to run (the
prefilter) and a ``check`` that turns a regex match into a :class:`Candidate` or rejects it
(placeholder, wrong shape, low entropy). A new detector is one entry in a module's
``DETECTORS`` tuple and, if it reports under a new rule id, one entry in ``rules.RULES``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from lightkeeper.audit.findings import Severity

# Priorities settle overlaps: a Stripe key inside `STRIPE_KEY=…` is reported as a Stripe
# key (SPECIFIC), not also as a generic assignment (GENERIC).
STRUCTURE = 3
SPECIFIC = 2
CONTEXT = 1
GENERIC = 0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A secret a detector found in one text, before suppression and fingerprinting.

    ``secret`` is the value fingerprinted (never shown); ``preview`` is a redacted display
    when the detector knows a better one than the default (a URL with its password
    masked); ``label`` replaces the rule name in the message ("Redis URL with a password");
    ``consumed`` are further spans this finding claims (the secret half of an AWS pair),
    so no other detector reports them again.
    """

    rule: str
    secret: str
    start: int
    end: int
    priority: int = SPECIFIC
    preview: str | None = None
    label: str | None = None
    severity: Severity | None = None
    consumed: tuple[tuple[int, int], ...] = ()

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        return ((self.start, self.end), *self.consumed)


LOCK_FILES = frozenset(
    [
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lock",
        "poetry.lock",
        "uv.lock",
        "pipfile.lock",
        "pdm.lock",
        "cargo.lock",
        "composer.lock",
        "gemfile.lock",
        "go.sum",
        "packages.lock.json",
        "flake.lock",
        "deno.lock",
    ]
)
ENV_TEMPLATE_SUFFIXES = frozenset(
    {"example", "sample", "template", "tmpl", "tpl", "dist", "defaults", "default", "schema"}
)
CODE_EXTENSIONS = frozenset(
    [
        ".py",
        ".pyi",
        ".pyx",
        ".pxd",
        ".js",
        ".mjs",
        ".cjs",
        ".jsx",
        ".ts",
        ".tsx",
        ".go",
        ".rb",
        ".java",
        ".kt",
        ".cs",
        ".php",
        ".rs",
        ".swift",
        ".scala",
        ".c",
        ".cc",
        ".cpp",
        ".h",
        ".hpp",
        ".vue",
        ".svelte",
        ".dart",
        ".lua",
        ".ex",
        ".exs",
    ]
)
_MINIFIED_NAME = re.compile(r"(?:[.\-]min\.(?:js|mjs|css)|\.map|[.\-]bundle\.js|\.chunk\.js)$")
_BUNDLE_EXTENSIONS = frozenset({".js", ".mjs", ".cjs", ".css"})


@dataclass(frozen=True, slots=True)
class FileKind:
    """What a file's name (and, for bundles, its shape) says about how to read it."""

    path: str
    name: str
    extension: str
    is_lock: bool = False
    is_minified: bool = False
    is_dotenv: bool = False
    is_env_template: bool = False
    is_code: bool = False

    @classmethod
    def of(cls, path: str, text: str = "") -> FileKind:
        """``path`` is relative with forward slashes; ``text`` lets a bundle without a
        ``.min`` name be recognised by its average line length (over 1,000 characters)."""
        name = posixpath.basename(path).lower()
        extension = posixpath.splitext(name)[1]
        dotenv = template = False
        if name == ".env" or name.startswith(".env."):
            suffixes = set(name.split(".")[2:])
            template = bool(suffixes & ENV_TEMPLATE_SUFFIXES)
            dotenv = not template
        elif name.endswith((".env.example", ".env.sample", ".env.template")) or name in (
            "env.example",
            "env.sample",
        ):
            template = True
        minified = bool(_MINIFIED_NAME.search(name))
        if not minified and extension in _BUNDLE_EXTENSIONS and len(text) > 4096:
            minified = len(text) / (text.count("\n") + 1) > 1000
        return cls(
            path=path,
            name=name,
            extension=extension,
            is_lock=name in LOCK_FILES,
            is_minified=minified,
            is_dotenv=dotenv,
            is_env_template=template,
            is_code=extension in CODE_EXTENSIONS,
        )


@dataclass(frozen=True, slots=True)
class Context:
    """What a check sees besides its match: the whole text and the file's kind."""

    text: str
    kind: FileKind

    def around(self, start: int, end: int, before: int, after: int) -> tuple[int, int]:
        """Up to ``before`` characters before ``start`` and ``after`` after ``end``, clipped
        to the line. Only that much is searched for the line's ends, so a check on a 5 MB
        minified line costs the window, not the line, per keyword hit."""
        text = self.text
        lo = max(0, start - before)
        newline = text.rfind("\n", lo, start)
        if newline >= 0:
            lo = newline + 1
        hi = min(len(text), end + after)
        newline = text.find("\n", start, hi)
        if newline >= 0:
            hi = newline
        return lo, hi


Check = Callable[[re.Match[str], Context], Candidate | None]


def everywhere(kind: FileKind) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Detector:
    """One way of finding one kind of secret.

    ``keywords`` (lower case) gate the detector: it runs only where one occurs. When
    ``anchored`` the keyword is the start of the secret (``ghp_``, ``AKIA``) and the regex is
    tried exactly there; otherwise it is searched in ``window`` characters before and after
    the keyword, clipped to the keyword's line (a Slack webhook's host, a Sentry DSN).
    """

    name: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    check: Check
    anchored: bool = True
    window: tuple[int, int] = (0, 0)
    scope: Callable[[FileKind], bool] = everywhere
