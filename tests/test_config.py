"""Configuration loading and validation (CONTRACT §2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd import config
from syncd.core.errors import ConfigError
from syncd.kinds.skybiz import modules as skybiz
from tests.conftest import CREDS, MINIMAL

REPO = Path(__file__).resolve().parent.parent


def test_example_config_loads_with_every_documented_default(tmp_path: Path) -> None:
    """config.example.toml is valid and its values are the documented defaults."""
    cfg = config.load(REPO / "config.example.toml", {"STATE_DIRECTORY": str(tmp_path)})
    src = cfg.source("main")
    assert src.rate_limit == config.RateLimit(5, 10.0, 0.2)
    assert src.modules == tuple(m.name for m in skybiz.MODULES)
    assert src.timezone == "Asia/Kuala_Lumpur"
    assert src.backfill_from == dt.date(2020, 1, 1)
    assert cfg.schedule.interval_seconds == 300
    assert cfg.schedule.push_seconds == 60
    assert (cfg.observability.host, cfg.observability.port) == ("127.0.0.1", 9108)
    assert cfg.warehouse.dsn is None
    assert cfg.warehouse.data_dir == tmp_path


def test_webhooks_listen_defaults_to_the_observability_listener(
    write_config: Callable[[str], Path],
) -> None:
    """Without [webhooks] listen the receiver has no listener of its own; with it, its own."""
    assert config.load(write_config(MINIMAL), {}).webhooks == config.WebhooksConfig()
    cfg = config.load(write_config(MINIMAL + '[webhooks]\nlisten = "[::1]:8443"\n'), {})
    assert (cfg.webhooks.host, cfg.webhooks.port) == ("::1", 8443)
    with pytest.raises(ValueError, match="both a host and a port"):
        config.WebhooksConfig(host="127.0.0.1")


def test_minimal_config_gets_sane_defaults(write_config: Callable[[str], Path]) -> None:
    """Only base_url and backfill_from are required; the rest defaults."""
    cfg = config.load(write_config(MINIMAL), {})
    src = cfg.sources[0]
    assert src.kind == "skybiz"
    assert src.lookback("sales") == 7
    assert src.lookback("item") == 2
    assert src.endpoint_url("sales_order") == (
        "https://erp.example.com/01/clientportal/apiv2/modules/sales_order.php")
    assert cfg.warehouse.data_dir == Path.home() / ".local/share/syncd"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('colour = "red"', "unknown key 'colour'"),
        ('timezone = "Mars/Olympus"', "unknown timezone"),
        ('modules = ["customer", "invoices"]', "unknown module 'invoices'"),
        ('modules = ["customer", "customer"]', "lists a module twice"),
        ("modules = []", "non-empty list"),
        ('kind = "odoo"', "not supported"),
        ('ca_file = "/nonexistent/ca.pem"', "does not exist"),
        ("connect_timeout = 0", "greater than 0"),
        ("[sources.main.rate_limit]\nrequests = 0", "requests: must be a whole number"),
        ("[sources.main.rate_limit]\nrequests = 2.5", "requests: must be a whole number"),
        ("[sources.main.rate_limit]\nper_seconds = -1", "per_seconds: must be a number"),
        ("[sources.main.rate_limit]\nburst = 3", "unknown key 'burst'"),
        ("[sources.main.lookback_days]\nsales = 0", "whole number of days"),
        ("[sources.main.lookback_days]\ninvoices = 3", "unknown key 'invoices'"),
        ('[sources.main.endpoints]\nsales = ""', "non-empty path"),
        ('[schedule]\ninterval = "soon"', "is not a duration"),
        ('[observability]\nlisten = "9108"', "is not HOST:PORT"),
        ('[observability]\nlog_format = "xml"', 'must be "json" or "console"'),
        ('[webhooks]\nlisten = "8443"', "[webhooks] listen: '8443' is not HOST:PORT"),
        ('[webhooks]\nlisten = "0.0.0.0:70000"', "[webhooks] listen"),
        ('[webhooks]\nport = 8443', "unknown key 'port'"),
        ('[warehouse]\ndsn = "mysql://x"', "postgresql:// URL"),
    ],
)
def test_invalid_values_name_file_and_key(
    write_config: Callable[[str], Path], extra: str, needle: str
) -> None:
    """Each invalid value is refused with a message naming the file and the key."""
    path = write_config(MINIMAL + extra + "\n")
    with pytest.raises(ConfigError) as info:
        config.load(path, {})
    assert needle in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://erp.example.com/api", True),
        ("http://localhost:8765/api", True),
        ("http://127.0.0.5:8765/api", True),
        ("http://[::1]:8765/api", True),
        ("http://erp.example.com/api", False),
        ("http://10.0.0.5/api", False),
        ("ftp://erp.example.com/api", False),
        ("https://user:pw@erp.example.com/api", False),
    ],
)
def test_plain_http_only_for_loopback(
    write_config: Callable[[str], Path], url: str, ok: bool
) -> None:
    """http:// is refused unless the host is loopback; https is always accepted."""
    path = write_config(f'[sources.main]\nbase_url = "{url}"\nbackfill_from = 2024-01-01\n')
    if ok:
        assert config.load(path, {}).sources[0].base_url == url
    else:
        with pytest.raises(ConfigError, match="base_url"):
            config.load(path, {})


