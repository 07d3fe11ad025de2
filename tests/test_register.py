"""``syncd register`` against the bundled simulator over real sockets: every failure path
stores nothing, the happy path writes private files that ``syncd check`` then uses."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import shutil
import socket
import ssl
import stat
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from syncd.config import SkybizOptions, SourceConfig
from syncd.core.errors import ConfigError, RegistrationFailed
from syncd.kinds.skybiz.registration import flow as register
from syncd_simulator import Simulator
from syncd_simulator.registration import REGISTER_PATH, CallbackMode
from tests.conftest import cli_env, run_cli
from tests.serving import served
from tests.waiting import until

Start = Callable[..., Awaitable[tuple[Simulator, str]]]
OLD = {"main.api_key": "old-key", "main.api_secret": "old-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registration_url(base_url: str) -> str:
    return base_url.split("/01/", 1)[0] + REGISTER_PATH


def make_plan(base_url: str, directory: Path, *, timeout: float = 10, scheme: str = "http",
              store_code: str = "S001", **tls: str) -> register.Plan:
    port = free_port()
    source = SourceConfig(name="main", kind="skybiz", base_url=base_url,
                          timezone="Asia/Kuala_Lumpur", options=SkybizOptions(dt.date(2024, 1, 1)),
                          modules=("customer",))
    return register.Plan(
        source=source, url=registration_url(base_url), store_code=store_code, store_main="1",
        callback_url=f"{scheme}://127.0.0.1:{port}/syncd/callback", host="127.0.0.1",
        port=port, directory=directory, timeout=timeout, **tls)


def old_files(directory: Path) -> None:
    directory.mkdir(mode=0o700)
    for name, text in OLD.items():
        (directory / name).write_text(text)


def unchanged(directory: Path) -> bool:
    """Exactly the previous pair is there: nothing written, nothing left behind."""
    return {p.name: p.read_text() for p in directory.iterdir()} == OLD


def sign(secret: str, stamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("mode", "words"), [
    (CallbackMode.BAD_SIGNATURE, "X-Signature did not match its body"),
    (CallbackMode.STALE, "X-Timestamp was more than 300 s away"),
    (CallbackMode.REPLAY, "delivered twice (a replay)"),
    (CallbackMode.WRONG_PATH, "a path other than the single-use one"),
])
async def test_each_bad_callback_stores_nothing(
        simulator: Start, tmp_path: Path, mode: CallbackMode, words: str) -> None:
    """Bad signature, stale timestamp, replay, wrong path: one sentence that says to
    re-register, and the previous files are untouched."""
    sim, base_url = await simulator()
    sim.registration.mode = mode
    old_files(tmp_path / "creds")
    with pytest.raises(RegistrationFailed) as info:
        await register.register(make_plan(base_url, tmp_path / "creds"))
    sentence = str(info.value)
    assert words in sentence
    assert "nothing was stored" in sentence
    assert "run syncd register again" in sentence
    assert sentence.count("\n") == 0
    assert info.value.answer is not None
    assert "callback_status" in info.value.answer
    assert unchanged(tmp_path / "creds")
    assert sim.options.api_secret not in sentence + info.value.answer


@pytest.mark.parametrize(("options", "store_code", "said"), [
    ({"mode": 0}, "S001", "API integration is disabled for this account"),
    ({}, "WRONG", "Store not found"),
])
async def test_a_refused_registration_shows_the_servers_message(
        simulator: Start, tmp_path: Path, options: dict[str, int], store_code: str,
        said: str) -> None:
    """Mode 0 or a wrong store code: the server's words in the sentence, no callback."""
    sim, base_url = await simulator(**options)
    old_files(tmp_path / "creds")
    with pytest.raises(RegistrationFailed) as info:
        await register.register(make_plan(base_url, tmp_path / "creds",
                                          store_code=store_code))
    assert said in str(info.value)
    assert "refused the registration" in str(info.value)
    assert sim.registration.callback_statuses == []
    assert unchanged(tmp_path / "creds")


async def test_no_callback_within_the_timeout(simulator: Start, tmp_path: Path) -> None:
    """A server that never calls back: after --timeout, one sentence and nothing stored."""
    sim, base_url = await simulator()
    sim.registration.mode = CallbackMode.DELAY
    sim.registration.hold = asyncio.Event()  # never set: the callback never comes
    old_files(tmp_path / "creds")
    with pytest.raises(RegistrationFailed) as info:
        await register.register(make_plan(base_url, tmp_path / "creds", timeout=0.5))
    assert "no callback arrived within 0.5 s" in str(info.value)
    assert unchanged(tmp_path / "creds")


