"""Form-encoded SKYBIZ requests (CONTRACT §10): PHP's http_build_query, and a server that
reads only form fields (the simulator's ``--form-only``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.credentials.lookup import Credentials, Secret
from syncd.kinds.skybiz import form
from syncd.kinds.skybiz import modules as skybiz
from syncd.kinds.skybiz.client import read_payload
from syncd_simulator import Simulator, SimulatorOptions, cli, phpform

TODAY = dt.date(2026, 4, 30)
OPTIONS = SimulatorOptions(today=TODAY, rate_requests=100_000)
CREDS = Credentials(Secret(OPTIONS.api_key), Secret(OPTIONS.api_secret))


@pytest.mark.parametrize(("payload", "encoded"), [
    # The examples of PHP's manual for http_build_query, and its documented special cases;
    # lists of scalars as name[]= (CONTRACT §10), which PHP reads as the same array.
    ({"foo": "bar", "baz": "boom", "cow": "milk", "null": None, "php": "hypertext processor"},
     "foo=bar&baz=boom&cow=milk&php=hypertext+processor"),
    ({"user": {"name": "Bob Smith", "age": 47, "sex": "M", "dob": "5/12/1956"},
      "pastimes": ["golf", "opera", "poker", "rap"],
      "children": {"bobby": {"age": 12, "sex": "M"}, "sally": {"age": 8, "sex": "F"}}},
     "user%5Bname%5D=Bob+Smith&user%5Bage%5D=47&user%5Bsex%5D=M&user%5Bdob%5D=5%2F12%2F1956"
     "&pastimes%5B%5D=golf&pastimes%5B%5D=opera&pastimes%5B%5D=poker&pastimes%5B%5D=rap"
     "&children%5Bbobby%5D%5Bage%5D=12&children%5Bbobby%5D%5Bsex%5D=M"
     "&children%5Bsally%5D%5Bage%5D=8&children%5Bsally%5D%5Bsex%5D=F"),
    ({"yes": True, "no": False}, "yes=1&no=0"),
    ({"fields": [], "filters": {}, "action": "read"}, "action=read"),
    ({"amount": Decimal("1234.5600"), "tiny": Decimal("1E-7")}, "amount=1234.5600&tiny=1E-7"),
    ({"fields": ["CusCode", "CusName"], "filters": {"DocType": "SL", "Area": "K L"}},
     "fields%5B%5D=CusCode&fields%5B%5D=CusName&filters%5BDocType%5D=SL"
     "&filters%5BArea%5D=K+L"),
    ({"a~b": "x~y-_.*", "é": "ü&="}, "a%7Eb=x%7Ey-_.%2A&%C3%A9=%C3%BC%26%3D"),
    ({"docs": [{"Qty": 2, "items": [{"x": "1"}]}]},
     "docs%5B0%5D%5BQty%5D=2&docs%5B0%5D%5Bitems%5D%5B0%5D%5Bx%5D=1"),
])
def test_encode_is_php_http_build_query(payload: dict[str, Any], encoded: str) -> None:
    """encode gives the bytes PHP's http_build_query gives for the same array (scalar lists
    with empty brackets)."""
    assert form.encode(payload) == encoded.encode()


def test_a_float_is_refused() -> None:
    """Money never goes as a float: encoding one is a TypeError, not a rounded digit."""
    with pytest.raises(TypeError, match="float"):
        form.encode({"amount": 0.1})


values = st.recursive(
    st.text(max_size=12) | st.integers() | st.booleans() | st.decimals(allow_nan=False,
                                                                       allow_infinity=False),
    lambda inner: st.lists(inner, min_size=1, max_size=3)
    | st.dictionaries(st.text("abcXYZ_09 .~é", min_size=1, max_size=6), inner, min_size=1,
                      max_size=3), max_leaves=12)


def _as_post(value: Any, top: bool = True) -> Any:
    """What PHP's $_POST holds for a value: strings, booleans as "1"/"0"; a nested array
    keyed 0..n-1 is a list (PHP cannot tell the two apart)."""
    if isinstance(value, dict):
        converted = {k: _as_post(v, False) for k, v in value.items()}
        if not top and list(converted) == [str(i) for i in range(len(converted))]:
            return list(converted.values())
        return converted
    if isinstance(value, list):
        return [_as_post(v, False) for v in value]
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@settings(max_examples=200, deadline=None)
@given(payload=st.dictionaries(st.text("abcdefXYZ_0189", min_size=1, max_size=8), values,
                               max_size=4))
def test_what_encode_sends_php_reads_back(payload: dict[str, Any]) -> None:
    """The simulator's $_POST parser reads back every value encode sent, as strings."""
    assert phpform.parse(form.encode(payload)) == _as_post(payload)


def test_php_reads_both_array_spellings_alike() -> None:
    """``fields[]=…`` and ``fields[0]=…`` fill $_POST with the same array."""
    assert phpform.parse(b"fields[]=A&fields[]=B&f.x=1") == \
        phpform.parse(b"fields%5B0%5D=A&fields%5B1%5D=B&f_x=1") == \
        {"fields": ["A", "B"], "f_x": "1"}


