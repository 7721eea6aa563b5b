"""Deciding: signals and their minute rollups, rule expressions, alerts, routing."""
