"""CloudOnex webhooks and the daemon's push (real `syncd run`, sockets, PostgreSQL): a hint
brings the changed invoice within seconds; forged or garbage posts change nothing."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from syncd.engine.outbox.jsontext import dumps
from tests.conftest import cli_env, fetch, run_cli
from tests.test_cloudonex import ENV
from tests.test_daemon import Daemons, daemons, free_port, status_json, until

__all__ = ["daemons"]  # the fixture, used by name


def config(tmp_path: Path, url: str, dsn: str, port: int, hooks: int | None = None) -> Path:
    """One CloudOnex source, reads an hour apart: only hints and pushes act meanwhile;
    ``hooks``: the webhook receiver's own port ([webhooks] listen)."""
    path = tmp_path / "syncd.toml"
    path.write_text(
        f'[warehouse]\ndsn = "{dsn}"\n\n[schedule]\ninterval = "1h"\nfull_read = "1h"\n'
        f'push = "1h"\n\n[sources.crm]\nkind = "cloudonex"\nbase_url = "{url}"\n'
        'modules = ["invoices", "customers"]\n\n'
        f'[observability]\nlisten = "127.0.0.1:{port}"\n'
        + (f'\n[webhooks]\nlisten = "127.0.0.1:{hooks}"\n' if hooks else ""),
        encoding="utf-8")
    return path


async def post(url: str, body: bytes) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as resp:
        return resp.status


async def test_webhook_brings_the_changed_invoice_and_noise_changes_nothing(
    cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path, daemons: Daemons
) -> None:
    """register → an edit of an old invoice fires invoice.updated → the daemon reads it by id;
    forged paths are 404, a lying payload loads the API's values, not its own."""
    crm, url = await cloudonex_simulator(scale=0.2)
    port = free_port()
    path = config(tmp_path, url, pg_dsn, port)
    env = cli_env(**ENV)
    reg = await run_cli("webhooks", "register", "--source", "crm", "--url",
                        f"http://127.0.0.1:{port}/syncd/hooks", "--config", str(path), env=env)
    assert reg.code == 0, reg.stderr
    [hook] = crm.hooks.registered
    assert hook["url"].startswith(f"http://127.0.0.1:{port}/syncd/hooks/")
    assert hook["url"] in reg.stdout
    running = await daemons(path, port, env=env)

    async def read_once() -> bool:
        doc = await status_json(port)
        return bool(doc and all(m["backfill_complete"] for m in doc["sources"][0]["modules"])
                    and doc["sources"][0]["modules"])

    await until(read_once, "the first complete read", 60, running)
    crm.hooks.noise = True
    oldest = crm.records("invoices")[-1]
    started = time.monotonic()
    crm.edit("invoices", oldest["id"], status="Paid", amount=Decimal("12.34"))

    async def arrived() -> bool:
        rows = await fetch(pg_dsn, "SELECT amount, status FROM cloudonex.invoices "
                           "WHERE id = $1", oldest["id"])
        return (rows[0]["amount"], rows[0]["status"]) == (Decimal("12.34"), "Paid")

    await until(arrived, "the hinted invoice", 20, running)
    print(f"webhook-to-warehouse {time.monotonic() - started:.2f}s")  # the note's figure
    assert any(status == 404 and "forged" in u for u, status, _ in crm.hooks.delivered)
    liar = crm.records("invoices")[0]
    lie = dumps({"event": "invoice.updated", "data": {"id": liar["id"], "amount": "999.99"}})
    assert await post(hook["url"], lie.encode()) == 202
    assert await post(hook["url"], b"\xff\x00 not json" * 1000) == 202
    assert await post(f"http://127.0.0.1:{port}/syncd/hooks/guess", lie.encode()) == 404
    before = len(crm.requests)

    async def reread() -> bool:
        return any(r.path == f"/api/v2/invoices/{liar['id']}" for r in crm.requests[before:])

    await until(reread, "the lying hint's read", 20, running)
    rows = await fetch(pg_dsn, "SELECT amount FROM cloudonex.invoices WHERE id = $1",
                       liar["id"])
    assert rows[0]["amount"] == liar["amount"]
    status = await run_cli("status", "--json", "--config", str(path), env=env)
    assert '"last_webhook_at": "20' in status.stdout
    running.terminate()
    assert (await running.finish()).code == 0


