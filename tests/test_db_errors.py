"""``db_errors``: every way asyncpg fails under a statement ends in one WarehouseError
sentence (CONTRACT §10: no traceback when the warehouse goes away)."""

from __future__ import annotations

import asyncpg
import pytest

from syncd.core.errors import RetriableError, WarehouseError
from syncd.warehouse.db import db_errors


@pytest.mark.parametrize("exc", [
    # A server that sent its last error and hung up before asyncpg saw the close: the next
    # statement meets the protocol still consuming that error (not an InterfaceError).
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in "
                                "progress"),
    asyncpg.InternalClientError("not connected"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator "
                                          "command"),
    ConnectionResetError("Connection reset by peer"),
])
def test_a_connection_gone_under_a_statement_is_one_sentence(exc: Exception) -> None:
    with pytest.raises(WarehouseError) as raised, db_errors("loading sales"):
        raise exc
    text = str(raised.value)
    assert text.startswith("loading sales: ")
    assert text.count(". ") <= 1
    assert text.endswith(".")
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_a_refused_value_is_retried() -> None:
    with pytest.raises(RetriableError), db_errors("loading sales"):
        raise asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax")