@pytest.mark.parametrize("value", ['"2024-13-01"', '"01-02-2024"', "5", '""'])
def test_bad_backfill_date(write_config: Callable[[str], Path], value: str) -> None:
    """backfill_from must be a real YYYY-MM-DD date."""
    path = write_config('[sources.main]\nbase_url = "https://x.example"\n'
                        f"backfill_from = {value}\n")
    with pytest.raises(ConfigError, match="backfill_from"):
        config.load(path, {})


def test_missing_file_and_bad_toml(tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    """A missing file or broken TOML is a ConfigError that says what to do."""
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.toml", {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write_config("[sources.main\n"), {})


def test_no_source_is_an_error(write_config: Callable[[str], Path]) -> None:
    """A config without any source cannot sync anything."""
    with pytest.raises(ConfigError, match="no source configured"):
        config.load(write_config("[schedule]\ninterval = \"5m\"\n"), {})


def test_credentials_required_only_when_asked(write_config: Callable[[str], Path]) -> None:
    """Commands that call the API need credentials; the message names the env variable."""
    path = write_config(MINIMAL)
    assert config.load(path, {}).sources[0].credentials is None
    with pytest.raises(ConfigError, match=r"\$SYNCD_MAIN_API_KEY"):
        config.load(path, {}, need_credentials=True)
    creds = config.load(path, CREDS, need_credentials=True).sources[0].credentials
    assert creds is not None
    assert creds.api_key.reveal() == "k" * 25


@pytest.mark.parametrize(
    ("value", "seconds"), [("5m", 300), ("90s", 90), ("1h30m", 5400), (45, 45), ("2h", 7200)])
def test_interval_durations(write_config: Callable[[str], Path], value: object,
                            seconds: float) -> None:
    """Schedule intervals accept h/m/s notation or plain seconds."""
    text = MINIMAL + f'[schedule]\ninterval = {value!r}\n'.replace("'", '"')
    assert config.load(write_config(text), {}).schedule.interval_seconds == seconds


def test_source_today_uses_the_source_calendar(write_config: Callable[[str], Path]) -> None:
    """At 20:00 UTC it is already tomorrow in Kuala Lumpur."""
    src = config.load(write_config(MINIMAL), {}).sources[0]
    now = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.UTC)
    assert src.today(now) == dt.date(2026, 11, 21)


def test_push_schedule(write_config: Callable[[str], Path]) -> None:
    """`[schedule] push` defaults to one minute and takes the same durations as interval."""
    assert config.load(write_config(MINIMAL), {}).schedule.push_seconds == 60
    text = MINIMAL + '[schedule]\npush = "15s"\n'
    assert config.load(write_config(text), {}).schedule.push_seconds == 15
    with pytest.raises(ConfigError, match=r"\[schedule\] push"):
        config.load(write_config(MINIMAL + '[schedule]\npush = "soon"\n'), {})


# --- nonsense refused (issue 17): every number finite and in range, every table a table ---

SOURCE = '[sources.main]\nbase_url = "https://erp.example.com/api"\nbackfill_from = "2024-01-01"\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (SOURCE + "[sources.main.rate_limit]\nper_seconds = nan", "per_seconds"),
        (SOURCE + "[sources.main.rate_limit]\nper_seconds = inf", "per_seconds"),
        (SOURCE + "[sources.main.rate_limit]\nper_seconds = 1e300", "per_seconds"),
        (SOURCE + "[sources.main.rate_limit]\nmargin_seconds = nan", "margin_seconds"),
        (SOURCE + "[sources.main.rate_limit]\nmargin_seconds = inf", "margin_seconds"),
        (SOURCE + "[sources.main.rate_limit]\nmargin_seconds = -0.1", "margin_seconds"),
        (SOURCE + "[sources.main.rate_limit]\nrequests = 99999999999999", "requests"),
        (SOURCE + "connect_timeout = nan", "connect_timeout"),
        (SOURCE + "connect_timeout = inf", "connect_timeout"),
        (SOURCE + "read_timeout = -inf", "read_timeout"),
        (SOURCE + "read_timeout = 1e12", "read_timeout"),
        (SOURCE + "max_answer_mb = 0", "max_answer_mb"),
        (SOURCE + "max_answer_mb = 65537", "max_answer_mb"),
        (SOURCE + "max_answer_mb = 1.5", "max_answer_mb"),
        (SOURCE + "max_answer_mb = true", "max_answer_mb"),
        (SOURCE + 'request_timeout = "0s"', "request_timeout"),
        (SOURCE + 'request_timeout = "25h"', "request_timeout"),
        (SOURCE + "request_timeout = nan", "request_timeout"),
        (SOURCE + "request_timeout = 0.5", "request_timeout"),
        (SOURCE + "[schedule]\ninterval = inf", "[schedule] interval"),
        (SOURCE + "[schedule]\ninterval = nan", "[schedule] interval"),
        (SOURCE + '[schedule]\ninterval = "99999999999h"', "[schedule] interval"),
        (SOURCE + "[schedule]\ninterval = 99999999999999999999", "[schedule] interval"),
        (SOURCE + "[schedule]\ninterval = -5", "[schedule] interval"),
        (SOURCE + '[schedule]\npush = "9999999h"', "[schedule] push"),
        (SOURCE + "[schedule]\nfull_read = inf", "[schedule] full_read"),
        (SOURCE + "[schedule]\nreread_days = 99999999", "[schedule] reread_days"),
        (SOURCE + "[schedule]\nreread = 5", "[schedule] reread"),
        (SOURCE + '[schedule.intervals]\nsales = "1e9h"', "[schedule.intervals] sales"),
        (SOURCE + "[sources.main.lookback_days]\nsales = 9999999999", "sales"),
        ("sources = 5\n", "[sources]"),
        ('sources = "main"\n', "[sources]"),
        ("[sources]\nmain = 5\n", "[sources.main]"),
        ('[sources]\nmain = "https://erp.example.com"\n', "[sources.main]"),
        (SOURCE + "rate_limit = 5", "rate_limit"),
        (SOURCE + 'endpoints = "sales.php"', "endpoints"),
        (SOURCE + "[sources.main.endpoints]\nsales = \"sales.php?x=1\"", "sales"),
        ("schedule = 5\n" + SOURCE, "[schedule]"),
        ("webhooks = 5\n" + SOURCE, "[webhooks]"),
        ("warehouse = []\n" + SOURCE, "[warehouse]"),
        ("observability = 1\n" + SOURCE, "[observability]"),
        (SOURCE.replace("/api", "/api?store=1"), "base_url"),
        (SOURCE.replace("/api", "/api#top"), "base_url"),
        (SOURCE.replace("/api", "/api?"), "base_url"),
        (SOURCE.replace("erp.example.com", "erp.example.com:99999"), "base_url"),
        (SOURCE.replace("/api", "/a pi"), "base_url"),
        (SOURCE + 'register_url = "https://erp.example.com/register.php?x=1"', "register_url"),
        (SOURCE.replace('"2024-01-01"', '"0001-01-01"'), "backfill_from"),
        (SOURCE.replace('"2024-01-01"', '"9999-12-31"'), "backfill_from"),
        ('[warehouse]\ndata_dir = "~nosuchuser-syncd/x"\n' + SOURCE, "[warehouse] data_dir"),
        (SOURCE + 'ca_file = "~nosuchuser-syncd/ca.pem"', "ca_file"),
        (SOURCE + "ca_file = 5", "ca_file"),
    ],
)
def test_nonsense_is_one_sentence_naming_file_and_key(
    write_config: Callable[[str], Path], text: str, key: str
) -> None:
    """Non-finite, out-of-range and wrongly typed values are a ConfigError naming file and key."""
    path = write_config(text + "\n")
    with pytest.raises(ConfigError) as info:
        config.load(path, {"STATE_DIRECTORY": str(path.parent)})
    sentence = str(info.value)
    assert sentence.startswith(f"{path}: ")
    assert key in sentence
    assert "\n" not in sentence
    assert len(sentence) < 400
    assert sentence.endswith((".", ")"))