async def test_forged_callbacks_are_refused_and_the_real_one_stored(
        simulator: Start, tmp_path: Path) -> None:
    """While the server holds its callback, the test's own forgeries get 404/401; then the
    real callback is verified and only its key is stored."""
    sim, base_url = await simulator()
    sim.registration.mode = CallbackMode.DELAY
    sim.registration.hold = asyncio.Event()
    plan = make_plan(base_url, tmp_path / "creds")
    task = asyncio.create_task(register.register(plan))
    await until(lambda: sim.registration.asked, "the registration request", deadline_s=10)
    url = str(sim.registration.asked[0]["callback_url"])
    assert url.startswith(plan.callback_url + "/")
    assert len(url.rsplit("/", 1)[1]) >= 40  # token_urlsafe(32): 256 bits
    forged = json.dumps({"api_key": "FORGEDFORGEDFORGEDFORGED1", "api_secret": "f" * 64})
    now = str(int(time.time()))
    attempts = [  # (url, timestamp, signature, expected status)
        (url + "x", now, sign("f" * 64, now, forged.encode()), 404),
        (url, now, sign("not-the-key", now, forged.encode()), 401),
        (url, str(int(now) - 301), sign("f" * 64, str(int(now) - 301), forged.encode()), 401),
        (url, now, "zz", 401),
    ]
    async with aiohttp.ClientSession() as session:
        for target, stamp, signature, expected in attempts:
            async with session.post(target, data=forged, headers={
                    "X-Timestamp": stamp, "X-Signature": signature}) as resp:
                assert resp.status == expected
    sim.registration.hold.set()
    done = await asyncio.wait_for(task, 10)
    assert (tmp_path / "creds/main.api_key").read_text() == sim.options.api_key
    assert done.key_tail == sim.options.api_key[-4:]


async def test_a_self_consistent_forgery_wins_nothing(simulator: Start, tmp_path: Path) -> None:
    """A forger who learned the path can sign with its own secret (the HMAC proves no
    origin), but the real delivery is then refused and the server's failed
    the real one, arriving second at the used path, is refused like a replay: neither pair
    is stored."""
    sim, base_url = await simulator()
    sim.registration.mode = CallbackMode.DELAY
    sim.registration.hold = asyncio.Event()
    old_files(tmp_path / "creds")
    task = asyncio.create_task(register.register(make_plan(base_url, tmp_path / "creds")))
    await until(lambda: sim.registration.asked, "the registration request", deadline_s=10)
    url = str(sim.registration.asked[0]["callback_url"])
    forged = json.dumps({"api_key": "FORGEDFORGEDFORGEDFORGED1", "api_secret": "f" * 64})
    now = str(int(time.time()))
    async with aiohttp.ClientSession() as session, session.post(url, data=forged, headers={
            "X-Timestamp": now, "X-Signature": sign("f" * 64, now, forged.encode())}) as resp:
        assert resp.status == 200
    sim.registration.hold.set()
    with pytest.raises(RegistrationFailed) as info:
        await asyncio.wait_for(task, 10)
    assert sim.registration.callback_statuses == [401]
    assert "someone else may hold" in str(info.value)
    assert "nothing was stored" in str(info.value)
    assert unchanged(tmp_path / "creds")


async def test_an_open_directory_is_refused_before_any_request(
        simulator: Start, tmp_path: Path) -> None:
    """A credentials directory other users can read stops the command before the server
    generates a secret that could then not be kept."""
    sim, base_url = await simulator()
    (tmp_path / "creds").mkdir(mode=0o755)
    (tmp_path / "creds").chmod(0o755)
    with pytest.raises(ConfigError) as info:
        await register.register(make_plan(base_url, tmp_path / "creds"))
    assert "chmod 700" in str(info.value)
    assert sim.registration.asked == []


