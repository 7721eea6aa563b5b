"""The real Mozilla HTTP Observatory as a test oracle.

``@mdn/mdn-http-observatory`` 1.4.8 (algorithm 4, the newest release on the npm registry
here) is installed once with ``npm install --ignore-scripts`` into
``~/.cache/lightkeeper-tests/observatory-1.4.8`` (about 130 MB, ~15 s the first time). Its
``--ignore-scripts`` install lacks ``conf/hsts-preload.json`` (``src/analyzer/hsts.js`` reads
it from the package root); we write one that preloads only ``localhost``, so the preload
outcomes can be produced on loopback and every other host is not preloaded.

The package's CLI (``src/scan.js`` → ``scan(hostname)``) drops the ``httpPort``/``httpsPort``
options on its way to ``retrieve()``, so the driver below calls ``retrieve(host, {httpPort,
httpsPort, path})`` itself, runs the package's ``ALL_TESTS`` and modifiers, and adds them up
the way ``src/scanner/index.js`` does (bonuses only when the score without them is ≥ 90),
grading with the package's own ``getGradeForScore``. All scenarios run in one Node process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

VERSION = "1.4.8"
PACKAGE = f"@mdn/mdn-http-observatory@{VERSION}"
CACHE = Path.home() / ".cache" / "lightkeeper-tests" / f"observatory-{VERSION}"
ROOT = CACHE / "node_modules" / "@mdn" / "mdn-http-observatory"
PRELOADED = {"localhost": {"includeSubDomains": False, "mode": "force-https", "pinned": False,
                           "includeSubDomainsForPinning": False}}  # fmt: skip

DRIVER = """\
import { readFileSync } from "node:fs";
import { retrieve } from "./node_modules/@mdn/mdn-http-observatory/src/retriever/retriever.js";
import { ALL_TESTS } from "./node_modules/@mdn/mdn-http-observatory/src/constants.js";
import { getGradeForScore, getScoreModifier }
  from "./node_modules/@mdn/mdn-http-observatory/src/grader/grader.js";
import { MINIMUM_SCORE_FOR_EXTRA_CREDIT }
  from "./node_modules/@mdn/mdn-http-observatory/src/grader/charts.js";

const cases = JSON.parse(readFileSync(0, "utf8"));
const out = {};
await Promise.all(cases.map(async (c) => {
  try {
    const r = await retrieve(c.host, {
      httpPort: String(c.httpPort), httpsPort: String(c.httpsPort), path: c.path,
    });
    if (!r.responses.auto) { out[c.name] = { error: "The site seems to be down." }; return; }
    const tests = {};
    let withBonus = 100, uncurved = 100;
    for (const test of ALL_TESTS) {
      const o = test(r);
      const m = getScoreModifier(o.result);
      tests[o.constructor.name] = { result: o.result, pass: o.pass, modifier: m };
      withBonus += m;
      if (m < 0) uncurved += m;
    }
    const g = getGradeForScore(uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT ? withBonus : uncurved);
    out[c.name] = { tests, score: g.score, grade: g.grade };
  } catch (e) {
    out[c.name] = { error: String(e) };
  }
}));
process.stdout.write(JSON.stringify(out));
"""


def install() -> Path:
    """The package directory, installed on first use; skips when npm/node are missing."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip(
            "npm and node are needed for the Observatory oracle (scripts/test installs them)"
        )
    if not (ROOT / "package.json").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix",
             str(CACHE), PACKAGE],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"npm install {PACKAGE} failed: {done.stderr.strip()[-800:]}")
    (ROOT / "conf" / "hsts-preload.json").write_text(json.dumps(PRELOADED))
    (CACHE / "lightkeeper-oracle.mjs").write_text(DRIVER)
    return ROOT


def scan(cases: list[dict[str, Any]], ca_file: Path) -> dict[str, Any]:
    """Scan every case ({name, host, httpPort, httpsPort, path}) with the Observatory,
    trusting ``ca_file`` the way its wrapper trusts extra CAs (NODE_EXTRA_CA_CERTS)."""
    install()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(Path.home()),
           "NODE_EXTRA_CA_CERTS": str(ca_file)}  # fmt: skip
    done = subprocess.run(
        [shutil.which("node") or "node", "lightkeeper-oracle.mjs"],
        cwd=CACHE, input=json.dumps(cases), capture_output=True, text=True, timeout=120,
        env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"the Observatory driver failed: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_script(source: str, argument: Any) -> Any:
    """Run an ES module ``source`` inside the package directory (so it can import the
    package's modules and its dependencies) with ``argument`` as JSON in argv[2]; its
    stdout parsed as JSON."""
    root = install()
    script = root / "lightkeeper-check.mjs"
    script.write_text(source)
    done = subprocess.run(
        [shutil.which("node") or "node", script.name, json.dumps(argument)],
        cwd=root, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"node {script.name} failed: {done.stderr.strip()[-1500:]}")
    return json.loads(done.stdout)
