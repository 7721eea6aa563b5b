"""Why each Observatory result matters and how to fix it, in plain words.

The wording is Lightkeeper's own, following the meaning of each result's description and
recommendation in mdn/mdn-http-observatory ``src/grader/charts.js`` and MDN's practical
implementation guides. Where the reference platform's own header list applies
(``seeds/devops-engineer-skill.md`` §"Security Headers", a Next.js ``next.config.ts``), the
fix names the entry to add to its ``headers()`` list; ``NEXT_CONFIG_SNIPPET`` is that list
with the seed's values, plus a starting Content-Security-Policy the seed lacks.
"""

from __future__ import annotations

# The seed's header list (name, value), in its order.
SEED_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-DNS-Prefetch-Control", "on"),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-XSS-Protection", "1; mode=block"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(self), geolocation=()"),
)
STARTER_CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def next_config_entry(name: str, value: str) -> str:
    """One entry of the seed's ``securityHeaders`` list (single quotes like the seed's,
    double quotes for a value that holds one, as a CSP does)."""
    quoted = f'"{value}"' if "'" in value else f"'{value}'"
    return f"{{ key: '{name}', value: {quoted} }}"


def _snippet() -> str:
    entries = [*SEED_HEADERS, ("Content-Security-Policy", STARTER_CSP)]
    lines = ["// next.config.ts", "const securityHeaders = ["]
    lines += [f"  {next_config_entry(name, value)}," for name, value in entries]
    lines += [
        "];",
        "",
        "export default {",
        "  async headers() {",
        "    return [{ source: '/:path*', headers: securityHeaders }];",
        "  },",
        "};",
    ]
    return "\n".join(lines)


NEXT_CONFIG_SNIPPET = _snippet()

_SEED = dict(SEED_HEADERS)


def _entry(name: str) -> str:
    value = STARTER_CSP if name == "Content-Security-Policy" else _SEED[name]
    return f"In next.config.ts headers(): {next_config_entry(name, value)}."


