"""Secrets recognised by their structure rather than a provider prefix: PEM and OpenSSH
private keys, JSON Web Tokens, and database/broker URLs that carry a password.

- Private keys: RFC 7468 textual encoding (``-----BEGIN <label>-----`` … ``-----END
  <label>-----``) with the labels ``RSA PRIVATE KEY`` (PKCS #1), ``EC PRIVATE KEY`` (RFC
  5915), ``DSA PRIVATE KEY``, ``PRIVATE KEY`` (PKCS #8), ``ENCRYPTED PRIVATE KEY``,
  ``OPENSSH PRIVATE KEY`` and ``PGP PRIVATE KEY BLOCK`` (RFC 4880 armor). gitleaks'
  ``private-key`` rule asks for at least 64 characters between the lines; so do we.
- JWT: RFC 7519 compact serialisation, three base64url parts; the header is a JSON object
  with ``alg`` (RFC 7515 §4.1.1), so it always starts ``eyJ`` (base64 of ``{"``).
- URLs: RFC 3986 userinfo ``user:password@host`` in PostgreSQL, MySQL/MariaDB, MongoDB
  (incl. ``+srv``), Redis (``redis``/``rediss``) and AMQP connection strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from lightkeeper.audit.findings import Severity
from lightkeeper.audit.secrets.base import STRUCTURE, Candidate, Context, Detector
from lightkeeper.audit.secrets.noise import (
    char_classes,
    entropy,
    is_placeholder,
    is_reference,
)
from lightkeeper.audit.secrets.preview import redact

# --- private keys -------------------------------------------------------------------------

_PEM = re.compile(
    r"-----BEGIN (?P<label>(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?)-----"
    r"(?P<body>[^-]*(?:-(?!----)[^-]*)*)"
    r"-----END (?P=label)-----"
)
_ARMOR_HEADER = re.compile(r"^[A-Za-z\-]+:.*$", re.M)
_NOT_BASE64 = re.compile(r"\\[nrt]|[^A-Za-z0-9+/=]")


def _private_key(m: re.Match[str], ctx: Context) -> Candidate | None:
    label, body = m.group("label"), m.group("body")
    if "..." in body or "…" in body or "xxxx" in body.lower():
        return None
    # Keys pasted into JSON or YAML strings carry literal "\n"; headers (Proc-Type,
    # DEK-Info, Version, Comment) are not key material.
    material = _NOT_BASE64.sub("", _ARMOR_HEADER.sub("", body.replace("\\n", "\n")))
    if len(material) < 64 or len(set(material)) < 20 or entropy(material) < 4.5:
        return None
    encrypted = "ENCRYPTED" in label or "ENCRYPTED" in body[:200]
    # Fingerprint the key material, not its layout: the same key indented in YAML, with
    # CRLF endings or inside a JSON string is the same secret.
    secret = f"{label}:{material}"
    return Candidate(
        "private-key",
        secret,
        m.start(),
        m.end(),
        priority=STRUCTURE,
        preview=f"-----BEGIN {label}-----",
        label="Encrypted private key" if encrypted else None,
        # A passphrase still stands between an encrypted key and its use.
        severity=Severity.HIGH if encrypted else None,
    )


# --- JSON Web Tokens ----------------------------------------------------------------------

_JWT = re.compile(
    r"(?<![A-Za-z0-9_\-.])eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*"
    r"(?![A-Za-z0-9_\-])"
)


def _b64json(part: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _jwt(m: re.Match[str], ctx: Context) -> Candidate | None:
    header_part, payload_part, signature = m.group(0).split(".")
    header = _b64json(header_part)
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    # An unsigned token (alg "none") proves nothing and unlocks nothing.
    if header["alg"].lower() == "none" or len(signature) < 16:
        return None
    payload = _b64json(payload_part)
    if not isinstance(payload, dict):
        return None
    # jwt.io's sample token, copied into countless READMEs and tests.
    if payload.get("sub") == "1234567890" and payload.get("name") == "John Doe":
        return None
    # Supabase's anon key is a JWT with role "anon", published in browser code by design.
    severity = Severity.LOW if payload.get("role") == "anon" else None
    return Candidate("jwt", m.group(0), m.start(), m.end(), severity=severity)


# --- URLs with a password -----------------------------------------------------------------

_URL = re.compile(
    r"(?<![A-Za-z0-9+])(?P<scheme>(?i:postgres(?:ql)?|mysql|mariadb|mongodb|rediss?|amqps?))"
    r"(?P<driver>\+[A-Za-z0-9]+)?://"
    r"(?P<user>[^\s:/@'\"`<>]*):(?P<password>[^\s@'\"`<>/]+)@"
    r"(?P<host>[A-Za-z0-9._\-\[\]%]+(?::\d+)?)"
)
_SCHEME_LABELS = {
    "postgres": "PostgreSQL URL with a password",
    "postgresql": "PostgreSQL URL with a password",
    "mysql": "MySQL URL with a password",
    "mariadb": "MariaDB URL with a password",
    "mongodb": "MongoDB URL with a password",
    "redis": "Redis URL with a password",
    "rediss": "Redis URL with a password",
    "amqp": "AMQP URL with a password",
    "amqps": "AMQP URL with a password",
}
# Defaults from docker-compose files, tutorials and CI services: they open nothing real.
_DEFAULT_PASSWORDS = frozenset(
    [
        "postgres",
        "mysql",
        "mariadb",
        "mongo",
        "mongodb",
        "redis",
        "guest",
        "root",
        "pass",
        "user",
        "dev",
        "local",
        "docker",
        "app",
        "secret",
        "password",
    ]
)


def _url(m: re.Match[str], ctx: Context) -> Candidate | None:
    user, password = m.group("user"), m.group("password")
    lowered = password.lower()
    if lowered in _DEFAULT_PASSWORDS or password == user or len(password) < 4:
        return None
    if is_reference(password) or password[0] in "$%{<*" or is_placeholder(password, generic=True):
        return None
    if entropy(password) < 2.5 or (char_classes(password) < 2 and len(password) < 12):
        return None
    scheme = m.group("scheme").lower()
    preview = f"{scheme}://{user}:{redact(password)}@{m.group('host')}"
    return Candidate(
        "database-url",
        password,
        m.start(),
        m.end(),
        priority=STRUCTURE,
        preview=preview,
        label=_SCHEME_LABELS.get(scheme),
    )


DETECTORS: tuple[Detector, ...] = (
    Detector(
        name="private-key",
        keywords=("-----begin ",),
        pattern=_PEM,
        check=_private_key,
    ),
    Detector(
        name="jwt",
        keywords=("eyj",),
        pattern=_JWT,
        check=_jwt,
        scope=lambda kind: not kind.is_lock,
    ),
    Detector(
        name="database-url",
        keywords=("postgres", "mysql", "mariadb", "mongodb", "redis", "amqp"),
        pattern=_URL,
        check=_url,
    ),
)
