"""The packages the secret benchmark's corpus is made of: which (pinned), how each is fetched
(its ecosystem's own client, once) and extracted, and the credential material they ship
themselves, reviewed by hand (``REVIEWED_FIXTURES``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

CACHE = Path.home() / ".cache" / "lightkeeper-bench" / "secrets"

# Pinned: pure-source sdists from PyPI (tests, docs and config included) and npm tarballs.
PACKAGES: list[tuple[str, str, str]] = [
    ("pypi", "Django", "5.1.4"),
    ("pypi", "requests", "2.32.3"),
    ("pypi", "Flask", "3.1.0"),
    ("pypi", "SQLAlchemy", "2.0.36"),
    ("pypi", "boto3", "1.35.90"),
    ("pypi", "botocore", "1.35.90"),
    ("pypi", "celery", "5.4.0"),
    ("pypi", "sentry-sdk", "2.19.2"),
    ("pypi", "PyJWT", "2.10.1"),
    ("pypi", "ansible-core", "2.18.1"),
    ("pypi", "httpx", "0.28.1"),
    ("npm", "lodash", "4.17.21"),
    ("npm", "express", "4.21.2"),
    ("npm", "react-dom", "18.3.1"),
    ("npm", "typescript", "5.7.2"),
    ("npm", "axios", "1.7.9"),
    ("npm", "webpack", "5.97.1"),
    ("npm", "eslint", "9.17.0"),
    ("npm", "stripe", "17.5.0"),
    ("npm", "moment", "2.30.1"),
    ("npm", "prettier", "3.4.2"),
]

# Real credential material the packages ship (test and documentation fixtures), reviewed by
# hand: every PEM/PGP private-key block and every signed JWT found in the 21 pristine trees
# by searching every eligible file for private-key headers, JWTs and the token formats of
# _secrets_kinds.py (bench/README.md, `secrets.py`, says how),
# plus one GitLab deploy token in a URL. A finding on one of these pristine lines is neither
# a true nor a false positive (whether a scanner should report a library's test key is a
# policy question) and is counted apart. Not listed, so counted as false positives when
# reported: AWS's documented EXAMPLE keys, `user:password@` / `guest:guest@` / `scott:tiger@`
# URLs in docs, and botocore's DSA key header around "<a very long private key>".
# (tree, path, first line, last line) of the pristine file -> why.
_PEM = "private key (PEM) shipped as a test or example fixture"
_DOC_PEM = "private key (PEM, one escaped line) in PyJWT's usage docs"
_JWT = "signed JWT in PyJWT's docs or tests (HS256/RS256/ES256 examples)"
REVIEWED_FIXTURES: dict[tuple[str, str, int, int], str] = {
    (
        "ansible-core-2.18.1",
        "test/integration/targets/git/vars/main.yml",
        51,
        81,
    ): "PGP private key block for git signing tests",
    ("ansible-core-2.18.1", "test/units/module_utils/urls/fixtures/client.key", 1, 28): _PEM,
    (
        "ansible-core-2.18.1",
        "test/units/galaxy/test_role_requirements.py",
        74,
        75,
    ): "GitLab deploy token in a git URL (role requirement tests)",
    (
        "ansible-core-2.18.1",
        "test/units/galaxy/test_role_requirements.py",
        82,
        83,
    ): "GitLab deploy token in a git URL (role requirement tests)",
    (
        "botocore-1.35.90",
        "tests/unit/response_parsing/xml/responses/ec2-create-key-pair.json",
        2,
        2,
    ): "canned EC2 CreateKeyPair response with key material",
    (
        "botocore-1.35.90",
        "tests/unit/response_parsing/xml/responses/ec2-create-key-pair.xml",
        5,
        20,
    ): "canned EC2 CreateKeyPair response with key material",
    ("celery-5.4.0", "examples/security/ssl/worker.key", 1, 51): _PEM,
    ("celery-5.4.0", "t/unit/security/__init__.py", 9, 23): _PEM,
    ("celery-5.4.0", "t/unit/security/__init__.py", 25, 42): _PEM + " (encrypted)",
    ("celery-5.4.0", "t/unit/security/__init__.py", 44, 58): _PEM,
    ("celery-5.4.0", "t/unit/security/__init__.py", 60, 77): _PEM + " (encrypted)",
    ("celery-5.4.0", "t/unit/security/__init__.py", 133, 137): _PEM,
    ("pyjwt-2.10.1", "docs/usage.rst", 23, 23): _DOC_PEM,
    ("pyjwt-2.10.1", "docs/usage.rst", 36, 36): _DOC_PEM,
    ("pyjwt-2.10.1", "docs/usage.rst", 56, 56): _DOC_PEM,
    ("pyjwt-2.10.1", "docs/usage.rst", 70, 70): _DOC_PEM,
    ("pyjwt-2.10.1", "docs/usage.rst", 84, 84): _DOC_PEM,
    ("pyjwt-2.10.1", "tests/keys/testkey_ec.priv", 1, 5): _PEM,
    ("pyjwt-2.10.1", "tests/keys/testkey_ec_secp192r1.priv", 1, 5): _PEM,
    ("pyjwt-2.10.1", "tests/keys/testkey_ed25519", 1, 3): _PEM,
    ("pyjwt-2.10.1", "tests/keys/testkey_rsa.priv", 1, 27): _PEM,
    ("pyjwt-2.10.1", "tests/test_advisory.py", 9, 11): _PEM,
    ("pyjwt-2.10.1", "tests/test_advisory.py", 17, 21): _PEM,
    ("pyjwt-2.10.1", "CHANGELOG.rst", 407, 407): _JWT,
    ("pyjwt-2.10.1", "PKG-INFO", 89, 89): _JWT,
    ("pyjwt-2.10.1", "PyJWT.egg-info/PKG-INFO", 89, 89): _JWT,
    ("pyjwt-2.10.1", "README.rst", 46, 46): _JWT,
    ("pyjwt-2.10.1", "docs/algorithms.rst", 47, 47): _JWT,
    ("pyjwt-2.10.1", "docs/usage.rst", 102, 102): _JWT,
    ("pyjwt-2.10.1", "docs/usage.rst", 351, 351): _JWT,
    ("pyjwt-2.10.1", "tests/test_advisory.py", 48, 48): _JWT,
    ("pyjwt-2.10.1", "tests/test_advisory.py", 52, 52): _JWT,
    ("pyjwt-2.10.1", "tests/test_advisory.py", 100, 100): _JWT,
    ("pyjwt-2.10.1", "tests/test_advisory.py", 104, 104): _JWT,
    ("pyjwt-2.10.1", "tests/test_jwks_client.py", 197, 197): _JWT,
    ("pyjwt-2.10.1", "tests/test_jwks_client.py", 288, 288): _JWT,
    **{
        ("requests-2.32.3", f"tests/certs/{name}", 1, 28): _PEM
        for name in (
            "expired/ca/ca-private.key",
            "expired/server/server.key",
            "mtls/client/ca/ca-private.key",
            "mtls/client/client.key",
            "valid/ca/ca-private.key",
            "valid/server/server.key",
        )
    },
}


def reviewed_fixture(tree: str, path: str, line: int) -> str | None:
    """Why pristine ``line`` of ``tree/path`` is on the reviewed list, or None."""
    for (t, p, first, last), why in REVIEWED_FIXTURES.items():
        if t == tree and p == path and first <= line <= last:
            return why
    return None


class CorpusError(RuntimeError):
    """Something the corpus needs cannot be had (a download failed, a tool is missing)."""


# -- fetching ----------------------------------------------------------------------------------


def tree_name(name: str, version: str) -> str:
    return f"{name.lower()}-{version}"


def fetch(ecosystem: str, name: str, version: str, pip: Path) -> Path:
    """The package's archive in downloads/, fetched once with the ecosystem's own client."""
    downloads = CACHE / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    found = archive_in(downloads, name, version)
    if found is not None:
        return found
    if ecosystem == "pypi":
        cmd = [
            str(pip),
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "-d",
            str(downloads),
            f"{name}=={version}",
        ]
    else:
        cmd = ["npm", "pack", "--silent", "--pack-destination", str(downloads), f"{name}@{version}"]
    print(f"fetching {name} {version} from {ecosystem} (once)", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    found = archive_in(downloads, name, version)
    if done.returncode != 0 or found is None:
        raise CorpusError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-800:]}")
    return found


def archive_in(downloads: Path, name: str, version: str) -> Path | None:
    """The archive of name==version in ``downloads``, matched as PEP 503 normalises names
    (pip writes ``ansible_core-2.18.1.tar.gz``, npm ``lodash-4.17.21.tgz``)."""
    want = normalise(f"{name}-{version}")
    for path in sorted(downloads.iterdir()):
        stem = path.name
        for suffix in (".tar.gz", ".tgz"):
            if stem.endswith(suffix) and normalise(stem[: -len(suffix)]) == want:
                return path
    return None


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def extract(archive: Path, dest: Path) -> None:
    """Extract with the top directory stripped; tar members that leave ``dest`` or are links
    are refused (tarfile's "data" filter)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(archive) as tf:
        tf.extractall(tmp, filter="data")
    tops = list(tmp.iterdir())
    root = tops[0] if len(tops) == 1 and tops[0].is_dir() else tmp
    shutil.rmtree(dest, ignore_errors=True)
    root.rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)


def pristine_trees(pip: Path) -> dict[str, Path]:
    trees = CACHE / "trees"
    trees.mkdir(parents=True, exist_ok=True)
    out = {}
    for ecosystem, name, version in PACKAGES:
        dest = trees / tree_name(name, version)
        if not dest.is_dir():
            extract(fetch(ecosystem, name, version, pip), dest)
        out[tree_name(name, version)] = dest
    return out