@pytest.mark.parametrize(("url", "ok"), [
    ("https://public.example.com/syncd/callback", True),
    ("http://127.0.0.1:8443/cb", True), ("http://localhost/cb", True), ("http://[::1]/cb", True),
    ("http://public.example.com/cb", False), ("http://10.0.0.5/cb", False),
    ("ftp://example.com/cb", False), ("https://u:p@example.com/cb", False),
    ("https://example.com/cb?x=1", False),
])
def test_callback_url_must_be_https_unless_loopback(url: str, ok: bool) -> None:
    """A non-loopback http:// callback URL (or one with credentials or a query) is refused."""
    if ok:
        assert register.check_url(url, "--callback-url") == url
    else:
        with pytest.raises(ConfigError) as info:
            register.check_url(url, "--callback-url")
        assert str(info.value).startswith("--callback-url")


@pytest.mark.parametrize(("body", "callback_status", "delivered"), [
    (b'{"status":"success","callback_status":"success"}', "success", True),
    (b'{"status":"success","callback_status":true}', "true", True),
    (b'{"status":"success","callback_status":{"status":"ok"}}', "ok", True),
    (b'{"status":"success","callback_status":"failed"}', "failed", False),
    (b'{"status":"success","callback_status":false}', "false", False),
    (b'{"status":"success"}', None, False),
    (b'Warning: x in y.php\n{"status":"success","callback_status":"success"}', "success", True),
    (b'{"status":"success","data":{"callback_status":"success"}}', "success", True),
    (b'{"status":"success","data":{"callback_status":{"status":"failed"}}}', "failed", False),
    (b'{"status":"success","callback_status":"success","data":{"callback_status":"failed"}}',
     "success", True),
    (b'{"status":"success","data":[]}', None, False),
    (b'{"status":"success","data":' + b"[" * 5000 + b"]" * 5000 + b"}", None, False),
])
def test_callback_status_is_read_liberally(body: bytes, callback_status: str | None,
                                           delivered: bool) -> None:
    """callback_status as a word, a boolean or an object all decide delivery the same way."""
    answer = register._answer(200, body)
    assert answer.callback_status == callback_status
    assert answer.delivered is delivered
    assert answer.failed is (callback_status is not None and not delivered)


def test_the_renewal_date_is_read_at_the_top_or_inside_data() -> None:
    """api_renewal_date is found beside callback_status, at the top level or in data."""
    nested = b'{"status":"success","data":{"callback_status":"success",' \
             b'"api_renewal_date":"2027-03-01"}}'
    top = b'{"status":"success","callback_status":"success","api_renewal_date":"2027-03-02"}'
    assert register._answer(200, nested).renewal_date == dt.date(2027, 3, 1)
    assert register._answer(200, top).renewal_date == dt.date(2027, 3, 2)


@pytest.mark.parametrize("nested", [False, True])
async def test_an_answer_nesting_callback_status_in_data_is_stored(
        simulator: Start, tmp_path: Path, nested: bool) -> None:
    """Whether the answer puts callback_status and the renewal date at the top level or
    inside data, the verified callback is stored with the renewal date and no note."""
    sim, base_url = await simulator()
    sim.registration.nested_answer = nested
    done = await register.register(make_plan(base_url, tmp_path / "creds"))
    assert done.key_path.read_text() == sim.options.api_key
    assert (tmp_path / "creds/main.api_secret").read_text() == sim.options.api_secret
    assert done.renewal_date == sim.options.expires
    assert done.answer is not None
    assert done.answer.callback_status == "success"
    assert done.note is None


@pytest.mark.parametrize("nested", [False, True])
async def test_a_verified_callback_is_stored_whatever_the_answer_says(
        simulator: Start, tmp_path: Path, nested: bool) -> None:
    """The secret exists once: when the answer reports the callback failed, the verified
    callback is still stored and one sentence beside the paths says what the answer said."""
    sim, base_url = await simulator()
    sim.registration.mode = CallbackMode.STATUS_FAILED
    sim.registration.nested_answer = nested
    old_files(tmp_path / "creds")
    done = await register.register(make_plan(base_url, tmp_path / "creds"))
    assert done.key_path.read_text() == sim.options.api_key
    assert done.note is not None
    assert "callback_status failed" in done.note
    assert "credentials are stored" in done.note
    assert done.note.count("\n") == 0
    assert sim.options.api_secret not in done.note


