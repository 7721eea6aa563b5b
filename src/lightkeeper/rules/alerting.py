"""The decide-and-tell loop: evaluate rules, route, and write what to send — then send.

Each tick evaluates every rule over the signals already written, routes the alerts that
fired or resolved, and writes the changed alerts, the notification groups and the outbox
rows of the messages due in ONE transaction; only then is the outbox woken to deliver
them. A crash at any point loses nothing and sends nothing twice: either the transaction
committed (and the outbox delivers it after a restart) or it did not (and the restarted
engine, reloaded from the store, decides the same again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lightkeeper.clock import Clock
from lightkeeper.incidents.service import Incidents
from lightkeeper.rules.engine import Alert, AlertState, Engine, Transition
from lightkeeper.rules.messages import Renderer
from lightkeeper.rules.mute import Muter, Silence, parse_matcher
from lightkeeper.rules.router import Router
from lightkeeper.rules.signals import SignalStore
from lightkeeper.store import Store
from lightkeeper.store import alerting as db
from lightkeeper.store.leader import Leadership

if TYPE_CHECKING:
    from lightkeeper.config import LightkeeperConfig
    from lightkeeper.notify.outbox import Outbox

log = logging.getLogger(__name__)

#: How often a process that does not lead reloads the leader's alerts, for its API.
FOLLOW_EVERY = 5.0

#: Minutes are kept this much longer than the longest rule window, for late samples.
SLACK = 120.0


class Alerting:
    def __init__(
        self, config: LightkeeperConfig, store: Store, clock: Clock, outbox: Outbox | None
    ) -> None:
        self.store = store
        self.clock = clock
        self.outbox = outbox
        self.engine = Engine(list(config.alerts), SignalStore())
        self.signals = SignalStore(
            keep=self.engine.lookback() + SLACK, names=self.engine.signal_names()
        )
        self.engine.signals = self.signals
        self.router = Router(config.routing)
        self.muter = Muter(config.inhibit, config.maintenance)
        public = config.base_url()
        self.renderer = Renderer(public)
        self.incidents = Incidents(config.oncall, config.incidents, public)
        self._series_ids: dict[str, int] = {}
        self.leadership = Leadership(store)
        self.leading = False
        self._followed: float | None = None
        self.last_tick: float | None = None
        self.tick_seconds: float | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.engine.rules)

    # loading --------------------------------------------------------------------------

    def open(self) -> None:
        """Load signal minutes, active alerts, groups and silences (blocking)."""
        now = self.clock.now()
        with self.store.engine.connect() as conn:
            if self.signals.names:
                self.signals.restore(
                    db.load_minutes(conn, now - self.signals.keep, self.signals.names)
                )
            self._reload(conn, now)

    def _reload(self, conn: Any, now: float) -> None:
        active = db.load_alerts(conn)
        self.engine.restore(active)
        self.router.groups.clear()
        self.router.restore(db.load_groups(conn), {a.fingerprint: a for a in active})
        self.muter.silences = [
            Silence(
                s["id"],
                tuple(parse_matcher(m) for m in s["matchers"]),
                s["starts_at"],
                s["ends_at"],
                s["author"],
                s["comment"],
            )
            for s in db.load_silences(conn, now)
        ]
        self.incidents.restore(conn, [a for a in active if a.state is AlertState.FIRING])

    # writing signals (called inside the result writer's transaction) -----------------

    def write_minutes(self, conn: Any) -> None:
        rows = self.signals.take_dirty()
        try:
            db.write_minutes(conn, rows, self._series_ids)
        except Exception:
            self.signals.undo_take(rows)
            self._series_ids.clear()  # ids of a rolled-back insert are not real
            raise

    # deciding -------------------------------------------------------------------------

    async def tick(self) -> None:
        """One evaluation; its decisions are committed before anything is sent.

        Only the leading process decides (see store/leader.py); one that takes the lead
        first reloads alerts, groups and incidents, which the previous leader changed.
        """
        now = self.clock.now()
        started = time.perf_counter()
        was_leading = self.leading
        self.leading = await asyncio.to_thread(self.leadership.check)
        if not self.leading:
            # A process that stands by still shows alerts: the leader's, from the store.
            if now - (self._followed or 0.0) >= FOLLOW_EVERY:
                await asyncio.to_thread(self._reload_now, now)
                self._followed = now
            self.signals.prune(now)
            return
        if not was_leading:
            await asyncio.to_thread(self._reload_now, now)
        changed, transitions = self.engine.evaluate(now)
        for transition in transitions:
            self.router.observe(transition.alert, now)
        firing = [a for a in self.engine.active() if a.state is AlertState.FIRING]

        def muted(alert: Alert) -> str | None:
            return self.muter.why_muted(alert, firing, now)

        messages, groups, finished = self.router.flush(now, muted)
        notifications = [n for m in messages for n in self.renderer.render(m)]
        paging = bool(transitions) or self.incidents.due(now, muted)
        if changed or groups or finished or notifications or paging:
            try:
                sent = await asyncio.to_thread(
                    self._commit, changed, groups, finished, notifications, now, transitions, muted
                )
            except Exception:
                # Forget what was decided but not written; the next tick decides it again.
                await asyncio.to_thread(self._reload_now, now)
                raise
            for t in transitions:
                log.info(
                    "alert %s %s %s value=%s threshold=%s",
                    t.alert.rule,
                    t.kind,
                    t.alert.labels,
                    t.alert.value,
                    t.alert.threshold,
                )
            if sent and self.outbox is not None:
                self.outbox.wake()
        self.signals.prune(now)
        self.last_tick = now
        self.tick_seconds = time.perf_counter() - started

    def _commit(
        self,
        changed: list[Alert],
        groups: list[Any],
        finished: list[str],
        notifications: list[Any],
        now: float,
        transitions: list[Transition],
        muted: Callable[[Alert], str | None],
    ) -> int:
        with self.store.engine.begin() as conn:
            db.write_alerts(conn, changed)
            db.write_groups(conn, groups, finished)
            # Incidents and their pages commit with the alert changes that caused them.
            notifications = notifications + self.incidents.on_transitions(
                conn, transitions, now, muted
            )
            if self.incidents.due(now, muted):
                notifications += self.incidents.tick(conn, now, muted)
            if notifications:
                if self.outbox is None:
                    raise RuntimeError("notifications to send but no outbox")
                self.outbox.add(conn, notifications, now)
        return len(notifications)

    def _reload_now(self, now: float) -> None:
        with self.store.engine.connect() as conn:
            self._reload(conn, now)

    # silences -------------------------------------------------------------------------

    def add_silence(
        self, matchers: list[str], starts_at: float, ends_at: float, author: str, comment: str
    ) -> int:
        parsed = tuple(parse_matcher(m) for m in matchers)  # raises ValueError on a bad one
        with self.store.engine.begin() as conn:
            silence_id = db.add_silence(
                conn, matchers, starts_at, ends_at, author, comment, self.clock.now()
            )
        self.muter.silences.append(Silence(silence_id, parsed, starts_at, ends_at, author, comment))
        return silence_id

    def expire_silence(self, silence_id: int) -> bool:
        now = self.clock.now()
        with self.store.engine.begin() as conn:
            done = db.expire_silence(conn, silence_id, now)
        self.muter.silences = [s for s in self.muter.silences if s.id != silence_id]
        return done
