"""The ``syncd`` command line: parse, build what the command needs, map errors to exits.

Expected failures (bad config, 401, 403, unreachable host) end in one plain sentence on
stderr and an exit code — never a traceback. stdout carries only the command's answer.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from syncd import __version__, config, logs
from syncd.core.errors import ConfigError, SyncdError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the command: both parsers know it, and
    # SUPPRESS keeps the sub-parser from overwriting a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="config file (default: $SYNCD_CONFIG, else ./syncd.toml)")
    parser = argparse.ArgumentParser(
        prog="syncd", parents=[common],
        description="Incremental sync of SKYBIZ ERP data into a PostgreSQL warehouse.")
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("migrate", parents=[common],
                   help="create or upgrade the warehouse schema (idempotent)")
    sync = sub.add_parser("sync", parents=[common],
                          help="one pass: backfill or catch up, then exit")
    sync.add_argument("--source", help="only this source")
    sync.add_argument("--module", action="append", default=[], help="only this module (repeat)")
    sub.add_parser("run", parents=[common],
                   help="the daemon: migrate, then sync every module on schedule until SIGTERM")
    status = sub.add_parser("status", parents=[common],
                            help="watermarks, backfill progress, rows, last success and error")
    status.add_argument("--json", action="store_true", help="one JSON document on stdout")
    resync = sub.add_parser("resync", parents=[common],
                            help="re-read a date range now; watermarks untouched")
    resync.add_argument("--source", help="only this source")
    resync.add_argument("--module", action="append", required=True, help="module (repeat)")
    resync.add_argument("--from", dest="date_from", required=True, type=_date, metavar="DATE")
    resync.add_argument("--to", dest="date_to", required=True, type=_date, metavar="DATE")
    reset = sub.add_parser("reset", parents=[common],
                           help="forget a module's watermarks so the next sync backfills it")
    reset.add_argument("--source", help="only this source (default: every source)")
    reset.add_argument("--module", required=True)
    sub.add_parser("check", parents=[common],
                   help="validate config, reach the API, report per module access")
    register = sub.add_parser("register", parents=[common],
                              help="obtain SKYBIZ credentials: request + verified callback")
    from syncd.cli import register as register_cli

    register_cli.add_arguments(register)
    simulate = sub.add_parser("simulate", parents=[common],
                              help="run the bundled SKYBIZ (or CloudOnex) API simulator")
    from syncd_simulator import cli as simulator_cli

    simulator_cli.add_arguments(simulate)
    push = sub.add_parser("push", parents=[common],
                          help="send the outbox's pending documents to the API")
    push.add_argument("--source", help="only this source")
    push.add_argument("--module", action="append", default=[],
                      help="only this module: sales, purchase, customer (SKYBIZ); customers, "
                           "invoices, … (CloudOnex) (repeat)")
    push.add_argument("--dry-run", action="store_true", help="only validate; send nothing")
    push.add_argument("--file", type=Path, help="first add the documents of this JSON file")
    alerts = sub.add_parser("alerts", parents=[common], help="the [alerts] webhooks")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    alerts_sub.add_parser("test", parents=[common],
                          help="send one test alert to every endpoint; say what each answered")
    webhooks = sub.add_parser("webhooks", parents=[common],
                              help="register a webhook so `syncd run` hears of changes at once")
    from syncd.cli import webhooks as webhooks_cli

    webhooks_cli.add_arguments(webhooks)
    demo = sub.add_parser("demo", parents=[common],
                          help="the whole product on one machine against the simulator")
    demo.add_argument("--keep", action="store_true",
                      help="afterwards keep running as `syncd run` with the status page")
    return parser


def config_path(args: argparse.Namespace) -> Path:
    given: Path | None = getattr(args, "config", None)
    return given or config.default_path(os.environ)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def _load(args: argparse.Namespace, *, need_credentials: bool = False) -> config.Config:
    cfg = config.load(config_path(args), need_credentials=need_credentials)
    logs.configure(_log_format(cfg), logging.WARNING if sys.stderr.isatty() else logging.INFO)
    return cfg


def cmd_migrate(args: argparse.Namespace) -> int:
    from syncd.cli import commands

    applied = asyncio.run(commands.migrate(_load(args)))
    print(f"applied {', '.join(applied)}" if applied else "warehouse schema is up to date")
    return EXIT_OK


def cmd_sync(args: argparse.Namespace, resync: object = None) -> int:
    from syncd.cli import commands, report
    from syncd.engine import progress

    cfg = _load(args, need_credentials=True)
    sources = commands.select(cfg, args.source, args.module)
    runs = asyncio.run(commands.sync(
        cfg, sources, lambda s: progress.for_stream(s.rate_limit),
        now=dt.datetime.now(dt.UTC), resync=resync))  # type: ignore[arg-type]
    report.runs(runs, sys.stdout)
    for sentence in report.sentences(runs):
        print(f"syncd: {sentence}", file=sys.stderr)
    return EXIT_OK if all(r.error is None for r in runs) else EXIT_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    from syncd.service import daemon

    return asyncio.run(daemon.run(_load(args, need_credentials=True)))


def cmd_resync(args: argparse.Namespace) -> int:
    from syncd.core.results import ResyncRange

    if args.date_from > args.date_to:
        raise ConfigError("--from is after --to; swap them.")
    return cmd_sync(args, ResyncRange(args.date_from, args.date_to))


def cmd_reset(args: argparse.Namespace) -> int:
    from syncd.cli import commands

    cfg = _load(args)
    for source in commands.select(cfg, args.source, [args.module]):
        done = asyncio.run(commands.reset(cfg, source, args.module))
        print(f"{source.name}/{args.module}: {done}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from syncd.cli import report
    from syncd.service import status

    cfg = _load(args)
    doc = asyncio.run(status.document(cfg, dt.datetime.now(dt.UTC)))
    if args.json:
        print(json.dumps(doc))
    else:
        report.status(doc, sys.stdout)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from syncd.cli import report
    from syncd.engine import checks

    cfg = _load(args, need_credentials=True)
    now = dt.datetime.now(dt.UTC)
    results = asyncio.run(checks.run_check(cfg, now))
    report.checks(results, sys.stdout)
    # Capacity is advice, not a failed check: it warns but leaves the exit status alone.
    for sentence in [*checks.sentences(results), *report.capacity_report(cfg, sys.stdout, now)]:
        print(f"syncd: {sentence}", file=sys.stderr)
    return EXIT_OK if all(r.result == "ok" for r in results) else EXIT_FAILED


def cmd_register(args: argparse.Namespace) -> int:
    from syncd.cli import register as register_cli

    return register_cli.run(args, _load(args), sys.stdout)


def cmd_push(args: argparse.Namespace) -> int:
    from syncd.cli import push as command

    cfg = _load(args, need_credentials=not args.dry_run)
    sources = [s for s in ([cfg.source(args.source)] if args.source else cfg.sources)
               if command.push_modules(s.source_kind)]
    if not sources:
        raise ConfigError(f"{cfg.path}: no source to push to; configure a source whose kind "
                          "has write-back.")
    wanted = command.modules(args.module)
    entries = command.load_file(args.file, cfg) if args.file else None
    if args.dry_run and entries is not None:
        results = command.check_entries(entries, cfg)
    else:
        results = asyncio.run(command.push(cfg, sources, wanted, dry_run=args.dry_run,
                                           entries=entries))
    command.render(results, sys.stdout, dry_run=args.dry_run)
    for sentence in command.sentences(results):
        print(f"syncd: {sentence}", file=sys.stderr)
    return EXIT_OK if command.succeeded(results, dry_run=args.dry_run) else EXIT_FAILED


def cmd_webhooks(args: argparse.Namespace) -> int:
    from syncd.cli import webhooks as command

    return asyncio.run(command.register(_load(args, need_credentials=True), args, sys.stdout))


def cmd_simulate(args: argparse.Namespace) -> int:
    from syncd_simulator import cli as simulator_cli

    logs.configure("console")
    return simulator_cli.run(args)


def cmd_alerts(args: argparse.Namespace) -> int:
    """``syncd alerts test``: 0 when every endpoint answered 2xx, 1 otherwise."""
    from syncd.service import alerts

    cfg = _load(args)
    if not cfg.alerts.webhooks:
        raise ConfigError(f"{cfg.path}: [alerts] webhooks is empty; add the URL of a Slack, "
                          "Mattermost or Teams incoming webhook.")
    answers = asyncio.run(alerts.send_test(cfg.alerts, dt.datetime.now(dt.UTC)))
    for a in answers:
        said = f"answered {a.status}" if a.status is not None else "did not answer"
        print(f"{a.endpoint}: {said}{': ' + a.detail if a.detail else ''}")
    return EXIT_OK if all(a.ok for a in answers) else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd.cli import demo

    logs.configure("console", logging.WARNING if sys.stderr.isatty() else logging.INFO)
    return demo.run(sys.stdout, keep=args.keep)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "migrate": cmd_migrate,
    "sync": cmd_sync,
    "run": cmd_run,
    "status": cmd_status,
    "resync": cmd_resync,
    "reset": cmd_reset,
    "check": cmd_check,
    "register": cmd_register,
    "push": cmd_push,
    "webhooks": cmd_webhooks,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
    "alerts": cmd_alerts,
}


def _log_format(cfg: config.Config) -> str:
    return "console" if sys.stderr.isatty() else cfg.observability.log_format


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syncd`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SyncdError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("syncd: interrupted.", file=sys.stderr)
        return 130
