"""How every benchmark ends: raw figures to ``bench/results/``, the table to stdout; and how
it stops when interrupted (SIGTERM and Ctrl-C unwind through its clean-up)."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """CPU, Python and the load average before the run, for the report's machine line."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count() or 0,
        "cpu_model": model,
        "python": platform.python_version(),
        "load_before": load_average(),
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def anchor_venv(venv: Path, package: str, version: str) -> Path:
    """A venv holding ``package==version`` (the anchor a benchmark compares with), made once
    and reused while the installed version matches; returns its bin/ directory."""
    bin_dir = venv / "bin"
    if installed_version(venv, package) == version:
        return bin_dir
    log(f"installing {package}=={version} into {venv} (once)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip_log = venv.parent / f"{venv.name}-pip.log"
    pip = [str(bin_dir / "pip"), "install", "--disable-pip-version-check"]
    with pip_log.open("w") as out:
        done = subprocess.run(
            [*pip, f"{package}=={version}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"pip install {package}=={version} failed, see {pip_log}")
    return bin_dir


def installed_version(venv: Path, package: str) -> str | None:
    """``package``'s version in ``venv``, or None (no venv, not installed)."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stop_cleanly() -> None:
    """SIGTERM becomes SystemExit and Ctrl-C KeyboardInterrupt — even when a script started
    us with SIGINT ignored — so the ``finally`` blocks that stop servers and drop databases run."""

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def publish(
    report: dict[str, Any],
    render: Callable[[dict[str, Any]], str],
    name: str,
    as_json: bool = False,
    out: Callable[[str], Any] = print,
) -> Path:
    """Write ``report`` to ``bench/results/<name>-<time>.json``, then print it: as JSON, or
    rendered as the benchmark's table; returns the raw file's path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    raw = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw.write_text(json.dumps(report, indent=2) + "\n")
    if as_json:
        out(json.dumps(report, indent=2))
        log(f"raw figures: {raw}")
    else:
        out("")
        out(render(report))
        out(f"raw figures: {raw}")
    return raw
