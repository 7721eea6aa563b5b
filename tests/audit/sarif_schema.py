"""The SARIF 2.1.0 JSON schema, for tests that check what we emit.

The schema (OASIS SARIF 2.1.0, the "rtm.5" revision that GitHub code scanning validates
uploads against) is not vendored here: it ships inside the npm package
``@microsoft/jest-sarif`` (MIT), which ``npm pack`` fetches from the npm registry once into a
cache directory. The package's integrity hash is checked, so a changed upload is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

PACKAGE = "@microsoft/jest-sarif@1.0.0-beta.0"
INTEGRITY = "sha512-A1fOhPd6Ic5iDk4F9YPw1qNB4XF+7+IviR7xl8r2F6QzQkx5cpY9LsGk2rExiFIEcBbjpVnSmwWGBukASkiQ9A=="
MEMBER = "package/lib/schemas/sarif-2.1.0-rtm.5.json"
CACHE = Path.home() / ".cache" / "lightkeeper-tests" / "sarif"


def load_schema() -> dict[str, Any]:
    target = CACHE / "sarif-2.1.0-rtm.5.json"
    if not target.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to fetch the SARIF schema (scripts/test installs it)")
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "pack", PACKAGE, "--silent", "--pack-destination", str(CACHE)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-500:]}")
        tgz = CACHE / done.stdout.strip().splitlines()[-1]
        digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
        if f"sha512-{digest}" != INTEGRITY:
            pytest.fail(f"{tgz.name}: integrity mismatch (got sha512-{digest})")
        with tarfile.open(tgz) as tar:
            member = tar.extractfile(MEMBER)
            assert member is not None, f"{MEMBER} not in {tgz.name}"
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(member.read())
            tmp.replace(target)
        tgz.unlink()
    schema: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return schema


def validate(log: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (with the path) when ``log`` is not valid SARIF 2.1.0."""
    import jsonschema

    jsonschema.Draft4Validator(load_schema()).validate(log)