@pytest.mark.parametrize(("status", "body", "expected"), [
    (400, b'{"status":"error","message":"API key and secret are required"}', True),
    (400, b'Notice: x\n{"status":"error","message":"API key and secret  are REQUIRED."}', True),
    (400, b"API key and secret are required", True),
    (400, b'{"status":"error","message":"Invalid JSON input"}', False),
    (401, b'{"status":"error","message":"API key and secret are required"}', False),
    (200, b'{"status":"success","data":[]}', False),
    (400, b'{"status":"error","message":' + b"[" * 5000, False),
    (400, b"", False),
])
def test_the_form_only_answer_is_recognised(status: int, body: bytes, expected: bool) -> None:
    """Only a 400 saying "API key and secret are required" marks a form-only server."""
    assert form.is_form_only_answer(status, body) is expected


# --- the simulator's --form-only mode over a real socket -----------------------------------


Client = TestClient[Any, Any]


@pytest.fixture
async def started() -> AsyncIterator[Callable[[SimulatorOptions], Awaitable[Client]]]:
    """Start simulators on real sockets, closed after the test."""
    clients: list[Client] = []

    async def start(options: SimulatorOptions) -> Client:
        client: Client = TestClient(TestServer(Simulator(options).app()))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def _path(module: str) -> str:
    return f"/01/clientportal/apiv2/modules/{skybiz.get(module).endpoint}"


def _payload(module: str, fields: tuple[str, ...] = ()) -> dict[str, Any]:
    return read_payload(skybiz.get(module), CREDS, TODAY - dt.timedelta(days=30), TODAY,
                        fields)


async def _records(client: Client, module: str, *, data: bytes | None = None,
                   payload: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    headers = {"Content-Type": form.CONTENT_TYPE} if data is not None else None
    resp = await client.post(_path(module), data=data, json=payload, headers=headers)
    assert resp.status == 200, await resp.text()
    doc = json.loads(await resp.text(), parse_float=Decimal)
    inner = doc["data"]
    records: list[dict[str, Any]] = inner["data"] if isinstance(inner, dict) else inner
    return records


async def test_form_only_answers_json_400_as_the_docs_shape_it(
        started: Callable[[SimulatorOptions], Awaitable[Client]]) -> None:
    """A JSON read to a --form-only simulator is 400 with the documented error envelope."""
    client = await started(SimulatorOptions(today=TODAY, rate_requests=100_000,
                                            form_only=True))
    resp = await client.post(_path("sales"), json=_payload("sales"))
    body = await resp.read()
    assert resp.status == 400
    doc = json.loads(body)
    assert (doc["status"], doc["message"]) == ("error", "API key and secret are required")
    assert {"timestamp", "request_id"} <= set(doc)
    assert form.is_form_only_answer(resp.status, body)


@pytest.mark.parametrize(("module", "fields"), [
    ("sales", ()), ("customer", ("CusCode", "CusName")), ("price_matrix", ())])
async def test_a_form_read_gets_what_a_json_read_gets(
        started: Callable[[SimulatorOptions], Awaitable[Client]], module: str,
        fields: tuple[str, ...]) -> None:
    """The same read, form-encoded to a --form-only simulator, answers exactly the records
    a JSON read gets from a normal one (fields and price-matrix parameters honoured)."""
    json_server = await started(OPTIONS)
    form_server = await started(SimulatorOptions(today=TODAY, rate_requests=100_000,
                                                 form_only=True))
    payload = _payload(module, fields)
    expected = await _records(json_server, module, payload=payload)
    assert expected
    got = await _records(form_server, module, data=form.encode(payload))
    assert got == expected


def test_the_command_line_flag_sets_form_only() -> None:
    """``syncd simulate --form-only`` builds a form-only simulator."""
    import argparse

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.options_from(parser.parse_args(["--form-only"])).form_only is True
    assert cli.options_from(parser.parse_args([])).form_only is False


# --- syncd against a form-only server, end to end ------------------------------------------

async def test_sync_against_a_form_only_server_switches_once_and_is_exact(
        tmp_path: Path, pg_dsn: str) -> None:
    """Against a server that reads only $_POST, the first JSON read is answered 400 "API key
    and secret are required"; syncd sends it again form-encoded, keeps form for the host,
    loads every module exactly, and status names the encoding."""
    from syncd.kinds.skybiz import client
    from syncd.kinds.skybiz import modules as skybiz
    from syncd.service.status import document
    from tests.test_sync import assert_matches_source, make_env

    client.ENCODINGS.clear()
    async for env in make_env(tmp_path, pg_dsn, form_only=True):
        runs = await env.sync()
        assert [r.error for r in runs] == [None] * len(skybiz.MODULES)
        for module in skybiz.MODULES:
            await assert_matches_source(env, module)
        refused = [r for r in env.sim.requests if r.status == 400]
        # one JSON try per module already in flight when the first answer came, then form
        assert 1 <= len(refused) <= len(skybiz.MODULES)
        assert len(env.sim.requests) > 3 * len(refused)
        doc = await document(env.cfg, env.now)
        assert doc["sources"][0]["request_encoding"] == "form"
        client.ENCODINGS.clear()  # a new process: the warehouse remembers
        await env.sync()
        assert len([r for r in env.sim.requests if r.status == 400]) == len(refused)
    client.ENCODINGS.clear()


async def test_a_json_server_keeps_json(tmp_path: Path, pg_dsn: str) -> None:
    """A server that reads JSON never sees a form request: status says json."""
    from syncd.kinds.skybiz import client
    from syncd.service.status import document
    from tests.test_sync import make_env

    client.ENCODINGS.clear()
    async for env in make_env(tmp_path, pg_dsn):
        await env.sync(modules=("customer",))
        doc = await document(env.cfg, env.now)
        assert doc["sources"][0]["request_encoding"] == "json"
        assert client.ENCODINGS == {}