# result → plain-words reason.
WHY: dict[str, str] = {
    "csp-implemented-with-no-unsafe-default-src-none": (
        "A Content Security Policy blocks everything by default (default-src 'none') and "
        "allows no inline or eval'd script."
    ),
    "csp-implemented-with-no-unsafe": (
        "A Content Security Policy is set and allows no inline or eval'd script."
    ),
    "csp-implemented-with-unsafe-inline-in-style-src-only": (
        "The CSP is safe for scripts but style-src allows inline styles, data: or a broad "
        "source, which still lets injected CSS leak data."
    ),
    "csp-implemented-with-insecure-scheme-in-passive-content-only": (
        "The CSP lets images or media load over plain HTTP on an HTTPS site, so a network "
        "attacker can swap them."
    ),
    "csp-implemented-with-unsafe-eval": (
        "The CSP allows 'unsafe-eval', so injected strings can still become code."
    ),
    "csp-implemented-with-unsafe-inline": (
        "The CSP does not stop injected scripts: script-src allows 'unsafe-inline' or data:, "
        "or script-src/object-src are missing or as broad as https: or *."
    ),
    "csp-implemented-with-insecure-scheme": (
        "The CSP lets scripts or other active content load over plain HTTP on an HTTPS site."
    ),
    "csp-header-invalid": (
        "The Content Security Policy cannot be parsed (a repeated directive, a policy that "
        "is too short, or 'strict-dynamic' without a nonce or hash), so it protects nothing "
        "reliably."
    ),
    "csp-not-implemented": (
        "No Content Security Policy: nothing limits what an injected script can load or run."
    ),
    "csp-not-implemented-but-reporting-enabled": (
        "Only Content-Security-Policy-Report-Only is sent: violations are reported but "
        "nothing is blocked."
    ),
    "csp-implemented-but-duplicate-directives": (
        "The CSP passes but repeats report-uri or report-to; browsers use the first one only."
    ),
    "cookies-secure-with-httponly-sessions-and-samesite": (
        "Every cookie is Secure, session cookies are HttpOnly and all set SameSite."
    ),
    "cookies-secure-with-httponly-sessions": (
        "Cookies are Secure and session cookies HttpOnly, but some lack SameSite."
    ),
    "cookies-not-found": "The site sets no cookies.",
    "cookies-without-secure-flag-but-protected-by-hsts": (
        "Some cookies lack the Secure flag; HSTS keeps them off plain HTTP for now."
    ),
    "cookies-session-without-secure-flag-but-protected-by-hsts": (
        "A session cookie lacks the Secure flag; only HSTS keeps it off plain HTTP."
    ),
    "cookies-without-secure-flag": (
        "Cookies are set without the Secure flag (or over HTTP) and can leak over plain HTTP."
    ),
    "cookies-samesite-flag-invalid": (
        "A cookie's SameSite value is not Strict, Lax or None, or it is None without Secure."
    ),
    "cookies-anticsrf-without-samesite-flag": (
        "An anti-CSRF cookie is set without SameSite, which weakens the CSRF protection."
    ),
    "cookies-session-without-httponly-flag": (
        "A session cookie lacks HttpOnly: any injected script can read and steal it."
    ),
    "cookies-session-without-secure-flag": (
        "A session cookie lacks the Secure flag and there is no HSTS: it can be stolen over "
        "plain HTTP."
    ),
    "cross-origin-resource-sharing-not-implemented": (
        "The page is not shared with other origins through CORS."
    ),
    "cross-origin-resource-sharing-implemented-with-public-access": (
        "Access-Control-Allow-Origin: * shares the page publicly, without credentials."
    ),
    "cross-origin-resource-sharing-implemented-with-restricted-access": (
        "CORS shares the page with specific origins only."
    ),
    "cross-origin-resource-sharing-implemented-with-universal-access": (
        "Any origin may read the page with the user's credentials: a CSRF-style data leak."
    ),
    "redirection-all-redirects-preloaded": "Every host in the redirect chain is HSTS-preloaded.",
    "redirection-to-https": "HTTP redirects first to HTTPS on the same host and ends on HTTPS.",
    "redirection-not-needed-no-http": "The site does not answer on plain HTTP at all.",
    "redirection-off-host-from-http": (
        "HTTP redirects to HTTPS on another host, so the typed host never gets HSTS."
    ),
    "redirection-not-to-https-on-initial-redirection": (
        "HTTP first redirects to another HTTP URL before reaching HTTPS."
    ),
    "redirection-not-to-https": "The HTTP redirect chain does not end on HTTPS.",
    "redirection-missing": "Plain HTTP serves the page instead of redirecting to HTTPS.",
    "redirection-invalid-cert": (
        "The HTTP redirect leads to HTTPS with a certificate that is not trusted."
    ),
    "referrer-policy-private": "Referrer-Policy keeps full URLs from leaking to other sites.",
    "referrer-policy-not-implemented": (
        "No Referrer-Policy: the browser default (strict-origin-when-cross-origin) applies."
    ),
    "referrer-policy-unsafe": (
        "Referrer-Policy sends full URLs or origins to other sites (unsafe-url, origin, …)."
    ),
    "referrer-policy-header-invalid": "Referrer-Policy holds no value a browser recognizes.",
    "hsts-preloaded": "The host is on the browsers' HSTS preload list.",
    "hsts-implemented-max-age-at-least-six-months": (
        "Strict-Transport-Security is set for at least six months."
    ),
    "hsts-implemented-max-age-less-than-six-months": (
        "Strict-Transport-Security's max-age is under six months (15552000 s)."
    ),
    "hsts-not-implemented": (
        "No Strict-Transport-Security: a network attacker can downgrade visits to HTTP."
    ),
    "hsts-header-invalid": (
        "Strict-Transport-Security cannot be parsed (sent twice or without max-age)."
    ),
    "hsts-not-implemented-no-https": "The site does not answer over HTTPS, so HSTS is impossible.",
    "hsts-invalid-cert": "The HTTPS certificate is not trusted, so browsers ignore HSTS.",
    "sri-implemented-and-all-scripts-loaded-securely": (
        "Scripts carry integrity hashes and load over HTTPS."
    ),
    "sri-implemented-and-external-scripts-loaded-securely": (
        "Third-party scripts carry integrity hashes and load over HTTPS."
    ),
    "sri-not-implemented-response-not-html": "The page is not HTML; SRI does not apply.",
    "sri-not-implemented-but-no-scripts-loaded": "The page loads no scripts.",
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": (
        "Scripts come from the site itself, so SRI is not needed."
    ),
    "sri-not-implemented-but-external-scripts-loaded-securely": (
        "Third-party scripts load over HTTPS without integrity hashes: a compromised CDN "
        "can change them."
    ),
    "sri-implemented-but-external-scripts-not-loaded-securely": (
        "Third-party scripts have integrity hashes but load over HTTP or a protocol-relative URL."
    ),
    "sri-not-implemented-and-external-scripts-not-loaded-securely": (
        "Third-party scripts load over HTTP (or protocol-relative URLs) without integrity "
        "hashes: anyone on the network can replace them."
    ),
    "x-content-type-options-nosniff": "X-Content-Type-Options: nosniff is set.",
    "x-content-type-options-not-implemented": (
        "No X-Content-Type-Options: browsers may guess a file's type and run it as script."
    ),
    "x-content-type-options-header-invalid": "X-Content-Type-Options is not exactly 'nosniff'.",
    "x-frame-options-implemented-via-csp": "CSP frame-ancestors controls who may frame the page.",
    "x-frame-options-sameorigin-or-deny": "X-Frame-Options is SAMEORIGIN or DENY.",
    "x-frame-options-allow-from-origin": (
        "X-Frame-Options uses ALLOW-FROM, which current browsers ignore."
    ),
    "x-frame-options-not-implemented": (
        "Nothing stops other sites from framing the page (clickjacking)."
    ),
    "x-frame-options-header-invalid": (
        "X-Frame-Options is not DENY or SAMEORIGIN (or is sent twice), so it is ignored."
    ),
    "corp-implemented-with-same-origin": "Cross-Origin-Resource-Policy: same-origin is set.",
    "corp-implemented-with-same-site": "Cross-Origin-Resource-Policy: same-site is set.",
    "corp-implemented-with-cross-origin": (
        "Cross-Origin-Resource-Policy: cross-origin lets any site embed the response."
    ),
    "corp-not-implemented": "No Cross-Origin-Resource-Policy (optional).",
    "corp-header-invalid": "Cross-Origin-Resource-Policy holds an unknown value and is ignored.",
    "html-not-parseable": "The page claims to be HTML but cannot be parsed.",
}

