"""`syncd run` with a SKYBIZ and a CloudOnex source side by side (real processes, sockets,
PostgreSQL): both are led, CloudOnex is read completely, then kept fresh by windows, and an
edit of an old invoice arrives with the next complete read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import CLI_ENV, CLOUDONEX_KEY, e2e_config_text, fetch
from tests.test_cloudonex import assert_exact
from tests.test_daemon import Daemons, daemons, free_port, status_json, until

__all__ = ["daemons"]  # the fixture, used by name


async def test_daemon_runs_both_kinds(simulator: Any, cloudonex_simulator: Any, pg_dsn: str,
                                      tmp_path: Path, daemons: Daemons) -> None:
    sim, url = await simulator(history_days=20)
    crm, crm_url = await cloudonex_simulator(scale=0.2, stale_updated_at=True)
    port = free_port()
    config = tmp_path / "syncd.toml"
    config.write_text(
        e2e_config_text(url, pg_dsn, sim.dataset.today - dt.timedelta(days=15),
                        modules=["sales", "customer"])
        + f'\n[sources.crm]\nkind = "cloudonex"\nbase_url = "{crm_url}"\n'
        'modules = ["invoices", "customers"]\n\n'
        '[schedule]\ninterval = "2s"\nfull_read = "4s"\n\n'
        f'[observability]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8")
    running = await daemons(config, port, env=CLI_ENV | {"SYNCD_CRM_API_KEY": CLOUDONEX_KEY})

    async def both_current() -> dict[str, Any] | None:
        doc = await status_json(port)
        if doc is None:
            return None
        by_name = {s["name"]: s for s in doc["sources"]}
        ok = all(s["modules"] and s["leader"] for s in by_name.values()) and all(
            m["backfill_complete"] and not m["last_error"]
            for s in by_name.values() for m in s["modules"])
        return by_name if ok and len(by_name) == 2 else None

    sources = await until(both_current, "both sources current", 60, running)
    assert sources["crm"]["leader"] == sources["main"]["leader"]  # one instance leads both
    assert sources["crm"]["budget"]["limit"] == 1000
    await assert_exact(crm, pg_dsn, "invoices")
    oldest = crm.records("invoices")[-1]
    crm.edit("invoices", oldest["id"], status="Paid", amount=Decimal("12.34"))

    async def edited() -> bool:
        rows = await fetch(pg_dsn, "SELECT amount FROM cloudonex.invoices WHERE id = $1",
                           oldest["id"])
        return rows[0]["amount"] == Decimal("12.34")

    await until(edited, "the edit of an old invoice", 30, running)
    running.terminate()
    result = await running.finish()
    assert result.code == 0
    assert sum(1 for r in crm.requests if r.limited) == 0
