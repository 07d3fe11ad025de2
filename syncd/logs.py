"""structlog set-up: JSON lines (or console) on stderr, secrets redacted everywhere.

stdout is reserved for a command's answer; journald captures stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from syncd.credentials.lookup import Secret

REDACTED = "**********"
SENSITIVE_KEYS = frozenset({"api_key", "api_secret", "authorization", "x-signature",
                            "password", "dsn", "requested_by"})
_known_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Also scrub this exact value wherever it appears inside a logged string."""
    if len(value) >= 6:
        _known_secrets.add(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, str):
        for secret in _known_secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
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
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks as plain text: dict_tracebacks would render frame locals, and a
        # local variable may hold a secret.
        structlog.processors.format_exc_info,
        redact,
    ]
    _route_stdlib_logging(shared, renderer)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
