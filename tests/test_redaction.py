"""Credentials never leave through a server's words; terminals get no control characters."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import structlog
from aiohttp import web

from syncd import logs
from syncd.cli import report
from syncd.core.text import printable
from syncd.credentials import redaction
from tests.conftest import cli_env, e2e_config_text, fetch, run_cli
from tests.serving import served

# A secret with the characters that encodings change: "/" (PHP's json_encode: "\/"),
# "+" and "=" (a form body: %2B, %3D).
KEY = "echo-key-canary-4b7e1d9a2c"
SECRET = "echo/secret+canary=" + "8c3f" * 10


def forms(value: str) -> list[str]:
    """``value`` as a server may echo it: raw, percent-encoded, JSON-escaped PHP-style."""
    return [value, quote_plus(value), json.dumps(value)[1:-1].replace("/", "\\/")]


def test_scrub_removes_every_encoded_form() -> None:
    """A remembered credential is scrubbed raw, percent-encoded and JSON-escaped alike."""
    redaction.remember(SECRET)
    for form in forms(SECRET):
        assert redaction.scrub(f"server said: {form}!") == "server said: **********!"


def test_short_values_are_not_remembered() -> None:
    """Values under six characters would scrub ordinary words, so they are not remembered."""
    redaction.remember("abc")
    assert redaction.scrub("abc abcdef") == "abc abcdef"


@pytest.mark.parametrize("size", [10, 300, 5000, 70_000, 2_000_000])
def test_said_is_scrubbed_printable_and_capped(size: int) -> None:
    """A server's message is capped at 300 characters, free of the secret (even cut
    through it) and of control characters, whatever its length."""
    redaction.remember(SECRET)
    filler = ("x\x1b[2J" * size)[:size]
    for text in (filler + SECRET, SECRET + filler, filler + SECRET + filler):
        words = redaction.said(text)
        assert words is not None
        assert len(words) <= 300
        assert "\x1b" not in words
        for n in range(6, len(SECRET) + 1):
            assert SECRET[:n] not in words


@pytest.mark.parametrize(
    ("text", "shown"),
    [("ok", "ok"), ("a\x1b[31mred", "a\ufffd[31mred"), ("bell\x07", "bell\ufffd"),
     ("rtl\u202eevil", "rtl\ufffdevil"), ("c1\x9bx", "c1\ufffdx"),
     ("line\nbreak", "line\ufffdbreak")],
)
def test_printable_replaces_control_characters(text: str, shown: str) -> None:
    """ESC, BEL, C1 controls, bidi overrides and line breaks become U+FFFD."""
    assert printable(text) == shown


def test_tables_strip_control_characters() -> None:
    """The status/check table never writes a server's escape sequence to the terminal."""
    out = io.StringIO()
    report.table([("A", "B"), ("x\x1b]0;pwned\x07", "y\x1b[2J")], out)
    assert "\x1b" not in out.getvalue()
    assert "\x07" not in out.getvalue()


def test_console_log_lines_are_redacted_and_printable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A console log line carries neither a loaded credential nor an ESC sequence."""
    logs.configure("console", logging.INFO)
    redaction.remember(SECRET)
    structlog.get_logger("t").warning("t.echo", said=f"\x1b[2J{SECRET}",
                                      error=ValueError(quote_plus(SECRET)))
    text = capsys.readouterr().err
    assert "t.echo" in text
    assert all(form not in text for form in forms(SECRET))
    assert "\x1b[2J" not in text


# --- a server that echoes the request into its error messages ---------------------------


async def _echo(request: web.Request) -> web.Response:
    """Answer every read with an error whose message is the request as received."""
    body = (await request.read()).decode()
    echoed = f"{request.method} {request.path_qs} {dict(request.headers)} {body}"
    module = request.path.rsplit("/", 1)[-1].removesuffix(".php")
    status, envelope = {"customer": (403, "error"), "sales": (400, "error"),
                        "item": (200, "error")}[module]
    text = json.dumps({"status": envelope, "message": f"Permission denied: {echoed}",
                       "request_id": echoed[:200]})
    return web.Response(status=status, text=text.replace("/", "\\/"),
                        content_type="application/json")


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    """A SKYBIZ-like server on a real socket that echoes every request in its message."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    async with served(app) as url:
        yield f"{url}/01/clientportal/apiv2/modules"


@pytest.mark.slow
async def test_an_echoing_server_leaks_no_credential(
    echo_url: str, tmp_path: Path, pg_dsn: str
) -> None:
    """Against a server echoing the request (key and secret) in its messages, neither
    appears in any form in logs, stdout, last_error or status JSON, while the echo does."""
    path = tmp_path / "syncd.toml"
    path.write_text(e2e_config_text(echo_url, pg_dsn, dt.date(2024, 1, 1),
                                    modules=["customer", "sales", "item"]), encoding="utf-8")
    env = cli_env(SYNCD_MAIN_API_KEY=KEY, SYNCD_MAIN_API_SECRET=SECRET)
    runs = [await run_cli(*cmd, "--config", str(path), env=env)
            for cmd in (["migrate"], ["check"], ["sync"], ["status", "--json"], ["status"])]
    assert [r.code for r in runs] == [0, 1, 1, 0, 0], [r.stderr[-500:] for r in runs]
    rows = await fetch(pg_dsn, "SELECT module, last_error FROM syncd.module_state "
                               "WHERE source = 'main' ORDER BY module")
    errors = {r["module"]: r["last_error"] for r in rows}
    assert set(errors) == {"customer", "sales", "item"}
    assert all("Permission denied: POST" in (e or "") for e in errors.values()), errors
    everything = "\n".join([*(r.stdout + r.stderr for r in runs), *map(str, errors.values())])
    for value in (KEY, SECRET):
        for form in forms(value):
            assert form not in everything, form
    assert "**********" in everything


def test_every_loaded_credential_is_remembered(tmp_path: Path) -> None:
    """Credentials from the environment, $CREDENTIALS_DIRECTORY files and the DSN's
    password are scrubbed from text as soon as they are loaded."""
    from syncd import config
    from syncd.credentials.lookup import load_credentials

    env_key, file_secret, password = ("env-key-" + "1a2b" * 5, "file-secret-" + "3c4d" * 8,
                                      "pg-pass-" + "5e6f" * 4)
    (tmp_path / "main.api_secret").write_text(file_secret + "\n")
    load_credentials("main", {"SYNCD_MAIN_API_KEY": env_key,
                              "CREDENTIALS_DIRECTORY": str(tmp_path)})
    path = tmp_path / "syncd.toml"
    path.write_text(f'[warehouse]\ndsn = "postgresql://syncd:{password}@db/w"\n'
                    '[sources.main]\nbase_url = "https://erp.example.com/api"\n'
                    'backfill_from = "2024-01-01"\n', encoding="utf-8")
    config.load(path, {})
    for value in (env_key, file_secret, password):
        assert redaction.scrub(f"echo {value} echo") == "echo ********** echo"
