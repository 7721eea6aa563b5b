"""Exceptions that carry meaning: where the problem is and what to do about it."""

from __future__ import annotations


class LightkeeperError(Exception):
    """Base class; its message is meant for a person and never holds a secret."""


class ConfigError(LightkeeperError):
    """The configuration is invalid. ``problems`` are ``FILE:LINE:COL: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StoreError(LightkeeperError):
    """The store (SQLite or PostgreSQL) cannot be reached or refused a write."""
