"""Telemetry the app pushes: Sentry envelopes, app events, OpenTelemetry — into signals."""
