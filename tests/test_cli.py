"""The ``syncd`` command line end to end: a real subprocess against the bundled simulator on
a real socket and a real PostgreSQL, checked on exit codes, stdout, stderr and the data."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from syncd.kinds.skybiz import modules as skybiz
from syncd_simulator import Simulator
from tests.conftest import (
    E2E_KEY,
    E2E_SECRET,
    CliResult,
    cli_env,
    e2e_config_text,
    fetch,
    run_cli,
)

pytestmark = pytest.mark.slow

MODULES = [m.name for m in skybiz.MODULES]
STATUS_KEYS = {"module", "high_watermark", "low_watermark", "backfill_complete", "rows",
               "deleted_rows", "last_success_at", "last_error"}
StartSim = Callable[..., Awaitable[tuple[Simulator, str]]]


# --- helpers ---------------------------------------------------------------------------


def assert_plain_failure(result: CliResult) -> str:
    """stderr carries exactly one ``syncd:`` sentence, last, and no traceback; return it."""
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert len(result.sentences) == 1, result.stderr
    sentence = result.sentences[0]
    assert result.stderr.strip().splitlines()[-1] == sentence
    assert sentence.rstrip().endswith((".", ")")), sentence
    return sentence


def assert_no_secrets(result: CliResult) -> None:
    """Neither canary credential leaks into stdout or stderr."""
    for text in (result.stdout, result.stderr):
        assert E2E_SECRET not in text
        assert E2E_KEY not in text


def check_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """The ``check`` table as module → (result, detail)."""
    lines = stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["SOURCE", "MODULE", "RESULT", "DETAIL"]
    starts = [lines[0].index(h) for h in ("MODULE", "RESULT", "DETAIL")]
    rows = {}
    for line in lines[1:]:
        if line.startswith(("capacity ", "freshness ")):  # notes follow the table
            continue
        module = line[starts[0]:starts[1]].strip()
        rows[module] = (line[starts[1]:starts[2]].strip(), line[starts[2]:].strip())
    return rows


def free_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def status_doc(config: Path) -> dict[str, Any]:
    """``status --json`` parsed: it must exit 0 and print exactly one JSON document."""
    result = await run_cli("status", "--json", "--config", str(config))
    assert result.code == 0, result.stderr
    doc, end = json.JSONDecoder().raw_decode(result.stdout)
    assert result.stdout[end:].strip() == ""  # nothing but the one document
    assert isinstance(doc, dict)
    return doc


def modules_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The modules of source ``main`` in a status document, by name."""
    (source,) = doc["sources"]
    return {m["module"]: m for m in source["modules"]}


async def ledger(dsn: str) -> list[asyncpg.Record]:
    """Every committed window, oldest commit first."""
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT module, date_from, date_to, purpose FROM syncd.window ORDER BY id")
        return rows
    finally:
        await conn.close()


def doc_keys(sim: Simulator, module: str, low: dt.date, high: dt.date) -> Counter[tuple[str, str]]:
    """Ground truth: lines per (DocType, Doc1No) of a document module over a range."""
    return Counter((str(r["DocType"]), str(r["Doc1No"]))
                   for r in sim.dataset.records_between(module, low, high))


async def warehouse_doc_keys(dsn: str, module: str) -> Counter[tuple[str, str]]:
    """Lines per live (doctype, doc1no) in the warehouse."""
    rows = await fetch(dsn, f"SELECT h.doctype, h.doc1no, count(l.*) AS n "
                            f"FROM skybiz.{module} h JOIN skybiz.{module}_line l "
                            "USING (source, doctype, doc1no) WHERE h._deleted_at IS NULL "
                            "GROUP BY 1, 2")
    return Counter({(r["doctype"], r["doc1no"]): r["n"] for r in rows})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncd.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def sim_config(start: StartSim, tmp_path: Path, dsn: str, *,
                     modules: list[str] | None = None, **options: Any
                     ) -> tuple[Simulator, Path]:
    """A running simulator and a config whose backfill covers its whole history."""
    sim, url = await start(**options)
    return sim, write(tmp_path, e2e_config_text(url, dsn, sim.dataset.start, modules=modules))


# --- check ------------------------------------------------------------------------------


