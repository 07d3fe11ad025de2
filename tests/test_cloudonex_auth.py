"""CloudOnex ``auth = "query"``: config, a server that drops the Authorization header, the
check's suggestion, and the key in no URL syncd logs, stores or shows (real sockets, a real
PostgreSQL, the CLI as a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.core.errors import ConfigError
from syncd_simulator.cloudonex import Fault, records
from syncd_simulator.cloudonex.query import Refused
from tests.conftest import CLOUDONEX_KEY, cli_env, fetch, run_cli
from tests.test_cloudonex import ENV, assert_exact, cx_config, sync
from tests.test_cloudonex_faults import marked


@pytest.mark.parametrize(("text", "says"), [
    ('kind = "cloudonex"\nauth = "header"', 'auth: must be "bearer"'),
    ('kind = "cloudonex"\nauth = 1', 'auth: must be "bearer"'),
    ('backfill_from = "2024-01-01"\nauth = "query"', "does not apply to kind"),
])
def test_auth_is_validated(tmp_path: Path, text: str, says: str) -> None:
    """auth is "bearer" or "query", and only for CloudOnex sources."""
    path = tmp_path / "syncd.toml"
    path.write_text(f'[sources.crm]\nbase_url = "https://crm.example.com/api/v2"\n{text}\n')
    with pytest.raises(ConfigError, match=says):
        config.load(path, ENV)


def test_auth_defaults_to_bearer(tmp_path: Path) -> None:
    """Without the key a CloudOnex source sends the Authorization header."""
    path = cx_config(tmp_path, "https://crm.example.com/api/v2", "postgresql://x/y")
    assert config.load(path, ENV).sources[0].auth == "bearer"
    query = cx_config(tmp_path, "https://crm.example.com/api/v2", "postgresql://x/y",
                      auth="query")
    assert config.load(query, ENV).sources[0].auth == "query"


async def test_auth_query_reads_a_server_that_drops_the_header_exactly(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """Against a server that never sees Authorization, auth = "query" reads every resource
    exactly and confirms deletions by id, every request carrying ?api_key=."""
    sim, url = await cloudonex_simulator(scale=0.2, drop_authorization=True)
    modules = ["customers", "invoices", "products"]
    path = cx_config(tmp_path, url, pg_dsn, modules=modules, page_size=20, full_read="0s",
                     auth="query")
    runs = await sync(path)
    assert all(r.error is None for r in runs), [str(r.error) for r in runs]
    gone = sim.records("invoices")[4]["id"]
    sim.delete("invoices", gone)
    sim.insert("customers", 3)
    runs = await sync(path)
    assert all(r.error is None for r in runs), [str(r.error) for r in runs]
    for resource in modules:
        await assert_exact(sim, pg_dsn, resource)
    assert await marked(pg_dsn, "invoices") == {gone}
    assert {r.query.get("api_key") for r in sim.requests} == {CLOUDONEX_KEY}
    assert {r.status for r in sim.requests} == {200, 404}  # 404: the deleted invoice


async def test_check_suggests_auth_query_when_only_the_query_form_works(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """Bearer refused, ?api_key= accepted: check says to set auth = "query" (one sentence,
    one extra request); with it set, every resource checks ok."""
    sim, url = await cloudonex_simulator(scale=0.1, drop_authorization=True)
    modules = ["customers", "products"]
    path = cx_config(tmp_path, url, pg_dsn, modules=modules)
    env = cli_env(**ENV)
    bad = await run_cli("check", "--config", str(path), env=env)
    assert bad.code != 0
    assert bad.stdout.count("bad credentials") == len(modules), bad.stdout
    assert 'set auth = "query"' in bad.stdout
    assert len(bad.sentences) == 1, bad.stderr
    assert "accepts it as ?api_key=" in bad.sentences[0]
    assert 'set auth = "query" in [sources.crm]' in bad.sentences[0]
    assert [r.query.get("api_key") for r in sim.requests] == [None, CLOUDONEX_KEY]
    good = await run_cli("check", "--config", str(cx_config(
        tmp_path, url, pg_dsn, modules=modules, auth="query")), env=env)
    assert good.code == 0, good.stdout + good.stderr
    rows = [ln.split() for ln in good.stdout.splitlines() if ln.startswith("crm ")]
    assert [(r[1], r[2]) for r in rows] == [(m, "ok") for m in modules]
    for out in (bad, good):
        assert CLOUDONEX_KEY not in out.stdout + out.stderr


async def test_a_wrong_key_is_not_blamed_on_the_header(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path) -> None:
    """A key refused both ways gets the key's own sentence, not the auth suggestion."""
    _, url = await cloudonex_simulator(scale=0.1, drop_authorization=True)
    path = cx_config(tmp_path, url, pg_dsn, modules=["customers"])
    bad = await run_cli("check", "--config", str(path),
                        env=cli_env(SYNCD_CRM_API_KEY="wrong-key-4711"))
    assert bad.code != 0
    assert len(bad.sentences) == 1, bad.stderr
    assert "refused the key of source 'crm'" in bad.sentences[0]
    assert "auth =" not in bad.sentences[0]


