"""Tests for lightkeeper.probes: one module per probe kind, against real servers."""
