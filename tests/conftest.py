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


def with_database(dsn: str, name: str) -> str:
    """The same server DSN pointing at database ``name``."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


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


@pytest.fixture
async def pg_dsn(pg_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = "syncd_t_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(pg_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(pg_server, name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
