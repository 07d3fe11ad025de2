"""``syncd webhooks register`` (composition root): register the receiver's URL at the API.

004_ documents only registering (POST /webhooks), so syncd offers no list or delete: a
webhook is removed in the API's own settings. The URL gets an unguessable last segment;
only its SHA-256 is kept in the warehouse, and ``syncd run`` serves that path.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from syncd.config import Config
from syncd.core.errors import ConfigError
from syncd.warehouse import db, hooks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    register = sub.add_parser("register", help="register the receiver's URL at the API")
    register.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                          help="config file (default: $SYNCD_CONFIG, else ./syncd.toml)")
    register.add_argument("--source", required=True, help="the CloudOnex source")
    register.add_argument("--url", required=True,
                          help="public URL that reaches `syncd run`'s listener, e.g. "
                               "https://public.example.com/syncd/hooks")
    register.add_argument("--events", help="comma-separated events (default: invoices, "
                                           "payments and customers)")


def secret_url(url: str) -> tuple[str, str]:
    """The URL with an unguessable last segment, and that segment."""
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ConfigError(f"--url {url!r} must be an https:// URL the API can reach.")
    if parts.query or parts.fragment:
        raise ConfigError(f"--url {url!r} must have no query string or fragment.")
    token = secrets.token_urlsafe(24)
    return f"{url.rstrip('/')}/{token}", token


async def register(cfg: Config, args: argparse.Namespace, out: IO[str]) -> int:
    """Register, then remember the token's hash; prints what was registered."""
    from syncd.engine.hosts import limiters_for

    source = cfg.source(args.source)
    kind = source.source_kind
    if kind.hints_path is None:
        raise ConfigError(f"source {source.name!r} is {kind.label}, which has no webhooks.")
    reader = kind.hints()
    events = tuple(e.strip() for e in args.events.split(",") if e.strip()) \
        if args.events else tuple(reader.events)
    full, token = secret_url(args.url)
    async with db.ready(cfg.warehouse) as dsn, db.connection(dsn) as conn:
        syncer = kind.syncer()
        async with syncer(source, conn, limiter=limiters_for([source])[source.name]) as sync:
            said = await reader.register(sync.client, full, events)
        await hooks.add(conn, source.name, token, args.url, events)
    print(f"{source.name}: registered {full} for {', '.join(events)} ({said})", file=out)
    return 0