@pytest.mark.parametrize(
    ("content", "ok"),
    [(b"", False), (b"not a certificate\n", False),
     (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", False),
     (None, True)],
)
def test_ca_file_is_loaded_at_load_time(
    write_config: Callable[[str], Path], tmp_path: Path, content: bytes | None, ok: bool
) -> None:
    """A ca_file that is not a PEM certificate is refused when the config loads, naming the key."""
    ca = tmp_path / "ca.pem"
    if content is None:
        ca.write_bytes(_self_signed_pem(tmp_path))
    else:
        ca.write_bytes(content)
    path = write_config(SOURCE + f'ca_file = "{ca}"\n')
    if ok:
        assert config.load(path, {}).sources[0].ca_file == ca
        return
    with pytest.raises(ConfigError, match=r"\[sources\.main\] ca_file: .*no PEM CA certificate"):
        config.load(path, {})


def _self_signed_pem(tmp_path: Path) -> bytes:
    """A throw-away self-signed certificate in PEM form (openssl)."""
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=test-ca"],
                   check=True, capture_output=True)
    return cert.read_bytes()


def test_new_source_keys_default_and_parse(write_config: Callable[[str], Path]) -> None:
    """max_answer_mb defaults to 1024 and request_timeout to 10 minutes; both can be set."""
    src = config.load(write_config(SOURCE), {}).sources[0]
    assert (src.max_answer_mb, src.request_timeout) == (1024, 600.0)
    text = SOURCE + 'max_answer_mb = 16\nrequest_timeout = "1h30m"\n'
    src = config.load(write_config(text), {}).sources[0]
    assert (src.max_answer_mb, src.request_timeout) == (16, 5400.0)
    src = config.load(write_config(SOURCE + "request_timeout = 24\n"), {}).sources[0]
    assert src.request_timeout == 24.0