async def test_daemon_pushes_a_cloudonex_document_on_insert(
    cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path, daemons: Daemons
) -> None:
    """With `[schedule] push` an hour away, an INSERT alone gets the customer created."""
    crm, url = await cloudonex_simulator(scale=0.2)
    port = free_port()
    path = config(tmp_path, url, pg_dsn, port)
    running = await daemons(path, port, env=cli_env(**ENV))

    async def leading() -> bool:
        doc = await status_json(port)
        return bool(doc and doc["sources"][0].get("role") == "leader")

    await until(leading, "leadership", 60, running)
    await fetch(pg_dsn, "INSERT INTO syncd.outbox (source, module, document) VALUES "
                "('crm', 'customers', $1::jsonb) RETURNING id",
                dumps({"account": "Daemon Shop", "email": "d@example.com"}))

    async def created() -> str | None:
        rows = await fetch(pg_dsn, "SELECT state, created_id FROM syncd.outbox")
        return rows[0]["created_id"] if rows[0]["state"] == "inserted" else None

    rid = await until(created, "the push after the insert", 20, running)
    assert any(str(r["id"]) == rid and r["account"] == "Daemon Shop"
               for r in crm.records("customers"))

    async def shown() -> int | None:
        # A refresh between the insert and the push may show it pending first; the push's
        # own refresh then shows it inserted.
        doc = await status_json(port)
        counts = (doc["sources"][0].get("outbox") or {}).get("customers", {}) if doc else {}
        return counts.get("inserted")

    assert await until(shown, "the inserted document in /status.json", 20, running) == 1
    running.terminate()
    assert (await running.finish()).code == 0


async def test_a_webhook_at_its_own_listener_brings_the_invoice(
    cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path, daemons: Daemons
) -> None:
    """With [webhooks] listen the hint arrives on that port and is read; the observability
    listener then does not serve the hook path (404), and the hook port serves no status."""
    crm, url = await cloudonex_simulator(scale=0.2)
    port, hooks_port = free_port(), free_port()
    path = config(tmp_path, url, pg_dsn, port, hooks=hooks_port)
    env = cli_env(**ENV)
    reg = await run_cli("webhooks", "register", "--source", "crm", "--url",
                        f"http://127.0.0.1:{hooks_port}/syncd/hooks", "--config", str(path),
                        env=env)
    assert reg.code == 0, reg.stderr
    [hook] = crm.hooks.registered
    running = await daemons(path, port, env=env)

    async def read_once() -> bool:
        doc = await status_json(port)
        return bool(doc and doc["sources"][0]["modules"]
                    and all(m["backfill_complete"] for m in doc["sources"][0]["modules"]))

    await until(read_once, "the first complete read", 60, running)
    oldest = crm.records("invoices")[-1]
    crm.edit("invoices", oldest["id"], status="Paid", amount=Decimal("43.21"))

    async def arrived() -> bool:
        rows = await fetch(pg_dsn, "SELECT amount, status FROM cloudonex.invoices "
                           "WHERE id = $1", oldest["id"])
        return (rows[0]["amount"], rows[0]["status"]) == (Decimal("43.21"), "Paid")

    await until(arrived, "the invoice hinted on the webhook listener", 20, running)
    assert any(u == hook["url"] and status == 202 for u, status, _ in crm.hooks.delivered)
    token_path = hook["url"].split(f":{hooks_port}", 1)[1]
    assert await post(f"http://127.0.0.1:{port}{token_path}", b"{}") == 404
    assert await post(hook["url"], b"{}") == 202
    status_url = f"http://127.0.0.1:{hooks_port}/status.json"
    async with aiohttp.ClientSession() as session, session.get(status_url) as resp:
        assert resp.status in (404, 405)
    running.terminate()
    assert (await running.finish()).code == 0
