"""``syncd demo``: the whole product on one machine with nothing installed but the package.

Embedded PostgreSQL + the bundled SKYBIZ simulator (two years of history) and CloudOnex
simulator + a backfill and a complete read with live progress under time-compressed rate
limits + the status table + a real BI answer from each. Nothing outside a temporary
directory is touched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from syncd import config
from syncd.cli import report
from syncd.engine import progress
from syncd.service.daemon import Daemon
from syncd.service.notify import Notifier
from syncd.warehouse import db
from syncd_simulator import Simulator, SimulatorOptions
from syncd_simulator.cloudonex import CloudOnexOptions, CloudOnexSimulator

# 10 requests per second instead of 5 per 10 s: two years of eight modules (~200 windows)
# load in about 20 seconds. The simulator enforces the same compressed limit.
DEMO_RATE = (10, 1.0)
# CloudOnex: 1000 requests per hour compressed to 50 per second.
CLOUDONEX_RATE = (50, 1.0)
HISTORY_DAYS = 730
LISTEN = "127.0.0.1:9108"

TOP_CUSTOMERS = """
SELECT coalesce(cusname, cuscode) AS customer, net_amount AS net_sales
FROM bi.sales_by_customer_month
WHERE month = date_trunc('month', $1::date - interval '1 month')::date
ORDER BY net_amount DESC NULLS LAST LIMIT 5
"""


INVOICES = """
SELECT to_char(month, 'YYYY-MM') AS month, status, invoices, amount
FROM bi.cloudonex_invoices_monthly
WHERE source = 'crm' AND month >= date_trunc('month', $1::date - interval '2 months')::date
ORDER BY month DESC, status
"""


def write_config(path: Path, base_url: str, crm_url: str, dsn: str, today: dt.date) -> None:
    requests, per = DEMO_RATE
    cx_requests, cx_per = CLOUDONEX_RATE
    path.write_text(
        f'[warehouse]\ndsn = "{dsn}"\n\n'
        f'[sources.demo]\nbase_url = "{base_url}"\ntimezone = "Asia/Kuala_Lumpur"\n'
        f'backfill_from = "{today - dt.timedelta(days=HISTORY_DAYS)}"\n'
        # The simulator's masters were all modified within its history: walking them back to
        # the default masters_from (2000) would add ~1,200 empty requests to the demo.
        f'masters_from = "{today - dt.timedelta(days=HISTORY_DAYS)}"\n\n'
        f"[sources.demo.rate_limit]\nrequests = {requests}\nper_seconds = {per}\n"
        "margin_seconds = 0.05\n\n"
        f'[sources.crm]\nkind = "cloudonex"\nbase_url = "{crm_url}"\n'
        'timezone = "Asia/Kuala_Lumpur"\n\n'
        f"[sources.crm.rate_limit]\nrequests = {cx_requests}\nper_seconds = {cx_per}\n"
        "margin_seconds = 0.05\n\n"
        f'[schedule]\ninterval = "30s"\n\n[observability]\nlisten = "{LISTEN}"\n'
        'log_format = "console"\n', encoding="utf-8")


async def _demo(out: TextIO, workdir: Path, keep: bool) -> int:
    from syncd.cli import commands
    from syncd.service import status

    requests, per = DEMO_RATE
    sim = Simulator(SimulatorOptions(history_days=HISTORY_DAYS, rate_requests=requests,
                                     rate_seconds=per))
    cx_requests, cx_per = CLOUDONEX_RATE
    crm = CloudOnexSimulator(CloudOnexOptions(rate_requests=cx_requests, rate_seconds=cx_per,
                                              today=sim.dataset.today))
    base_url, crm_url = await sim.start(), await crm.start()
    try:
        with db.embedded(workdir / "warehouse") as dsn:
            path = workdir / "syncd.toml"
            write_config(path, base_url, crm_url, dsn, sim.dataset.today)
            env = {"SYNCD_DEMO_API_KEY": sim.options.api_key,
                   "SYNCD_DEMO_API_SECRET": sim.options.api_secret,
                   "SYNCD_CRM_API_KEY": crm.options.api_key}
            cfg = config.load(path, env, need_credentials=True)
            out.write(f"syncd demo: SKYBIZ simulator at {base_url}, CloudOnex simulator at "
                      f"{crm_url}, embedded PostgreSQL started.\n"
                      f"Backfilling {HISTORY_DAYS} days of 8 SKYBIZ modules and reading 10 "
                      f"CloudOnex resources completely at compressed rate limits "
                      f"({requests} requests / {per:g} s, {cx_requests} / {cx_per:g} s)...\n")
            out.flush()
            now = dt.datetime.now(dt.UTC)
            runs = await commands.sync(
                cfg, list(cfg.sources), lambda s: progress.for_stream(s.rate_limit),
                now=now)
            out.write("\n")
            report.runs(runs, out)
            out.write("\nsyncd status:\n")
            report.status(await status.document(cfg, now), out)
            await _bi_answers(dsn, sim.dataset.today, out)
            out.write(f"\nWarehouse DSN (valid while the demo runs): {dsn}\n"
                      "Point Metabase / Superset / Grafana at it and use the bi.* views "
                      "(contrib/grafana/ in the syncd repository has starter dashboards).\n")
            if not keep:
                out.write("Run `syncd demo --keep` to keep it running with the status page.\n")
                return 0 if all(r.error is None for r in runs) else 1
            out.write(keep_hints(dsn))
            out.flush()
            return await Daemon(cfg, dsn, Notifier({})).run()
    finally:
        await crm.stop()
        await sim.stop()


ALERTS_SNIPPET = """[alerts]                     # add to your syncd.toml to be told (§11)
webhooks = ["https://hooks.slack.com/services/T000/B000/XXXX"]
after_failed_passes = 3
"""


def keep_hints(dsn: str) -> str:
    """Where to look while ``demo --keep`` runs, and the alerts table to copy (the demo
    itself has none: it sends nothing anywhere)."""
    return (f"\nNow running as `syncd run`. Look at:\n"
            f"  status page  http://{LISTEN}/\n"
            f"  metrics      http://{LISTEN}/metrics\n"
            f"  warehouse    {dsn}\n"
            f"To get alerts from your own syncd, copy:\n\n{ALERTS_SNIPPET}\n"
            "Ctrl-C stops everything.\n")


async def _bi_answers(dsn: str, today: dt.date, out: TextIO) -> None:
    async with db.connection(dsn) as conn:
        rows = await conn.fetch(TOP_CUSTOMERS, today)
        invoices = await conn.fetch(INVOICES, today)
    out.write("\nSKYBIZ — top 5 customers last month, net of credit notes (MYR):\n")
    report.table([("CUSTOMER", "NET SALES")] +
                 [(str(r["customer"]).replace("\n", " ")[:40], f"{r['net_sales']:,.2f}")
                  for r in rows], out)
    out.write("\nCloudOnex — invoices by month and status, last three months:\n")
    report.table([("MONTH", "STATUS", "INVOICES", "AMOUNT")] +
                 [(r["month"], str(r["status"]), str(r["invoices"]), f"{r['amount']:,.2f}")
                  for r in invoices], out)


def run(out: TextIO = sys.stdout, *, keep: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="syncd-demo-") as tmp:
        return asyncio.run(_demo(out, Path(tmp), keep))
