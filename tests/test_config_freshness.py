"""[sources.X.freshness] and [alerts] (CONTRACT §11) in the config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from syncd import config
from syncd.core.errors import ConfigError
from tests.conftest import MINIMAL

CRM = """
[sources.crm]
kind = "cloudonex"
base_url = "https://crm.example.com/api/v2"
"""


def test_targets_default_to_the_interval_and_may_be_set_per_module(
        write_config: Callable[[str], Path]) -> None:
    """Given targets win; the others take [schedule.intervals] or [schedule] interval."""
    cfg = config.load(write_config(
        MINIMAL + '\n[sources.main.freshness]\nsales = "5m"\nsupplier = "6h"\n'
        '\n[schedule]\ninterval = "10m"\n[schedule.intervals]\nitem = "1h"\n'), {})
    main = cfg.source("main")
    assert (main.freshness["sales"], main.freshness["supplier"], main.freshness["item"],
            main.freshness["customer"]) == (300, 21600, 3600, 600)
    assert set(main.freshness) == set(main.modules)


def test_paged_resources_read_only_completely_default_to_full_read(
        write_config: Callable[[str], Path]) -> None:
    """CloudOnex customers are read completely every [schedule] full_read: that is their
    default target; invoices (read by date window every interval) keep the interval."""
    cfg = config.load(write_config(CRM + '\n[schedule]\nfull_read = "2h"\n'), {})
    crm = cfg.source("crm")
    assert (crm.freshness["customers"], crm.freshness["invoices"]) == (7200, 300)


@pytest.mark.parametrize(("table", "message"), [
    ('sales = "30s"', "must be from 1m to 30 days"),
    ('sales = "soon"', "is not a duration"),
    ("sales = 1e300", "out of range"),
    ('sails = "5m"', "unknown key 'sails'"),
    ('customers = "5m"', "unknown key 'customers'"),
])
def test_bad_targets_are_refused(write_config: Callable[[str], Path], table: str,
                                 message: str) -> None:
    """Too short, not a duration, absurd or an unknown module: one sentence naming it."""
    with pytest.raises(ConfigError, match=message) as err:
        config.load(write_config(MINIMAL + f"\n[sources.main.freshness]\n{table}\n"), {})
    assert "[sources.main.freshness]" in str(err.value)


def test_a_target_for_a_module_not_synced_is_refused(
        write_config: Callable[[str], Path]) -> None:
    """A target for a module outside the source's modules list would never apply."""
    with pytest.raises(ConfigError, match="not in this source's modules list"):
        config.load(write_config(MINIMAL + 'modules = ["sales"]\n'
                                 '\n[sources.main.freshness]\nitem = "1h"\n'), {})


def test_alerts_table(write_config: Callable[[str], Path]) -> None:
    """Webhooks are kept as secrets; after_failed_passes defaults to 3."""
    cfg = config.load(write_config(MINIMAL + '\n[alerts]\nwebhooks = '
                                   '["https://hooks.example/T0/B0/xyz", '
                                   '"http://127.0.0.1:9/hook"]\n'), {})
    assert [h.reveal() for h in cfg.alerts.webhooks] == [
        "https://hooks.example/T0/B0/xyz", "http://127.0.0.1:9/hook"]
    assert "xyz" not in repr(cfg.alerts)
    assert cfg.alerts.after_failed_passes == 3
    assert config.load(write_config(MINIMAL), {}).alerts.webhooks == ()


@pytest.mark.parametrize(("table", "message"), [
    ('webhooks = "https://x"', "must be a list of URLs"),
    ('webhooks = ["ftp://x/y"]', "is not an http"),
    ('webhooks = ["http://hooks.example/x"]', "plain http:// is refused"),
    ("after_failed_passes = 0", "whole number from 1"),
    ("after = 3", "unknown key"),
])
def test_bad_alerts_are_refused(write_config: Callable[[str], Path], table: str,
                                message: str) -> None:
    """A webhook must be an https URL (it carries its own token); N a whole number."""
    with pytest.raises(ConfigError, match=message):
        config.load(write_config(MINIMAL + f"\n[alerts]\n{table}\n"), {})
