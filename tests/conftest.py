"""Shared fixtures: config files written to tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

MINIMAL = """
[sources.main]
base_url = "https://erp.example.com/01/clientportal/apiv2/modules"
backfill_from = "2024-01-01"
"""

CREDS = {"SYNCD_MAIN_API_KEY": "k" * 25, "SYNCD_MAIN_API_SECRET": "s" * 64}


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a TOML text to a file and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "syncd.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


# --- a real PostgreSQL: $SYNCD_TEST_DSN, else the embedded one from the package ---------

import os  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Iterator  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

import asyncpg  # noqa: E402
import pytest_asyncio  # noqa: E402


async def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of one query on a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def with_database(dsn: str, name: str) -> str:
    """The same server DSN pointing at database ``name``."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches a real PostgreSQL ``warehouse`` (``pytest -m warehouse``
    runs exactly those, e.g. against another server version through SYNCD_TEST_DSN)."""
    for item in items:
        if "pg_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.warehouse)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """DSN of a PostgreSQL server for the whole test session."""
    given = os.environ.get("SYNCD_TEST_DSN")
    if given:
        yield given
        return
    from syncd.warehouse.db import embedded

    with tempfile.TemporaryDirectory(prefix="syncd-test-pg-") as tmp, embedded(Path(tmp)) as dsn:
        yield dsn


async def fresh_database(server: str) -> AsyncIterator[str]:
    """A new, empty database on ``server`` (a unique name, so xdist workers and concurrent
    sessions sharing one SYNCD_TEST_DSN never meet), dropped afterwards."""
    name = "syncd_t_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(server, name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def pg_dsn(pg_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    async for dsn in fresh_database(pg_server):
        yield dsn


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_pg_dsn(pg_server: str) -> AsyncIterator[str]:
    """A fresh, empty database shared by one module's tests (which then run on the module's
    event loop: ``pytestmark = pytest.mark.asyncio(loop_scope="module")``)."""
    async for dsn in fresh_database(pg_server):
        yield dsn


# --- end to end: the CLI as a real subprocess, the simulator on a real socket ------------

import asyncio  # noqa: E402
import datetime as dt  # noqa: E402
import sys  # noqa: E402
from collections.abc import Awaitable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from syncd_simulator import Simulator, SimulatorOptions  # noqa: E402

# Canaries: distinctive values a test can grep every output for.
E2E_KEY = "key-canary-7f3a9c1e5b2d8f4a6c0e"
E2E_SECRET = "secret-canary-" + "9d4b" * 12


@dataclass(frozen=True)
class CliResult:
    """What one ``syncd`` subprocess did."""

    code: int
    stdout: str
    stderr: str

    @property
    def sentences(self) -> list[str]:
        """The ``syncd: …`` lines of stderr (logs are JSON lines beside them)."""
        return [ln for ln in self.stderr.splitlines() if ln.startswith("syncd: ")]


def cli_env(**extra: str) -> dict[str, str]:
    """The parent's environment without syncd's own variables, plus ``extra``."""
    drop = ("SYNCD_", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | extra


CLI_ENV = cli_env(SYNCD_MAIN_API_KEY=E2E_KEY, SYNCD_MAIN_API_SECRET=E2E_SECRET)


async def start_cli(*args: str, env: dict[str, str] | None = None,
                    cwd: Path | None = None) -> asyncio.subprocess.Process:
    """Start ``python -m syncd ARGS`` without blocking the loop that serves the simulator."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncd", *args, env=CLI_ENV if env is None else env, cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def finish_cli(proc: asyncio.subprocess.Process, limit_s: float = 60) -> CliResult:
    """Wait for the child (draining both pipes so it never blocks on a full one)."""
    out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


async def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                  limit_s: float = 60) -> CliResult:
    """Run ``python -m syncd ARGS`` to completion (failing after ``limit_s`` seconds)."""
    return await finish_cli(await start_cli(*args, env=env, cwd=cwd), limit_s)


@pytest.fixture
async def simulator() -> AsyncIterator[Callable[..., Awaitable[tuple[Simulator, str]]]]:
    """Start simulators (canary credentials, fast rate unless given) and stop them after."""
    started: list[Simulator] = []

    async def start(**options: Any) -> tuple[Simulator, str]:
        chosen: dict[str, Any] = {"api_key": E2E_KEY, "api_secret": E2E_SECRET,
                                  "rate_requests": 1000, "rate_seconds": 1.0,
                                  "history_days": 60} | options
        sim = Simulator(SimulatorOptions(**chosen))
        started.append(sim)
        return sim, await sim.start()

    yield start
    for sim in started:
        await sim.stop()


def e2e_config_text(base_url: str, dsn: str, backfill_from: dt.date, *,
                    modules: list[str] | None = None, requests: int = 1000,
                    per_seconds: float = 1, margin: float = 0.0,
                    masters_from: dt.date | None = None) -> str:
    """A config for one source ``main`` against ``base_url`` loading into ``dsn``; masters
    walk back to ``masters_from``, by default to ``backfill_from`` too, so a test's history
    stays as short as it chose (the product's default, 2000-01-01, is test_masters.py's)."""
    listed = "" if modules is None else "modules = [" + ", ".join(
        f'"{m}"' for m in modules) + "]\n"
    masters = (masters_from or backfill_from).isoformat()
    return (f'[warehouse]\ndsn = "{dsn}"\n\n[sources.main]\nbase_url = "{base_url}"\n'
            f'backfill_from = "{backfill_from.isoformat()}"\nmasters_from = "{masters}"\n'
            f'{listed}\n'
            f"[sources.main.rate_limit]\nrequests = {requests}\n"
            f"per_seconds = {per_seconds}\nmargin_seconds = {margin}\n")


# --- the CloudOnex simulator on a real socket ---------------------------------------------

from syncd_simulator.cloudonex import CloudOnexOptions, CloudOnexSimulator  # noqa: E402

CLOUDONEX_KEY = "cx-key-canary-3e8a1f6b2c9d4e7a"


@pytest.fixture
async def cloudonex_simulator() -> AsyncIterator[
        Callable[..., Awaitable[tuple[CloudOnexSimulator, str]]]]:
    """Start CloudOnex simulators (canary key, the given options) and stop them after."""
    started: list[CloudOnexSimulator] = []

    async def start(**options: Any) -> tuple[CloudOnexSimulator, str]:
        sim = CloudOnexSimulator(CloudOnexOptions(**({"api_key": CLOUDONEX_KEY} | options)))
        started.append(sim)
        return sim, await sim.start()

    yield start
    for sim in started:
        await sim.stop()
