"""structlog set-up: JSON lines (or console) on stderr, secrets redacted everywhere.

stdout is reserved for a command's answer; journald captures stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from syncd.core.text import printable
from syncd.credentials import redaction
from syncd.credentials.lookup import Secret

REDACTED = redaction.REDACTED
SENSITIVE_KEYS = frozenset({"api_key", "api_secret", "authorization", "x-signature",
                            "password", "dsn", "requested_by"})


def register_secret(value: str) -> None:
    """Also scrub this value (and its encoded forms) wherever it appears in a logged string."""
    redaction.remember(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, str):
        return redaction.scrub(value)
    if isinstance(value, BaseException):  # rendered with str() later, past this processor
        return redaction.scrub(str(value))
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _scrub(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask sensitive keys and known secret values at any depth."""
    scrubbed = _scrub(dict(event))
    event.clear()
    event.update(scrubbed)
    return event


def _printable(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        return printable(value, lines=key in _MULTILINE)
    if isinstance(value, dict):
        return {printable(str(k)): _printable(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_printable(v) for v in value)
    if isinstance(value, BaseException):
        return printable(str(value))
    return value


_MULTILINE = frozenset({"exception", "stack"})  # tracebacks keep their lines


def terminal_safe(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor for the console: control characters (ESC, bidi overrides) from
    a server never reach the terminal. JSON lines escape them by themselves."""
    cleaned = _printable(dict(event))
    event.clear()
    event.update(cleaned)
    return event


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now (it may be swapped after configure)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _route_stdlib_logging(shared: list[Any], renderer: Any) -> None:
    """Libraries that use ``logging`` (APScheduler, asyncio) log through the same
    processors, so stderr carries only our JSON (or console) lines."""
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    # "job skipped: maximum number of running instances" is how max_instances=1 works.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def configure(log_format: str = "console", level: int = logging.INFO) -> None:
    """Route structlog to stderr in ``json`` or ``console`` form."""
    renderer: Any
    console: list[Any] = []
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        console = [terminal_safe]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks as plain text: dict_tracebacks would render frame locals, and a
        # local variable may hold a secret.
        structlog.processors.format_exc_info,
        redact,
        *console,
    ]
    _route_stdlib_logging(shared, renderer)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
