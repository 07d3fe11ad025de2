"""Alerts of a running daemon (§11): decide from each leader's status, send to webhooks.

Workers hand over a snapshot after every pass (``observe``: no I/O, never blocks a pass);
this service's own task evaluates the snapshots every ``EVAL_SECONDS`` (or at once when one
arrives) with ``syncd.core.alerting``, opens and clears the alerts in the warehouse, and a
second task delivers the queued messages, each endpoint retried with backoff while it fails.
Only leaders observe their sources, so a source is alerted for by its leader alone; the
warehouse's open set makes each alert start and clear once across restarts and instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import structlog

from syncd import __version__
from syncd.config import AlertsConfig
from syncd.core import alerting
from syncd.core.alerting import Alert, AlertKey, Condition
from syncd.core.backoff import Backoff
from syncd.core.errors import WarehouseError
from syncd.core.statusdoc import OpenDoc, SourceDoc
from syncd.credentials.lookup import Secret
from syncd.service import waits
from syncd.warehouse import alerts as store
from syncd.warehouse import db

log = structlog.get_logger("syncd.alerts")

EVAL_SECONDS = 10.0
SEND_SECONDS = 5.0  # how often undelivered messages are looked at, besides each new one
TIMEOUT_SECONDS = 10.0
RETRY = Backoff(initial=1.0, maximum=300.0)
DEAD_AFTER = 10.0  # as syncd.service.membership.DEAD_AFTER


def endpoint_id(url: Secret) -> str:
    """How the warehouse names an endpoint: a hash, never the URL (it is a secret)."""
    return hashlib.sha256(url.reveal().encode()).hexdigest()[:16]


def endpoint_label(url: Secret) -> str:
    """What logs and answers show: scheme and host only (the path is the token)."""
    parts = urlsplit(url.reveal())
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


@dataclass(frozen=True, slots=True)
class Answer:
    """What one endpoint said: its HTTP status (None: no answer) and a short detail."""

    endpoint: str
    status: int | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post(session: aiohttp.ClientSession, url: Secret, body: Mapping[str, object]) -> (
        Answer):
    """POST one message; never raises for what the endpoint does (redirects not followed)."""
    label = endpoint_label(url)
    try:
        async with session.post(url.reveal(), json=body, allow_redirects=False) as resp:
            text = (await resp.content.read(200)).decode("utf-8", "replace").strip()
            return Answer(label, resp.status, text or resp.reason or "")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Answer(label, None, f"no answer ({type(exc).__name__})")


@contextlib.asynccontextmanager
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout, headers={
            "User-Agent": f"syncd/{__version__}"}) as s:
        yield s


async def send_test(cfg: AlertsConfig, now: dt.datetime) -> list[Answer]:
    """``syncd alerts test``: one test message to every endpoint, and what each answered."""
    key = AlertKey("syncd", "", Condition.TEST)
    body = alerting.message(key, "test", "a test message from syncd alerts test",
                            "nothing", now)
    async with session() as s:
        return list(await asyncio.gather(*(post(s, url, body) for url in cfg.webhooks)))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A leader's latest word on its source."""

    doc: SourceDoc
    failed_in_a_row: Mapping[str, int]
    taken_at: float  # loop time
    host: str | None = None  # set for the one source that alerts for its host's capacity
    host_warning: str | None = None


