"""Tests for lightkeeper.notify: the outbox, Apprise delivery and `lightkeeper notify`, against
real receivers on 127.0.0.1 (a JSON webhook, aiosmtpd) and both stores."""