def _two_sources(path: Path, url: str, dsn: str) -> Path:
    """crm (query auth, a working server) and crm2 (query auth, a base_url that 404s)."""
    path.write_text(
        f'[warehouse]\ndsn = "{dsn}"\n\n[schedule]\nfull_read = "0s"\n\n'
        f'[sources.crm]\nkind = "cloudonex"\nbase_url = "{url}"\nauth = "query"\n'
        'modules = ["customers", "products"]\n\n'
        f'[sources.crm2]\nkind = "cloudonex"\nbase_url = "{url}/nowhere"\nauth = "query"\n'
        'modules = ["customers"]\n', encoding="utf-8")
    return path


async def test_the_key_is_in_no_url_logged_stored_or_shown(
        cloudonex_simulator: Any, pg_dsn: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the key in every request's query, failures that name URLs (a wrong base_url's
    404, a refused GET by id whose message quotes the key, retried 5xx) leave it in no
    output, log line, status or warehouse row — while the URLs themselves are there."""
    sim, url = await cloudonex_simulator(records={"customers": 40, "products": 20},
                                         scale=0.1, drop_authorization=True)
    path = _two_sources(tmp_path / "syncd.toml", url, pg_dsn)
    env = cli_env(SYNCD_CRM_API_KEY=CLOUDONEX_KEY, SYNCD_CRM2_API_KEY=CLOUDONEX_KEY)
    first = await run_cli("sync", "--config", str(path), env=env)
    assert first.code != 0  # crm2 cannot work
    sim.delete("customers", sim.records("customers")[2]["id"])
    real = records.one

    def refused(sim_: Any, resource: Any, rid: int | None) -> Any:
        if resource.name == "customers":
            raise Refused(403, f"key {CLOUDONEX_KEY} may not read one record")
        return real(sim_, resource, rid)

    monkeypatch.setattr(records, "one", refused)
    sim.inject(Fault.SERVER_ERROR, 2)
    second = await run_cli("sync", "--config", str(path), env=env)
    shown = [first, second,
             await run_cli("status", "--json", "--config", str(path), env=env),
             await run_cli("status", "--config", str(path), env=env),
             await run_cli("check", "--config", str(path), env=env)]
    stored_rows = []
    for table in ("module_state", "window", "api_budget"):
        stored_rows += [r["t"] for r in await fetch(
            pg_dsn, f"SELECT row_to_json(x)::text AS t FROM syncd.{table} x")]
    everything = "\n".join([o.stdout + o.stderr for o in shown] + stored_rows)
    assert "/api/v2/nowhere/customers" in everything  # the URLs are named …
    assert "/api/v2/customers/" in everything
    assert "may not read one record" in everything
    assert CLOUDONEX_KEY not in everything  # … without the key
    status = json.loads(shown[2].stdout)
    errors = [m["last_error"] for s in status["sources"] for m in s["modules"]
              if m["last_error"]]
    assert any("[the API key]" in e for e in errors), errors
