"""The API key's renewal date: read beside the key, shown by status, /metrics and the page."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncd import config
from syncd.cli import report
from syncd.service import statuspage
from syncd.service.metrics import Metrics
from tests.conftest import cli_env, run_cli

SOURCE = '[sources.main]\nbase_url = "https://erp.example.com/m"\nbackfill_from = "2024-01-01"\n'


def with_renewal(tmp_path: Path, text: str = "2027-12-02") -> Path:
    (tmp_path / "data/credentials").mkdir(parents=True)
    (tmp_path / "data/credentials/main.renewal").write_text(text)
    path = tmp_path / "syncd.toml"
    path.write_text(f'[warehouse]\ndata_dir = "{tmp_path / "data"}"\n\n{SOURCE}')
    return path


def test_config_carries_the_stored_renewal_date(tmp_path: Path) -> None:
    """Every command's config knows the date `syncd register` stored for the source."""
    cfg = config.load(with_renewal(tmp_path), env={})
    assert cfg.source("main").renewal_date == dt.date(2027, 12, 2)


@pytest.mark.parametrize(("renewal", "today", "shown"), [
    ("2027-12-31", "2027-12-01", None),
    ("2027-12-15", "2027-12-01", "must be renewed by 2027-12-15 (14 days left)"),
    ("2027-12-02", "2027-12-01", "must be renewed by 2027-12-02 (1 day left)"),
    ("2027-11-30", "2027-12-01", "expired after 2027-11-30"),
    (None, "2027-12-01", None),
])
def test_status_page_warns_14_days_ahead(renewal: str | None, today: str,
                                         shown: str | None) -> None:
    """No banner until 14 days before the renewal date; then the days left, then expired."""
    banner = statuspage.renewal_warning(renewal, dt.date.fromisoformat(today))
    if shown is None:
        assert banner == ""
    else:
        assert shown in banner
        assert "syncd register" in banner


def test_status_page_renders_the_banner_for_its_source() -> None:
    """The page of a source whose key expires soon carries the warning."""
    doc = {"sources": [{"name": "main", "kind": "skybiz", "today": "2027-12-01",
                        "renewal_date": "2027-12-05", "modules": []}]}
    page = statuspage.render(doc, dt.datetime(2027, 12, 1, tzinfo=dt.UTC))
    assert "class=warn" in page
    assert "4 days left" in page


def test_metrics_export_the_end_of_the_renewal_day() -> None:
    """The gauge is the first second the key no longer works: midnight after the date."""
    m = Metrics()
    m.set_credential_expiry("main", dt.date(2027, 12, 2), dt.UTC)
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    (sample,) = families["syncd_credential_expiry_timestamp_seconds"].samples
    assert sample.labels == {"source": "main"}
    assert sample.value == dt.datetime(2027, 12, 3, tzinfo=dt.UTC).timestamp()


def test_status_table_notes_the_renewal_date() -> None:
    """The human status output says by when to run syncd register."""
    out = io.StringIO()
    report.status({"sources": [{"name": "main", "renewal_date": "2027-12-02", "modules": []}]},
                  out)
    assert "main: the API key must be renewed by 2027-12-02 (syncd register)" in out.getvalue()


@pytest.mark.slow
async def test_status_json_has_renewal_date_per_source(tmp_path: Path, pg_dsn: str) -> None:
    """`status --json` carries renewal_date per source (null when none is stored)."""
    path = with_renewal(tmp_path)
    path.write_text(path.read_text().replace("[warehouse]\n",
                                             f'[warehouse]\ndsn = "{pg_dsn}"\n'))
    result = await run_cli("status", "--json", "--config", str(path), env=cli_env())
    assert result.code == 0, result.stderr
    (source,) = json.loads(result.stdout)["sources"]
    assert source["renewal_date"] == "2027-12-02"