class Alerter:
    """Evaluates the snapshots and delivers the messages, in tasks of its own."""

    def __init__(self, cfg: AlertsConfig, dsn: str, *,
                 on_delivery: Callable[[str, bool], None] | None = None,
                 on_open: Callable[[Collection[AlertKey]], None] | None = None) -> None:
        self.cfg, self.dsn = cfg, dsn
        self.endpoints = {endpoint_id(u): u for u in cfg.webhooks}
        self.snapshots: dict[str, Snapshot] = {}
        # As last read (the status page shows them): since when, and what happened.
        self.open: dict[AlertKey, tuple[dt.datetime, str]] = {}
        self.changed = asyncio.Event()
        self.queued = asyncio.Event()
        self.on_delivery = on_delivery or (lambda endpoint, ok: None)
        self.on_open = on_open or (lambda keys: None)
        self._failures: dict[str, int] = {}  # endpoint id → failed attempts in a row
        self._next_try: dict[str, float] = {}

    def observe(self, snapshot: Snapshot) -> None:
        """A leader's status after a pass (no I/O)."""
        self.snapshots[snapshot.doc["name"]] = snapshot
        self.changed.set()

    def open_now(self) -> list[OpenDoc]:
        """The alerts open now, oldest first, for /status.json and the status page."""
        return [{"scope": k.scope, "module": k.module or None, "condition": k.condition.value,
                 "opened_at": at.astimezone(dt.UTC).isoformat(timespec="seconds"),
                 "what": what} for k, (at, what) in self.open.items()]

    def forget(self, source: str) -> None:
        """No longer the leader of ``source``: its alerts are another instance's now."""
        self.snapshots.pop(source, None)

    async def run(self, stopping: asyncio.Event) -> None:
        """Evaluate and send until ``stopping``; a lost warehouse is waited out."""
        await waits.first(self._forever(self._evaluate_loop, stopping),
                          self._forever(self._send_loop, stopping), stopping.wait())

    async def _forever(self, loop: Callable[[], Awaitable[None]],
                       stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await loop()
            except WarehouseError as exc:
                log.warning("alerts.warehouse_lost", error=str(exc))
            except Exception as exc:  # top of a job: logged, never stops the daemon
                log.error("alerts.crashed", error=f"{type(exc).__name__}: {exc}",
                          exc_info=exc)
            await waits.pause(stopping, EVAL_SECONDS)

    async def _evaluate_loop(self) -> None:
        async with db.connection(self.dsn) as conn:
            await store.forget_endpoints(conn, list(self.endpoints))
            while True:
                await self.evaluate(conn)
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), EVAL_SECONDS)

    async def evaluate(self, conn: asyncpg.Connection) -> None:
        """One round: every verdict known now, compared with the open alerts."""
        loop_now = asyncio.get_running_loop().time()
        instances, now = await store.instances(conn)
        self.open = await store.open_alerts(conn)
        verdicts: alerting.Verdicts = {}
        for snap in list(self.snapshots.values()):
            doc = alerting.aged(snap.doc, loop_now - snap.taken_at)
            today = dt.date.fromisoformat(doc["today"]) if doc.get("today") else now.date()
            verdicts |= alerting.source_verdicts(doc, snap.failed_in_a_row,
                                                 self.cfg.after_failed_passes, today)
            if snap.host is not None:
                verdicts |= alerting.capacity_verdict(snap.host, snap.host_warning)
        verdicts |= alerting.instance_verdicts(
            instances, {k.scope for k in self.open if k.condition is Condition.TAKEN_OVER},
            now, DEAD_AFTER)
        raised, cleared = alerting.decide(verdicts, self.open)
        await self._apply(conn, raised, cleared, now)
        self.on_open(self.open)

    async def _apply(self, conn: asyncpg.Connection, raised: Sequence[Alert],
                     cleared: Sequence[AlertKey], now: dt.datetime) -> None:
        ids = list(self.endpoints)
        for alert in raised:
            if await store.raise_alert(conn, alert, ids, now):
                self.open[alert.key] = (now, alert.what)
                log.warning("alerts.raised", scope=alert.key.scope, module=alert.key.module,
                            condition=alert.key.condition.value, what=alert.what)
        for key in cleared:
            if await store.clear_alert(conn, key, ids, now):
                self.open.pop(key, None)
                log.info("alerts.cleared", scope=key.scope, module=key.module,
                         condition=key.condition.value)
        if raised or cleared:
            self.queued.set()

    async def _send_loop(self) -> None:
        async with db.connection(self.dsn) as conn, session() as http:
            while True:
                await self.deliver(conn, http)
                self.queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.queued.wait(), SEND_SECONDS)

    async def deliver(self, conn: asyncpg.Connection, http: aiohttp.ClientSession) -> None:
        """Send what is due of the queued messages (oldest first, locked against other
        instances while sending); an endpoint that failed waits out its backoff."""
        with db_errors_sending():
            async with conn.transaction():
                for event in await store.pending(conn):
                    left, error = [], None
                    for endpoint in event.pending:
                        ok, detail = await self._try(http, endpoint, event.body)
                        if not ok:
                            left.append(endpoint)
                            error = detail
                    if left != list(event.pending) or error:
                        await store.delivered(conn, event.id, left, error)

    async def _try(self, http: aiohttp.ClientSession, endpoint: str,
                   body: Mapping[str, object]) -> tuple[bool, str | None]:
        """One attempt at one endpoint, unless it is still backing off."""
        url = self.endpoints.get(endpoint)
        now = asyncio.get_running_loop().time()
        if url is None or self._next_try.get(endpoint, 0.0) > now:
            return False, None
        answer = await post(http, url, body)
        self.on_delivery(answer.endpoint, answer.ok)
        if answer.ok:
            self._failures.pop(endpoint, None)
            self._next_try.pop(endpoint, None)
            return True, None
        n = self._failures[endpoint] = self._failures.get(endpoint, 0) + 1
        delay = RETRY.delay(min(n, 64), random.random)
        self._next_try[endpoint] = now + delay
        detail = f"{answer.endpoint} answered {answer.status or 'nothing'}: {answer.detail}"
        log.warning("alerts.delivery_failed", endpoint=answer.endpoint, status=answer.status,
                    detail=answer.detail[:200], retry_in=round(delay, 1))
        return False, detail[:500]


def db_errors_sending() -> contextlib.AbstractContextManager[None]:
    return db.db_errors("sending alerts")