async def test_scanners_and_slow_loris_never_end_the_wait(
        simulator: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanner requests (GET /, wrong paths, another method at the path, an oversized body)
    and slow-loris connections arrive before the genuine callback: each is answered, none
    ends the wait, the slow ones are cut off, and the real callback is still stored."""
    from syncd.kinds.skybiz.registration import receiver

    monkeypatch.setattr(receiver, "HEAD_SECONDS", 0.3)
    sim, base_url = await simulator()
    sim.registration.mode = CallbackMode.DELAY
    sim.registration.hold = asyncio.Event()
    plan = make_plan(base_url, tmp_path / "creds")
    task = asyncio.create_task(register.register(plan))
    await until(lambda: sim.registration.asked, "the registration request", deadline_s=10)
    url = str(sim.registration.asked[0]["callback_url"])
    root = f"http://127.0.0.1:{plan.port}"
    slow = [await asyncio.open_connection("127.0.0.1", plan.port) for _ in range(3)]
    for _, writer in slow:
        writer.write(b"POST /syncd/callback HTTP/1.1\r\nHost: x\r\n")  # and never more
    async with aiohttp.ClientSession() as session:
        for method, target, body, expected in [
                ("GET", root + "/", b"", 404), ("GET", root + "/.env", b"", 404),
                ("POST", url + "x", b"{}", 404), ("GET", url, b"", 405),
                ("POST", url, b"x" * 20_000, 401), ("POST", url, b"{}", 401)]:
            async with session.request(method, target, data=body) as resp:
                assert resp.status == expected, (method, target)
    for reader, _ in slow:  # the server cuts each slow connection at the head deadline
        assert await asyncio.wait_for(reader.read(), 10) == b""
    assert not task.done()
    sim.registration.hold.set()
    done = await asyncio.wait_for(task, 10)
    assert done.key_path.read_text() == sim.options.api_key
    assert sim.registration.callback_statuses == [200]
    assert done.note is None


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = shutil.which("openssl")
    assert openssl is not None
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_the_receiver_serves_tls_itself(simulator: Start, tmp_path: Path) -> None:
    """With --tls-cert/--tls-key the callback arrives over HTTPS and is stored."""
    cert, key = _self_signed(tmp_path)
    sim, base_url = await simulator()
    sim.registration.client_ssl = ssl.create_default_context(cafile=str(cert))
    plan = make_plan(base_url, tmp_path / "creds", scheme="https", tls_cert=str(cert),
                     tls_key=str(key))
    done = await register.register(plan)
    assert sim.registration.callback_statuses == [200]
    assert done.key_path.read_text() == sim.options.api_key


@pytest.mark.slow
async def test_happy_path_writes_private_files_and_check_uses_them(
        simulator: Start, tmp_path: Path) -> None:
    """`syncd register` exits 0, writes 0600 files in a 0700 directory, shows the key's
    last 4 characters but never the secret; `syncd check` then works without credential
    variables."""
    sim, base_url = await simulator()
    data_dir = tmp_path / "data"
    config = tmp_path / "syncd.toml"
    config.write_text(f'[warehouse]\ndata_dir = "{data_dir}"\n\n[sources.main]\n'
                      f'base_url = "{base_url}"\nbackfill_from = "2024-01-01"\n'
                      f'modules = ["customer", "item"]\n'
                      f'register_url = "{registration_url(base_url)}"\n')
    port = free_port()
    env = cli_env()
    result = await run_cli("register", "--config", str(config), "--source", "main",
                           "--store-code", "S001", "--store-main", "1",
                           "--callback-url", f"http://127.0.0.1:{port}/syncd/callback",
                           "--listen", f"127.0.0.1:{port}", "--timeout", "20", env=env)
    assert result.code == 0, result.stderr
    creds = data_dir / "credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    for name in ("main.api_key", "main.api_secret", "main.renewal"):
        assert stat.S_IMODE((creds / name).stat().st_mode) == 0o600
    assert (creds / "main.api_secret").read_text() == sim.options.api_secret
    assert sorted(p.name for p in creds.iterdir()) == ["main.api_key", "main.api_secret",
                                                       "main.renewal"]
    renewal = sim.options.expires
    assert renewal is not None
    assert f"…{sim.options.api_key[-4:]}" in result.stdout
    assert renewal.isoformat() in result.stdout
    assert "systemd-creds encrypt --name=main.api_secret" in result.stdout
    assert sim.options.api_secret not in result.stdout + result.stderr
    token = str(sim.registration.asked[0]["callback_url"]).rsplit("/", 1)[1]
    assert token not in result.stdout + result.stderr
    check = await run_cli("check", "--config", str(config), env=env)
    assert check.code == 0, check.stderr
    assert check.stdout.count(" ok ") == 2


@pytest.mark.slow
async def test_refusals_and_config_errors_exit_1_and_2(simulator: Start, tmp_path: Path) -> None:
    """A refused registration exits 1 with the answer on stdout; an http:// public callback
    URL exits 2; both end in one sentence and write nothing."""
    _, base_url = await simulator(mode=0)
    config = tmp_path / "syncd.toml"
    config.write_text(f'[warehouse]\ndata_dir = "{tmp_path / "data"}"\n\n[sources.main]\n'
                      f'base_url = "{base_url}"\nbackfill_from = "2024-01-01"\n')
    port = free_port()
    common = ("register", "--config", str(config), "--source", "main", "--url",
              registration_url(base_url), "--store-code", "S001", "--store-main", "1",
              "--listen", f"127.0.0.1:{port}", "--timeout", "20")
    refused = await run_cli(*common, "--callback-url", f"http://127.0.0.1:{port}/cb",
                            env=cli_env())
    assert refused.code == 1
    assert "HTTP 403" in refused.stdout
    assert refused.sentences == [
        'syncd: the SKYBIZ server refused the registration (HTTP 403: "API integration is '
        'disabled for this account"); check --store-code and --store-main, and that API '
        "integration is enabled for the store; nothing was stored."]
    insecure = await run_cli(*common, "--callback-url", "http://public.example.com/cb",
                             env=cli_env())
    assert insecure.code == 2
    assert len(insecure.sentences) == 1
    assert "use https://" in insecure.sentences[0]
    assert "Traceback" not in refused.stderr + insecure.stderr
    assert not (tmp_path / "data/credentials/main.api_key").exists()


async def test_a_server_that_answers_before_calling_back_is_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the answer says delivered before the callback came, syncd waits for it (within
    --timeout) and then stores it."""
    from aiohttp import web

    answered = asyncio.Event()
    post = register._post

    async def post_then_tell(plan: register.Plan, url: str) -> register.Answer:
        answer = await post(plan, url)
        answered.set()
        return answer

    monkeypatch.setattr(register, "_post", post_then_tell)

    async def call_back(url: str) -> None:
        await answered.wait()  # syncd holds the answer before the callback starts
        body = json.dumps({"api_key": "LATEKEYLATEKEYLATEKEYLATE", "api_secret": "s" * 64})
        now = str(int(time.time()))
        async with aiohttp.ClientSession() as session, session.post(url, data=body, headers={
                "X-Timestamp": now, "X-Signature": sign("s" * 64, now, body.encode())}):
            pass

    async def registration(request: web.Request) -> web.StreamResponse:
        url = (await request.json())["callback_url"]
        answer = web.StreamResponse(headers={"Content-Type": "application/json"})
        await answer.prepare(request)
        await answer.write(b'{"status":"success","callback_status":"success"}')
        await answer.write_eof()
        await call_back(url)
        return answer

    app = web.Application()
    app.router.add_post(REGISTER_PATH, registration)
    async with served(app) as url:
        done = await register.register(make_plan(f"{url}/01/clientportal/apiv2/modules",
                                                 tmp_path / "creds"))
    assert done.key_path.read_text() == "LATEKEYLATEKEYLATEKEYLATE"
    assert done.renewal_date is None
    assert not (tmp_path / "creds/main.renewal").exists()


def test_the_note_is_printed_beside_the_stored_paths(tmp_path: Path) -> None:
    """`syncd register` prints the answer line, the stored paths and then the note."""
    import io

    from syncd.cli import register as register_cli

    answer = register._answer(200, b'{"status":"success","data":{"callback_status":"failed"}}')
    note = register._note(answer)
    assert note is not None
    done = register.Registered(tmp_path / "main.api_key", tmp_path / "main.api_secret", "WXYZ",
                               None, answer, note)
    out = io.StringIO()
    register_cli.render(done, "main", out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("registration answer: HTTP 200, callback_status failed")
    assert lines[1].startswith("stored the credentials of source 'main'")
    assert lines[2] == note
