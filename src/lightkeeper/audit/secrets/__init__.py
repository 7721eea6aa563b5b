"""Secret scanning: committed credentials in files and in git history.

``scan_paths`` scans a tree, ``scan_history`` the lines every commit added; both return a
:class:`lightkeeper.audit.findings.Report` of ``kind="secret"`` findings whose properties
hold a redacted ``preview`` (and, from history, ``commit``, ``author``, ``email``,
``date``). ``scan_secrets`` is the ``lightkeeper scan secrets`` command as a function.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightkeeper.audit.secrets.baseline import BaselineError, read_baseline, write_baseline
    from lightkeeper.audit.secrets.commands import scan_secrets
    from lightkeeper.audit.secrets.config import SecretsAllow
    from lightkeeper.audit.secrets.history import scan_history
    from lightkeeper.audit.secrets.options import DEFAULT_SKIP_DIRS, MAX_FILE_SIZE, SecretOptions
    from lightkeeper.audit.secrets.rules import RULES
    from lightkeeper.audit.secrets.scanner import ScanError, scan_paths

# Loaded on first use (PEP 562): the config imports ``SecretsAllow`` from this package for
# every command, and the detectors, history reader and scanner are not needed for that.
_WHERE = {
    "BaselineError": "baseline",
    "read_baseline": "baseline",
    "write_baseline": "baseline",
    "scan_secrets": "commands",
    "SecretsAllow": "config",
    "scan_history": "history",
    "DEFAULT_SKIP_DIRS": "options",
    "MAX_FILE_SIZE": "options",
    "SecretOptions": "options",
    "RULES": "rules",
    "ScanError": "scanner",
    "scan_paths": "scanner",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DEFAULT_SKIP_DIRS",
    "MAX_FILE_SIZE",
    "RULES",
    "BaselineError",
    "ScanError",
    "SecretOptions",
    "SecretsAllow",
    "read_baseline",
    "scan_history",
    "scan_paths",
    "scan_secrets",
    "write_baseline",
]
