"""The error of the backup package: a backup that could not be made, read or checked."""

from __future__ import annotations

from lightkeeper.errors import LightkeeperError


class BackupError(LightkeeperError):
    """A backup could not be made, read or checked; the message names the file and the fix."""