@pytest.mark.parametrize(
    ("text", "key"),
    [(SOURCE + "[sources.main.rate_limit]\nper_seconds = nan", "per_seconds"),
     ("sources = 5\n", "[sources]"),
     (SOURCE + '[schedule]\ninterval = "99999999999h"', "[schedule] interval")],
)
def test_cli_exits_2_with_the_sentence(
    write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    """A nonsense config makes a command exit 2 with one ``syncd:`` sentence, no traceback."""
    from syncd.cli.main import main

    path = write_config(text + "\n")
    assert main(["status", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"syncd: {path}: ")
    assert key in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


MASTERS = '[sources.main]\nbase_url = "https://x.example"\nbackfill_from = "2026-01-01"\n'
NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(("line", "expected"), [
    ("", dt.date(2000, 1, 1)),
    ('masters_from = "2014-06-30"\n', dt.date(2014, 6, 30)),
    ("masters_from = 2026-05-01\n", dt.date(2026, 5, 1)),  # today is not the future
])
def test_masters_from_defaults_to_2000_and_sets_the_masters_floor(
    write_config: Callable[[str], Path], line: str, expected: dt.date
) -> None:
    """Masters backfill to masters_from (default 2000-01-01), documents to backfill_from."""
    src = config.load(write_config(MASTERS + line), {}, now=NOW).sources[0]
    assert src.masters_from == expected
    assert {m: src.backfill_floor(m) for m in ("customer", "price_matrix", "sales")} == {
        "customer": expected, "price_matrix": expected, "sales": dt.date(2026, 1, 1)}


@pytest.mark.parametrize(("value", "words"), [
    ('"2026-05-02"', "lies in the future"), ('"2014-13-01"', "is not a date"),
    ("7", "is not a date")])
def test_bad_masters_from(write_config: Callable[[str], Path], value: str, words: str) -> None:
    """masters_from must be a real date no later than the source's today."""
    path = write_config(MASTERS + f"masters_from = {value}\n")
    with pytest.raises(ConfigError, match=f"masters_from: .*{words}"):
        config.load(path, {}, now=NOW)


def test_masters_from_is_a_skybiz_key(write_config: Callable[[str], Path]) -> None:
    """A CloudOnex source refuses masters_from (it has no date windows)."""
    path = write_config('[sources.crm]\nkind = "cloudonex"\nbase_url = "https://x.example"\n'
                        'masters_from = "2000-01-01"\n')
    with pytest.raises(ConfigError, match=r"masters_from.*does not apply"):
        config.load(path, {})
