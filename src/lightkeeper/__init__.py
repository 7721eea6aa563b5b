"""Lightkeeper: one process that watches, decides, tells, protects, gates and audits."""

__version__ = "0.1.0"
