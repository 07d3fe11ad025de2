"""``syncd register`` on the command line: its flags, the plan they make, the answer printed."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
from pathlib import Path
from typing import TextIO

from syncd.config import Config
from syncd.core.errors import ConfigError, RegistrationFailed
from syncd.credentials.lookup import env_prefix
from syncd.kinds.options import SkybizOptions
from syncd.kinds.skybiz.registration import flow as register


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, help="the config source to register")
    parser.add_argument("--url", help="registration URL (default: register_url of the source)")
    parser.add_argument("--store-code", required=True, help="the store's unique identifier")
    parser.add_argument("--store-main", required=True, help="the primary store indicator")
    parser.add_argument("--callback-url", required=True, metavar="URL",
                        help="public https:// URL that reaches --listen; syncd appends a "
                        "single-use path segment")
    parser.add_argument("--listen", default="0.0.0.0:8443", metavar="HOST:PORT",
                        help="where the callback receiver listens (default 0.0.0.0:8443)")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="... and this private key")
    parser.add_argument("--credentials-dir", type=Path, metavar="DIR",
                        help="where to write (default: $CREDENTIALS_DIRECTORY, else "
                        "<data_dir>/credentials)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="give up when no callback arrived by then (default 120)")


def plan_from(args: argparse.Namespace, cfg: Config) -> register.Plan:
    """Validate the flags against the config; ConfigError names the flag to fix."""
    source = cfg.source(args.source)
    if not source.source_kind.registers:
        raise ConfigError(f"source {source.name!r} is a {source.source_kind.label} source, "
                          "whose keys are not obtained by syncd register: create an API key "
                          f"in {source.source_kind.label} and set "
                          f"{env_prefix(source.name)}API_KEY.")
    url = args.url or source.options_of(SkybizOptions).register_url
    if not url:
        raise ConfigError(f"no registration URL: pass --url or set register_url in "
                          f"[sources.{source.name}] of {cfg.path}.")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together; give both or neither.")
    if not args.store_code.strip() or not args.store_main.strip():
        raise ConfigError("--store-code and --store-main must not be empty.")
    if not args.timeout > 0:
        raise ConfigError("--timeout must be a number of seconds greater than 0.")
    host, port = register.parse_listen(args.listen)
    env_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    directory = args.credentials_dir or (Path(env_dir) if env_dir
                                         else cfg.warehouse.data_dir / "credentials")
    return register.Plan(
        source=source, url=register.check_url(url, "--url"),
        store_code=args.store_code, store_main=args.store_main,
        callback_url=register.check_url(args.callback_url, "--callback-url"),
        host=host, port=port, directory=directory.expanduser(), timeout=args.timeout,
        tls_cert=args.tls_cert, tls_key=args.tls_key)


def render(done: register.Registered, source: str, out: TextIO) -> None:
    """Where the files are, the key's last 4 characters, renewal, the systemd-creds lines."""
    if done.answer is not None:
        out.write(f"{done.answer.line()}\n")
    out.write(f"stored the credentials of source {source!r}: {done.key_path} (key ending "
              f"…{done.key_tail}) and {done.secret_path}\n")
    if done.note:
        out.write(f"{done.note}\n")
    if done.renewal_date:
        out.write(f"the key must be renewed by {done.renewal_date.isoformat()} "
                  "(run syncd register again before then)\n")
    out.write("for LoadCredentialEncrypted=, encrypt them with:\n")
    for path in (done.key_path, done.secret_path):
        out.write(f"  systemd-creds encrypt --name={path.name} {shlex.quote(str(path))} "
                  f"/etc/credstore.encrypted/{path.name}\n")


def run(args: argparse.Namespace, cfg: Config, out: TextIO) -> int:
    """0 when the files are written; RegistrationFailed (exit 1) after the answer line."""
    plan = plan_from(args, cfg)
    try:
        done = asyncio.run(register.register(plan))
    except RegistrationFailed as exc:
        if exc.answer:
            out.write(exc.answer + "\n")
        raise
    render(done, plan.source.name, out)
    return 0
