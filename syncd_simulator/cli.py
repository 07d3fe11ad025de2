"""``syncd simulate``: serve the SKYBIZ or (``--kind cloudonex``) CloudOnex simulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import functools
import shlex
import signal
import sys
from collections.abc import Callable
from typing import Protocol

from syncd_simulator.cloudonex import cli as cloudonex_cli
from syncd_simulator.cloudonex.server import CloudOnexSimulator
from syncd_simulator.faults import HeavyDays
from syncd_simulator.options import SimulatorOptions
from syncd_simulator.registration import REGISTER_PATH, CallbackMode
from syncd_simulator.server import Simulator

_DEFAULTS = SimulatorOptions()


def _rate(text: str) -> tuple[int, float]:
    """Parse ``REQUESTS/SECONDS`` such as ``5/10``."""
    try:
        requests, seconds = text.split("/")
        parsed = int(requests), float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected REQUESTS/SECONDS such as 5/10, got {text!r}"
                                         ) from None
    if parsed[0] < 1 or parsed[1] <= 0:
        raise argparse.ArgumentTypeError("both parts of --rate must be positive")
    return parsed


def _heavy(text: str) -> HeavyDays:
    """Parse ``FROM..TO/MAXDAYS`` such as ``2024-03-01..2024-03-31/7``."""
    try:
        dates, max_days = text.split("/")
        low, high = (datetime.date.fromisoformat(d) for d in dates.split(".."))
        return HeavyDays(low, high, int(max_days))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected FROM..TO/MAXDAYS such as 2024-03-01..2024-03-31/7, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    parser.add_argument("--kind", choices=("skybiz", "cloudonex"), default="skybiz",
                        help="which API to simulate (skybiz)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0: any)")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="dataset seed")
    parser.add_argument("--history-days", type=int, default=_DEFAULTS.history_days,
                        help="days of history before today")
    parser.add_argument("--rate", type=_rate,
                        default=(_DEFAULTS.rate_requests, _DEFAULTS.rate_seconds),
                        metavar="REQUESTS/SECONDS", help="rate limit per IP and per key (5/10)")
    parser.add_argument("--faults", type=float, default=0.0,
                        help="probability of an injected fault per request, e.g. 0.05")
    parser.add_argument("--mutations", type=float, default=0.0, metavar="PER_SECOND",
                        help="continuous source changes per second (renames, new, edited "
                             "and deleted recent documents), e.g. 1 for soak runs")
    parser.add_argument("--masters-days", type=int, default=0, metavar="DAYS",
                        help="masters last modified over this many days back (default: over "
                             "the history), e.g. 3000 for masters older than every document")
    parser.add_argument("--nested", action="store_true",
                        help="answer documents nested with an items array instead of flat rows")
    parser.add_argument("--form-only", action="store_true",
                        help="read only form fields, as a PHP server reading $_POST: JSON "
                        "requests are answered 400 \"API key and secret are required\"")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies daily documents")
    parser.add_argument("--heavy", type=_heavy, metavar="FROM..TO/MAXDAYS",
                        help="days answered 500 (out of memory) in windows over MAXDAYS days")
    parser.add_argument("--api-key", default=_DEFAULTS.api_key)
    parser.add_argument("--api-secret", default=_DEFAULTS.api_secret)
    parser.add_argument("--callback-mode", choices=[m.value for m in CallbackMode],
                        default="ok", help="how the registration endpoint calls back")
    cloudonex_cli.add_arguments(parser)


def options_from(args: argparse.Namespace) -> SimulatorOptions:
    """The simulator options the parsed arguments ask for (ValueError when invalid)."""
    requests, seconds = args.rate
    return SimulatorOptions(
        seed=args.seed, history_days=args.history_days, rate_requests=requests,
        rate_seconds=seconds, faults=args.faults, nested_documents=args.nested,
        scale=args.scale, api_key=args.api_key, api_secret=args.api_secret, heavy=args.heavy,
        mutations_per_second=args.mutations, form_only=args.form_only,
        masters_days=args.masters_days,
    )


def _announce(sim: Simulator, base_url: str) -> None:
    """Tell the user how to point a SKYBIZ source at the simulator."""
    print(f"# SKYBIZ simulator running; stop it with Ctrl-C.\nbase_url = \"{base_url}\"")
    print(f"export SYNCD_MAIN_API_KEY={shlex.quote(sim.options.api_key)}")
    print(f"export SYNCD_MAIN_API_SECRET={shlex.quote(sim.options.api_secret)}")
    print(f"# syncd register --url {base_url.split('/01/', 1)[0]}{REGISTER_PATH} "
          f"--store-code {sim.registration.store_code} …", flush=True)


class _Served(Protocol):
    """What ``_serve`` runs: either kind of simulator."""

    async def start(self, host: str = ..., port: int = ...) -> str: ...
    async def stop(self) -> None: ...


async def _serve(sim: _Served, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM, after telling the user how to connect."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before printing: callers signal on output
        loop.add_signal_handler(sig, stop.set)
    try:
        announce(await sim.start(host, port))
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        await sim.stop()


def run(args: argparse.Namespace) -> int:
    """Run the simulator in the foreground; 0 on a clean stop, 2 if it cannot start."""
    try:
        if args.kind == "cloudonex":
            cloudonex = CloudOnexSimulator(cloudonex_cli.options_from(args))
            asyncio.run(_serve(cloudonex, args.host, args.port,
                               functools.partial(cloudonex_cli.announce, cloudonex)))
            return 0
        sim = Simulator(options_from(args))
        sim.registration.mode = CallbackMode(args.callback_mode)
        asyncio.run(_serve(sim, args.host, args.port, functools.partial(_announce, sim)))
    except ValueError as exc:
        print(f"Invalid simulator option: {exc}.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
              "choose another --port.", file=sys.stderr)
        return 2
    return 0
