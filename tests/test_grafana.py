"""contrib/grafana: the dashboards parse, name only metrics syncd exports and only bi views
the migrations create, and every query runs (PromQL through promtool, SQL on PostgreSQL)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from prometheus_client.metrics import Counter, Gauge, Histogram, MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from syncd.service import httpd
from syncd.service.metrics import Metrics
from syncd.warehouse import db

GRAFANA = Path(__file__).resolve().parent.parent / "contrib" / "grafana"
# What Grafana puts in place of the macros and variables before a query runs.
TIME_FROM, TIME_TO = "'2026-01-01T00:00:00Z'", "'2026-12-31T23:59:59Z'"


def _dashboard(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GRAFANA / name).read_text(encoding="utf-8"))
    return doc


def _panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in doc["panels"] if p["type"] != "row"]


def _exprs() -> list[str]:
    return [t["expr"] for p in _panels(_dashboard("syncd-metrics.json")) for t in p["targets"]]


def _sql() -> list[str]:
    doc = _dashboard("syncd-bi.json")
    return ([t["rawSql"] for p in _panels(doc) for t in p["targets"]]
            + [v["query"] for v in doc["templating"]["list"] if v["type"] == "query"])


@pytest.mark.parametrize("name", ["syncd-metrics.json", "syncd-bi.json"])
def test_dashboards_are_importable_json(name: str) -> None:
    """Each dashboard parses, has a uid and a title, unique panel ids, panels inside the
    24-column grid, and every query reads the data source chosen in its variable."""
    doc = _dashboard(name)
    assert doc["uid"]
    assert doc["title"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    [variable] = [v["name"] for v in doc["templating"]["list"] if v["type"] == "datasource"]
    for p in _panels(doc):
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        assert p["description"]
        for t in [p, *p["targets"]]:
            assert t["datasource"]["uid"] == "${" + variable + "}"


def _populated() -> Metrics:
    """A Metrics registry with one series of every metric it defines."""
    m = Metrics()
    metrics = [v for v in vars(m).values() if isinstance(v, MetricWrapperBase)]
    assert len(metrics) > 20
    for metric in metrics:
        child = metric.labels(*["x"] * len(metric._labelnames))
        if isinstance(child, Counter):
            child.inc()
        elif isinstance(child, Gauge):
            child.set(1)
        elif isinstance(child, Histogram):
            child.observe(1)
    return m


async def _live_metrics(m: Metrics) -> str:
    """/metrics as the daemon's real listener serves it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]

    async def status() -> Any:
        return {"sources": []}

    runner = await httpd.serve(httpd.make_app(m, lambda: None, status), "127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{port}/metrics") as resp:
            return await resp.text()
    finally:
        await runner.cleanup()


async def test_every_metric_the_dashboard_names_is_exported() -> None:
    """Each syncd_* series in the dashboard's queries is in a live /metrics exposition,
    and the dashboard covers rate use, 429s, freshness against target and push."""
    text = await _live_metrics(_populated())
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    named = {n for e in _exprs() for n in re.findall(r"\bsyncd_[a-z_]+\b", e)}
    assert named - exported == set()
    assert {"syncd_api_requests_total", "syncd_api_rate_limited_total",
            "syncd_capacity_load_ratio", "syncd_freshness_target_seconds",
            "syncd_last_read_timestamp_seconds", "syncd_push_documents_total",
            "syncd_outbox_documents"} <= named


def test_every_promql_query_parses() -> None:
    """promtool accepts every query as a recording rule (skipped without promtool;
    .ci/promtool installs it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    rules = {"groups": [{"name": "grafana", "rules": [
        {"record": f"syncd:grafana_{i}", "expr": e.replace("$source", ".*")}
        for i, e in enumerate(_exprs())]}]}
    out = subprocess.run([promtool, "check", "rules", "/dev/stdin"], input=json.dumps(rules),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def _as_grafana_runs(sql: str) -> str:
    """The query with Grafana's macro and the source variable filled in."""
    sql = re.sub(r"\$__timeFilter\((\w+)\)", rf"\1 BETWEEN {TIME_FROM} AND {TIME_TO}", sql)
    return sql.replace("$source", "'main', 'crm'")


def _grants(role: str) -> str:
    """The README's SQL block for Grafana's role, for ``role``."""
    readme = (GRAFANA / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sql\n(.*?)```", readme, re.S)
    assert block is not None
    return block[1].replace("grafana", role)


async def test_every_bi_view_exists_and_every_query_runs(pg_dsn: str) -> None:
    """After the migrations every bi view the BI dashboard names exists, and each of its
    queries runs as Grafana sends it, as a role with only the README's grants."""
    role = "grafana_" + uuid.uuid4().hex[:8]
    conn = await db.connect(pg_dsn)
    try:
        await db.migrate(conn)
        views = {r["name"] for r in await conn.fetch(
            "SELECT 'bi.' || table_name AS name FROM information_schema.views "
            "WHERE table_schema = 'bi'")}
        await conn.execute(_grants(role))
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL ROLE {role}")
                for sql in _sql():
                    await conn.fetch(_as_grafana_runs(sql))
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetch("SELECT 1 FROM skybiz.sales LIMIT 1")
        finally:
            await conn.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
    finally:
        await conn.close()
    named = {n for sql in _sql() for n in re.findall(r"\bbi\.[a-z_]+\b", sql)}
    assert named - views == set()
    assert {"bi.freshness", "bi.sales_daily", "bi.cloudonex_invoices_monthly"} <= named


def test_the_readme_names_both_files() -> None:
    """contrib/grafana/README.md says how to import the two dashboards it ships."""
    readme = (GRAFANA / "README.md").read_text(encoding="utf-8")
    for name in ("syncd-metrics.json", "syncd-bi.json"):
        assert name in readme
        assert (GRAFANA / name).exists()
