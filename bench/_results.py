"""How every benchmark ends: raw figures to ``bench/results/``, the table to stdout; and how
it stops when interrupted (SIGTERM and Ctrl-C unwind through its clean-up)."""

from __future__ import annotations

import json
import os
import platform
import signal
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
