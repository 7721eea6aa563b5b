"""One process decides: with several Lightkeeper processes on one PostgreSQL store, the
one holding an advisory lock evaluates rules and sends digests; the others stand by.

The lock (``pg_try_advisory_lock``) lives on a connection held for as long as the process
leads, so when the leader dies its connection closes, the lock goes with it, and another
process takes over at its next attempt. With SQLite there is one process: it leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text

from lightkeeper.store import Store
from lightkeeper.store.engine import describe_store_error

log = logging.getLogger(__name__)

LOCK_KEY = 0x4C4B_4445  # "LKDE": Lightkeeper deciding


class Leadership:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Connection | None = None

    @property
    def shared(self) -> bool:
        return self.store.dialect == "postgresql"

    def check(self) -> bool:
        """Whether this process leads now; tries to become leader if nobody does (blocking)."""
        if not self.shared:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # the connection, and with it the lock, is gone
                log.warning("lost the lead (store connection: %s)", describe_store_error(exc))
                self._drop()
                return False
        conn: Connection | None = None
        try:
            conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
            if got.scalar():
                self._conn = conn
                log.info("this process now decides (evaluates rules, sends digests)")
                return True
        except Exception as exc:  # the store is away: nobody can decide anyway
            log.debug("cannot try the lead: %s", describe_store_error(exc))
        if conn is not None:
            conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            except Exception as exc:  # closing the connection frees the lock anyway
                log.debug("unlock failed: %s", describe_store_error(exc))
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception as exc:  # it is broken already; nothing more to free
                log.debug("closing the lead connection: %s", describe_store_error(exc))
            self._conn = None
