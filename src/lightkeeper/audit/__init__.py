"""Audits: committed secrets (`scan secrets`), HTTP security headers (`audit headers`) and
vulnerable dependencies (`audit deps`). Each produces a :class:`~lightkeeper.audit.findings.Report`
of findings, written as text, JSON or SARIF 2.1.0, and, run on a schedule inside
`lightkeeper up`, counted into the signal ``audit.findings`` by kind and severity."""