# test → how to fix a failing or penalized result.
FIX: dict[str, str] = {
    "content-security-policy": (
        "Send a Content-Security-Policy without 'unsafe-inline'/'unsafe-eval' in script-src, "
        "with object-src and script-src restricted (nonces or hashes for inline code), and "
        "no http: sources. " + _entry("Content-Security-Policy")
    ),
    "cookies": (
        "Set every cookie with Secure, session cookies (names with 'sess' or 'login') with "
        "HttpOnly, and all with SameSite=Lax or Strict; set up HSTS."
    ),
    "cross-origin-resource-sharing": (
        "Allow only the origins that need credentialed access instead of echoing Origin; "
        "for public data use Access-Control-Allow-Origin: * without credentials."
    ),
    "redirection": (
        "Redirect http:// to https:// on the same host first (301 or 308), then to any other "
        "host, and serve a certificate browsers trust."
    ),
    "referrer-policy": _entry("Referrer-Policy"),
    "strict-transport-security": (
        "Serve HTTPS with a trusted certificate and send Strict-Transport-Security with "
        "max-age of at least 15552000 s (the seed uses two years). "
        + _entry("Strict-Transport-Security")
    ),
    "subresource-integrity": (
        'Load third-party scripts over https:// with integrity="sha384-…" and '
        'crossorigin="anonymous", or host them yourself.'
    ),
    "x-content-type-options": _entry("X-Content-Type-Options"),
    "x-frame-options": (
        "Send X-Frame-Options: SAMEORIGIN (or DENY) or CSP frame-ancestors. "
        + _entry("X-Frame-Options")
    ),
    "cross-origin-resource-policy": (
        "Use Cross-Origin-Resource-Policy: same-origin or same-site (or cross-origin for "
        "resources meant for embedding)."
    ),
}


def why(result: str) -> str:
    return WHY.get(result, result.replace("-", " "))


def fix(test: str) -> str:
    return FIX.get(test, "")
