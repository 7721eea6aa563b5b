"""Checks beyond the Observatory's score: the seed's header list, Permissions-Policy,
credentialed CORS that echoes the Origin, and redirect loops. None changes the score.

The seed (``seeds/devops-engineer-skill.md`` §"Security Headers") sends seven headers; the
Observatory already scores X-Frame-Options and X-Content-Type-Options, so findings here are
for what it does not check or what the seed asks beyond it: X-DNS-Prefetch-Control,
X-XSS-Protection, Strict-Transport-Security with includeSubDomains, preload and two years,
and the exact Referrer-Policy. Permissions-Policy must parse as an RFC 8941 dictionary (W3C
Permissions Policy §5.2; a browser drops an unparsable header whole) and restrict the
powerful features the seed names (camera, microphone, geolocation): an allowlist of ``*``
opens a feature to every embedded origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lightkeeper.audit.findings import Severity
from lightkeeper.audit.headers.advice import SEED_HEADERS, next_config_entry
from lightkeeper.audit.headers.fetch import CORS_ORIGIN, MAX_REDIRECTS, REDIRECTS, Retrieval
from lightkeeper.audit.headers.structured import StructuredFieldError, Token, parse_dictionary

POWERFUL_FEATURES = ("camera", "microphone", "geolocation")
PRIVATE_REFERRERS = (
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
)
SEED_HSTS_MAX_AGE = 63_072_000  # two years, the seed's (and hstspreload.org's) value


@dataclass(frozen=True)
class Extra:
    """One extra check that failed."""

    rule: str
    severity: Severity
    message: str
    fix: str
    properties: dict[str, Any] = field(default_factory=dict)


def _seed_fix(name: str) -> str:
    return f"In next.config.ts headers(): {next_config_entry(name, dict(SEED_HEADERS)[name])}."


def seed_table(r: Retrieval) -> list[dict[str, Any]]:
    """The seed's seven headers: expected value, value sent, and whether it meets the seed."""
    assert r.auto.response is not None
    headers = r.auto.response.headers
    rows = []
    for name, expected in SEED_HEADERS:
        actual = headers.first(name)
        rows.append({"header": name, "expected": expected, "actual": actual,
                     "ok": _meets_seed(name, actual)})  # fmt: skip
    return rows


def _meets_seed(name: str, actual: str | None) -> bool:
    if actual is None:
        return False
    value = actual.strip().lower()
    if name == "Strict-Transport-Security":
        params = [p.strip() for p in value.split(";")]
        ages = [p[8:] for p in params if p.startswith("max-age=")]
        age_ok = bool(ages) and ages[-1].strip('"').isdigit()
        return (
            age_ok
            and int(ages[-1].strip('"')) >= SEED_HSTS_MAX_AGE
            and ("includesubdomains" in params and "preload" in params)
        )
    if name == "X-Frame-Options":
        return value in ("sameorigin", "deny")
    if name == "X-XSS-Protection":
        return value.replace(" ", "") == "1;mode=block"
    if name == "Permissions-Policy":
        return not permissions_problems(actual)
    if name == "Referrer-Policy":  # the seed's value or a stricter one the Observatory rates
        tokens = [t.strip() for t in value.split(",") if t.strip()]
        return bool(tokens) and tokens[-1] in PRIVATE_REFERRERS
    return value == dict(SEED_HEADERS)[name].lower()


_SEED_SEVERITY = {
    "X-DNS-Prefetch-Control": Severity.LOW,
    "X-XSS-Protection": Severity.LOW,
    "Strict-Transport-Security": Severity.LOW,
    "Referrer-Policy": Severity.LOW,
}
_SEED_WHY = {
    "X-DNS-Prefetch-Control": "the seed turns DNS prefetching on explicitly",
    "X-XSS-Protection": (
        "the seed asks for '1; mode=block' (current browsers have removed the XSS auditor it "
        "controls; CSP is the real protection)"
    ),
    "Strict-Transport-Security": (
        "the seed asks for two years with includeSubDomains and preload, what the preload "
        "list requires"
    ),
    "Referrer-Policy": "the seed asks for strict-origin-when-cross-origin (or stricter)",
}


