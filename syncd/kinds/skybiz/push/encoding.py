"""JSON text with exact Decimals: the outbox's shared codec (``syncd.engine.outbox.jsontext``)."""

from syncd.engine.outbox.jsontext import dumps, loads

__all__ = ["dumps", "loads"]
