"""What the config may exempt from secret scanning (``audits.allow``), validated at load.

Example::

    audits:
      allow:
        paths: ["tests/fixtures/**", "*.snap", "docs/"]
        rules: [sentry-dsn, stripe-test-key]
        patterns: ["^sk_test_", "EXAMPLE$"]

``paths`` are gitignore-style globs on the path relative to the scanned root: a glob without
a slash matches a name at any depth (``*.pem``, ``fixtures``), one with a slash is anchored
at the root (``docs/*.md``), ``**`` spans directories, and a matching directory exempts
everything under it. ``rules`` are rule ids. ``patterns`` are Python regular expressions
searched in the secret value itself (never shown), e.g. a known test key's prefix.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from pydantic import Field, field_validator

from lightkeeper.probes.base import StrictModel


class SecretsAllow(StrictModel):
    """Findings to leave out of every secret scan: by path glob, rule id or value regex."""

    paths: list[str] = Field(
        default_factory=list, description="gitignore-style globs of paths not to report."
    )
    rules: list[str] = Field(default_factory=list, description="Rule ids not to report.")
    patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions; a secret whose value matches one is not reported.",
    )

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: list[str]) -> list[str]:
        if not rules:
            return rules
        # The detectors (compiled patterns) load only when rules are named: every CLI
        # command validates the whole config, and most never scan for secrets.
        from lightkeeper.audit.secrets.rules import RULES

        for rule in rules:
            if rule not in RULES:
                close = difflib.get_close_matches(rule, list(RULES), n=1, cutoff=0.6)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"known rules: {', '.join(sorted(RULES))}"
                )
                raise ValueError(f"unknown secret rule {rule!r}: {hint}")
        return rules

    @field_validator("patterns")
    @classmethod
    def _valid_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {pattern!r} is not a valid regular expression ({exc}):"
                    " escape special characters such as . + ( [ with a backslash"
                ) from None
        return patterns

    @field_validator("paths")
    @classmethod
    def _valid_globs(cls, paths: list[str]) -> list[str]:
        for glob in paths:
            if not glob.strip():
                raise ValueError("an empty path glob exempts nothing: remove it")
            glob_to_regex(glob)
        return paths


def glob_to_regex(glob: str) -> re.Pattern[str]:
    """A gitignore-style glob as a regex over a relative path with forward slashes.

    ``**/`` is any number of directories, ``/**`` everything below, ``*`` any characters but
    ``/``, ``?`` one such character, ``[abc]``/``[!abc]`` a class. Raises ValueError with
    the fix on an unclosed ``[``.
    """
    pattern = glob.strip().replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    pattern = pattern.strip("/")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if close < 0:
                raise ValueError(f"path glob {glob!r} has an unclosed '[': close it or escape it")
            body = pattern[i + 1 : close]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = close + 1
        else:
            out.append(re.escape(ch))
            i += 1
    lead = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{lead}{''.join(out)}(?:/.*)?$")


@dataclass(frozen=True)
class Allowlist:
    """:class:`SecretsAllow` compiled for matching."""

    paths: tuple[re.Pattern[str], ...] = ()
    rules: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def of(cls, allow: SecretsAllow) -> Allowlist:
        return cls(
            paths=tuple(glob_to_regex(g) for g in allow.paths),
            rules=frozenset(allow.rules),
            patterns=tuple(re.compile(p) for p in allow.patterns),
        )

    def path_allowed(self, path: str) -> bool:
        return any(p.match(path) for p in self.paths)

    def allows(self, rule: str, path: str, secret: str) -> bool:
        return (
            rule in self.rules
            or self.path_allowed(path)
            or any(p.search(secret) for p in self.patterns)
        )