def permissions_problems(value: str) -> list[str]:
    """What is wrong with a Permissions-Policy value (empty when it meets the seed)."""
    try:
        policy = parse_dictionary(value)
    except StructuredFieldError as exc:
        return [f"not a structured-field dictionary ({exc}), so browsers ignore it"]
    problems = []
    for feature in POWERFUL_FEATURES:
        if feature not in policy:
            problems.append(f"{feature} is not listed (its default allowlist is 'self')")
            continue
        member = policy[feature][0]
        items = member if isinstance(member, list) else [(member, {})]
        if any(isinstance(item, Token) and item.value == "*" for item, _ in items):
            problems.append(f"{feature} is allowed for every origin (*)")
    return problems


def extras(r: Retrieval) -> list[Extra]:
    assert r.auto.response is not None
    headers = r.auto.response.headers
    found: list[Extra] = []
    for row in seed_table(r):
        name = row["header"]
        if row["ok"] or name not in _SEED_SEVERITY:
            continue
        sent = f"sends {row['actual']!r}" if row["actual"] is not None else "does not send it"
        found.append(
            Extra(
                f"seed/{name.lower()}",
                _SEED_SEVERITY[name],
                f"{name}: {_SEED_WHY[name]}; the site {sent}.",
                _seed_fix(name),
                {"header": name, "expected": row["expected"], "actual": row["actual"]},
            )
        )
    permissions = headers.first("permissions-policy")
    problems = (
        ["no Permissions-Policy header: embedded content may ask for camera, microphone "
         "and location"]
        if permissions is None
        else permissions_problems(permissions)
    )  # fmt: skip
    if problems:
        unparsable = permissions is not None and problems[0].startswith("not a structured")
        severity = Severity.MEDIUM if permissions is None or unparsable else Severity.LOW
        if any("every origin" in p for p in problems):
            severity = Severity.MEDIUM
        found.append(
            Extra(
                "permissions-policy",
                severity,
                "Permissions-Policy: " + "; ".join(problems) + ".",
                _seed_fix("Permissions-Policy"),
                {"header": "Permissions-Policy", "actual": permissions, "problems": problems},
            )
        )
    found.extend(_cors_echo(r))
    found.extend(_redirect_loops(r))
    return found


def _cors_echo(r: Retrieval) -> list[Extra]:
    """What the Observatory meant by universal access: the preflight answer echoes our
    Origin and allows credentials, so any site can read responses with the user's cookies."""
    if r.cors is None:
        return []
    acao = (r.cors.headers.first("access-control-allow-origin") or "").strip()
    creds = (r.cors.headers.first("access-control-allow-credentials") or "").strip().lower()
    if acao != CORS_ORIGIN or creds != "true":
        return []
    return [
        Extra(
            "cors-origin-echo-with-credentials",
            Severity.HIGH,
            f"The CORS preflight echoed Origin {CORS_ORIGIN} with "
            "Access-Control-Allow-Credentials: true: any site can read responses with the "
            "visitor's cookies. (The Observatory 1.x misses this and scores it as restricted.)",
            "Answer only for an allowlist of origins, or use * without credentials.",
            {"access-control-allow-origin": acao},
        )
    ]


def _redirect_loops(r: Retrieval) -> list[Extra]:
    found = []
    for label, session in (("http", r.http), ("https", r.https)):
        response = session.response
        if (
            response is not None
            and response.status in REDIRECTS
            and (len(session.history) > MAX_REDIRECTS)
        ):
            found.append(
                Extra(
                    f"redirect-loop/{label}",
                    Severity.MEDIUM,
                    f"The {label}:// chain from {session.url} was still redirecting after "
                    f"{MAX_REDIRECTS} redirects (last: {response.url}); the Observatory scores "
                    "that redirect response as the page.",
                    "Make the redirect chain end on a page (check for loops between hosts, "
                    "schemes or trailing slashes).",
                    {"hops": [h.url for h in session.history]},
                )
            )
    return found