async def test_check_reports_every_module_ok(simulator: StartSim, tmp_path: Path) -> None:
    """``check`` against a healthy simulator reads all 8 modules, prints them all ok, exits 0."""
    sim, url = await simulator()
    path = write(tmp_path, e2e_config_text(url, "postgresql://unused@127.0.0.1/x",
                                           dt.date(2024, 1, 1)))
    result = await run_cli("check", "--config", str(path))
    assert result.code == 0, result.stderr
    rows = check_rows(result.stdout)
    assert set(rows) == set(MODULES)
    assert {r for r, _ in rows.values()} == {"ok"}
    assert result.sentences == []
    assert_no_secrets(result)
    # 8 modules at 1000 / 1 s: a round costs 8 ms, far inside the default 5-minute interval
    assert f"capacity {urlsplit(url).netloc}: 8 requests per round at 1000 / 1 s" in result.stdout
    first_run = 8 * -(-((sim.dataset.today - dt.date(2024, 1, 1)).days + 1) // 31)
    assert f"the first run (every backfill) takes {first_run} requests" in result.stdout


async def test_check_wrong_secret_is_one_sentence_without_secrets(
    simulator: StartSim, tmp_path: Path
) -> None:
    """A refused secret makes ``check`` exit 1 with one sentence naming the credentials
    variable, and neither the given nor the real secret appears anywhere."""
    _, url = await simulator()
    path = write(tmp_path, e2e_config_text(url, "postgresql://unused@127.0.0.1/x",
                                           dt.date(2024, 1, 1)))
    wrong = "wrong-secret-canary-" + "5e1f" * 11
    env = cli_env(SYNCD_MAIN_API_KEY=E2E_KEY, SYNCD_MAIN_API_SECRET=wrong)
    result = await run_cli("check", "--config", str(path), env=env)
    assert result.code == 1
    sentence = assert_plain_failure(result)
    assert "SYNCD_MAIN_API_" in sentence
    assert {r for r, _ in check_rows(result.stdout).values()} == {"bad credentials"}
    assert_no_secrets(result)
    assert wrong not in result.stdout + result.stderr


async def test_check_reports_denied_module(simulator: StartSim, tmp_path: Path) -> None:
    """A module the key may not read is reported "no read permission"; the rest stay ok."""
    _, url = await simulator(denied_modules=frozenset({"sales"}))
    path = write(tmp_path, e2e_config_text(url, "postgresql://unused@127.0.0.1/x",
                                           dt.date(2024, 1, 1)))
    result = await run_cli("check", "--config", str(path))
    assert result.code == 1
    rows = check_rows(result.stdout)
    assert rows.pop("sales")[0] == "no read permission"
    assert {r for r, _ in rows.values()} == {"ok"}
    assert "sales" in assert_plain_failure(result)


async def test_check_unreachable_port(tmp_path: Path) -> None:
    """A port nobody listens on is reported "unreachable" with exit 1 and no traceback."""
    url = f"http://127.0.0.1:{free_port()}/01/clientportal/apiv2/modules"
    path = write(tmp_path, e2e_config_text(url, "postgresql://unused@127.0.0.1/x",
                                           dt.date(2024, 1, 1), modules=["sales", "item"]))
    result = await run_cli("check", "--config", str(path), limit_s=30)
    assert result.code == 1
    rows = check_rows(result.stdout)
    assert set(rows) == {"sales", "item"}
    assert {r for r, _ in rows.values()} == {"unreachable"}
    assert "Traceback" not in result.stderr
    assert result.sentences
    assert all("base_url" in s for s in result.sentences)
    assert result.stderr.strip().splitlines()[-1] == result.sentences[-1]


async def test_check_unreachable_port_is_one_sentence(tmp_path: Path) -> None:
    """An unreachable base_url is one user error, so ``check`` says it in one sentence."""
    url = f"http://127.0.0.1:{free_port()}/01/clientportal/apiv2/modules"
    path = write(tmp_path, e2e_config_text(url, "postgresql://unused@127.0.0.1/x",
                                           dt.date(2024, 1, 1), modules=["sales", "item"]))
    result = await run_cli("check", "--config", str(path), limit_s=30)
    assert result.code == 1
    assert "base_url" in assert_plain_failure(result)


# --- configuration errors -----------------------------------------------------------------

GOOD_SOURCE = ('[sources.main]\nbase_url = "https://erp.example.com/01/clientportal/apiv2/'
               'modules"\nbackfill_from = "2024-01-01"\n')


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(None, ["no such config file"], id="missing-file"),
        pytest.param(GOOD_SOURCE + 'colour = "blue"\n', ["[sources.main]", "'colour'"],
                     id="unknown-key"),
        pytest.param(GOOD_SOURCE.replace("https://erp", "http://erp"),
                     ["[sources.main] base_url", "https://"], id="http-non-loopback"),
    ],
)
async def test_config_errors_exit_2_with_one_sentence(
    tmp_path: Path, text: str | None, words: list[str]
) -> None:
    """A broken config file makes ``check`` exit 2 with one sentence naming file and key."""
    path = tmp_path / "syncd.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    result = await run_cli("check", "--config", str(path))
    assert result.code == 2
    sentence = assert_plain_failure(result)
    assert str(path) in sentence
    for word in words:
        assert word in sentence
    assert result.stdout == ""


async def test_missing_credentials_exit_2(tmp_path: Path) -> None:
    """Without the credentials variables ``check`` exits 2 naming the variable to set."""
    path = write(tmp_path, GOOD_SOURCE)
    result = await run_cli("check", "--config", str(path), env=cli_env())
    assert result.code == 2
    sentence = assert_plain_failure(result)
    assert "$SYNCD_MAIN_API_KEY" in sentence
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["status", "--json"], ["migrate"], ["sync"]])
async def test_unreachable_warehouse_is_one_sentence(
    simulator: StartSim, tmp_path: Path, command: list[str]
) -> None:
    """A warehouse nobody listens on fails with exit 1 and one sentence pointing at
    [warehouse] dsn, without echoing the DSN's password."""
    _, url = await simulator()
    password = "pw-canary-" + "3c7a" * 6
    dsn = f"postgresql://syncd:{password}@127.0.0.1:{free_port()}/warehouse"
    path = write(tmp_path, e2e_config_text(url, dsn, dt.date(2024, 1, 1)))
    result = await run_cli(*command, "--config", str(path))
    assert result.code == 1
    assert "[warehouse] dsn" in assert_plain_failure(result)
    assert password not in result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
async def test_config_option_before_or_after_command(
    tmp_path: Path, pg_dsn: str, before: bool
) -> None:
    """``--config`` works on either side of the command name (the cwd has no syncd.toml)."""
    path = write(tmp_path, e2e_config_text("https://erp.example.com/m", pg_dsn,
                                           dt.date(2024, 1, 1)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = ["--config", str(path), "migrate"] if before else ["migrate", "--config", str(path)]
    result = await run_cli(*args, cwd=elsewhere)
    assert result.code == 0, result.stderr
    tables = await fetch(pg_dsn, "SELECT to_regclass('syncd.window') IS NOT NULL AS ok")
    assert tables[0]["ok"]


async def test_migrate_twice_is_idempotent(tmp_path: Path, pg_dsn: str) -> None:
    """A second ``migrate`` exits 0, applies nothing and keeps the schema."""
    path = write(tmp_path, e2e_config_text("https://erp.example.com/m", pg_dsn,
                                           dt.date(2024, 1, 1)))
    first = await run_cli("migrate", "--config", str(path))
    second = await run_cli("migrate", "--config", str(path))
    assert (first.code, second.code) == (0, 0), first.stderr + second.stderr
    assert first.stdout.startswith("applied ")
    assert second.stdout.strip() == "warehouse schema is up to date"
    tables = await fetch(pg_dsn, "SELECT count(*) AS n FROM information_schema.tables "
                                 "WHERE table_schema = 'skybiz'")
    assert tables[0]["n"] >= len(MODULES)


# --- sync and status ------------------------------------------------------------------------


async def test_sync_then_status_json(simulator: StartSim, tmp_path: Path, pg_dsn: str) -> None:
    """After a full ``sync`` (exit 0), ``status --json`` is one CONTRACT §5 document with every
    module backfilled and row counts equal to the source's; the status table exits 0 too."""
    sim, path = await sim_config(simulator, tmp_path, pg_dsn)
    result = await run_cli("sync", "--config", str(path))
    assert result.code == 0, result.stderr
    assert result.sentences == []
    assert_no_secrets(result)

    doc = await status_doc(path)
    (source,) = doc["sources"]
    assert (source["name"], source["kind"]) == ("main", "skybiz")
    modules = modules_of(doc)
    assert list(modules) == MODULES
    today = sim.dataset.today.isoformat()
    for name, m in modules.items():
        assert set(m) >= STATUS_KEYS, name
        assert m["backfill_complete"] is True, name
        assert (m["low_watermark"], m["high_watermark"]) == (sim.dataset.start.isoformat(),
                                                               today), name
        assert m["last_error"] is None
        assert dt.datetime.fromisoformat(m["last_success_at"]).tzinfo is not None
        assert m["deleted_rows"] == 0
    assert modules["sales"]["rows"] == len(doc_keys(sim, "sales", sim.dataset.start,
                                                    sim.dataset.today))
    assert modules["customer"]["rows"] == len(
        sim.dataset.records_between("customer", sim.dataset.start, sim.dataset.today))

    assert source["capacity"]["requests_per_round"] == 8
    # the first run: every module's windows from its floor (here backfill_from) to today
    days = (sim.dataset.today - sim.dataset.start).days + 1
    assert source["capacity"]["first_run_requests"] == 8 * -(-days // 31)
    assert source["capacity"]["meets_interval"] is True
    assert source["capacity"]["warning"] is None

    table = await run_cli("status", "--config", str(path))
    assert table.code == 0, table.stderr
    assert "capacity " + source["capacity"]["summary"] in table.stdout
    assert table.stdout.splitlines()[0].split()[:2] == ["SOURCE", "MODULE"]
    rows = [ln.split() for ln in table.stdout.splitlines()[1:]]
    assert {r[1] for r in rows if r[0] == "main"} == set(MODULES)  # notes may follow


async def test_sync_only_selected_modules(simulator: StartSim, tmp_path: Path,
                                          pg_dsn: str) -> None:
    """``sync --module sales --module item`` commits windows for those two modules only."""
    _, path = await sim_config(simulator, tmp_path, pg_dsn)
    result = await run_cli("sync", "--module", "sales", "--module", "item",
                           "--config", str(path))
    assert result.code == 0, result.stderr
    windows = await ledger(pg_dsn)
    assert {w["module"] for w in windows} == {"sales", "item"}
    modules = modules_of(await status_doc(path))
    assert modules["customer"]["high_watermark"] is None
    assert modules["sales"]["backfill_complete"] is True


async def test_sync_with_denied_module(simulator: StartSim, tmp_path: Path, pg_dsn: str) -> None:
    """A 403 on purchase fails only purchase: exit 1, the other modules complete, and its
    last_error says what permission to ask for, in one plain sentence on stderr."""
    _, path = await sim_config(simulator, tmp_path, pg_dsn,
                               denied_modules=frozenset({"purchase"}))
    result = await run_cli("sync", "--config", str(path))
    assert result.code == 1
    sentence = assert_plain_failure(result)
    assert "purchase" in sentence
    modules = modules_of(await status_doc(path))
    purchase = modules.pop("purchase")
    assert "permission" in purchase["last_error"]
    assert purchase["high_watermark"] is None
    for name, m in modules.items():
        assert (m["backfill_complete"], m["last_error"]) == (True, None), name


async def test_sync_with_wrong_secret(simulator: StartSim, tmp_path: Path, pg_dsn: str) -> None:
    """A refused secret fails every module with a last_error naming the credentials, exit 1,
    one plain sentence and no secret in the output."""
    _, path = await sim_config(simulator, tmp_path, pg_dsn)
    env = cli_env(SYNCD_MAIN_API_KEY=E2E_KEY, SYNCD_MAIN_API_SECRET="wrong-" + "0" * 58)
    result = await run_cli("sync", "--config", str(path), env=env)
    assert result.code == 1
    assert "SYNCD_MAIN_API_" in assert_plain_failure(result)
    assert_no_secrets(result)
    modules = modules_of(await status_doc(path))
    for name, m in modules.items():
        assert "SYNCD_MAIN_API_" in (m["last_error"] or ""), name
        assert m["high_watermark"] is None
    assert await ledger(pg_dsn) == []


# --- resync and reset -------------------------------------------------------------------------


async def test_resync_rereads_range_and_keeps_watermarks(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """``resync`` below the loaded range reads exactly that range (ledger purpose resync),
    loads its documents, and leaves the watermarks where they were."""
    sim, url = await simulator()
    today = sim.dataset.today
    backfill_from = today - dt.timedelta(days=20)
    path = write(tmp_path, e2e_config_text(url, pg_dsn, backfill_from, modules=["sales"]))
    assert (await run_cli("sync", "--config", str(path))).code == 0
    before = modules_of(await status_doc(path))["sales"]
    assert before["low_watermark"] == backfill_from.isoformat()

    low, high = backfill_from - dt.timedelta(days=5), backfill_from - dt.timedelta(days=1)
    result = await run_cli("resync", "--module", "sales", "--from", low.isoformat(),
                           "--to", high.isoformat(), "--config", str(path))
    assert result.code == 0, result.stderr
    windows = await ledger(pg_dsn)
    assert [(w["date_from"], w["date_to"]) for w in windows if w["purpose"] == "resync"] == [
        (low, high)]
    after = modules_of(await status_doc(path))["sales"]
    assert (after["low_watermark"], after["high_watermark"]) == (
        before["low_watermark"], before["high_watermark"])
    assert await warehouse_doc_keys(pg_dsn, "sales") == doc_keys(sim, "sales", low, today)


async def test_resync_detects_deleted_document(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """A document deleted at the source is marked ``_deleted_at`` by a resync of its day,
    and only that one."""
    sim, url = await simulator()
    today = sim.dataset.today
    path = write(tmp_path, e2e_config_text(url, pg_dsn, today - dt.timedelta(days=20),
                                           modules=["sales"]))
    assert (await run_cli("sync", "--config", str(path))).code == 0
    day = next(today - dt.timedelta(days=n) for n in range(3, 20)
               if sim.dataset.documents("sales", today - dt.timedelta(days=n),
                                        today - dt.timedelta(days=n)))
    gone = sim.dataset.documents("sales", day, day)[0].header
    sim.dataset.delete_document("sales", str(gone["DocType"]), str(gone["Doc1No"]))

    result = await run_cli("resync", "--module", "sales", "--from", day.isoformat(),
                           "--to", day.isoformat(), "--config", str(path))
    assert result.code == 0, result.stderr
    deleted = await fetch(pg_dsn, "SELECT doctype, doc1no FROM skybiz.sales "
                                  "WHERE _deleted_at IS NOT NULL")
    assert [(r["doctype"], r["doc1no"]) for r in deleted] == [
        (str(gone["DocType"]), str(gone["Doc1No"]))]
    assert modules_of(await status_doc(path))["sales"]["deleted_rows"] == 1


async def test_reset_then_sync_backfills_again(
    simulator: StartSim, tmp_path: Path, pg_dsn: str
) -> None:
    """``reset`` forgets sales' watermarks (status shows null); the next ``sync`` backfills it
    again and the warehouse still holds each document and line exactly once."""
    sim, path = await sim_config(simulator, tmp_path, pg_dsn, modules=["sales", "item"])
    assert (await run_cli("sync", "--config", str(path))).code == 0
    result = await run_cli("reset", "--module", "sales", "--config", str(path))
    assert result.code == 0, result.stderr
    assert "forgotten" in result.stdout
    modules = modules_of(await status_doc(path))
    assert (modules["sales"]["low_watermark"], modules["sales"]["high_watermark"],
            modules["sales"]["backfill_complete"]) == (None, None, False)
    assert modules["item"]["high_watermark"] == sim.dataset.today.isoformat()

    first = len(await ledger(pg_dsn))
    assert (await run_cli("sync", "--module", "sales", "--config", str(path))).code == 0
    rerun = [w for w in (await ledger(pg_dsn))[first:] if w["module"] == "sales"]
    assert rerun[-1]["date_from"] == sim.dataset.start  # backfilled down to backfill_from
    sales = modules_of(await status_doc(path))["sales"]
    assert sales["low_watermark"] == sim.dataset.start.isoformat()
    truth = doc_keys(sim, "sales", sim.dataset.start, sim.dataset.today)
    assert await warehouse_doc_keys(pg_dsn, "sales") == truth
    total = await fetch(pg_dsn, "SELECT (SELECT count(*) FROM skybiz.sales) AS docs, "
                                "(SELECT count(*) FROM skybiz.sales_line) AS lines")
    assert (total[0]["docs"], total[0]["lines"]) == (len(truth), sum(truth.values()))

