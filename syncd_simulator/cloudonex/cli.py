"""``syncd simulate --kind cloudonex``: the CloudOnex simulator's options and its announcement."""

from __future__ import annotations

import argparse
import shlex

from syncd_simulator.cloudonex import resources
from syncd_simulator.cloudonex.admin import ADMIN
from syncd_simulator.cloudonex.options import CloudOnexOptions
from syncd_simulator.cloudonex.server import CloudOnexSimulator

_DEFAULTS = CloudOnexOptions()
QUIRKS = {
    "numbers_as_strings": 'ids, money and quantities as JSON strings ("1500.00", "17")',
    "zoneless_datetimes": 'created_at/updated_at as "2024-01-15 10:00:00" in --timezone',
    "stale_updated_at": "edits keep updated_at; inserted records have it null",
    "bare_array": "the body is the page's bare JSON array, no envelope or meta",
    "extra_fields": "undocumented fields such as currency and tags",
    "html_not_found": "an unknown resource answers an HTML 404 page",
    "no_meta": "listings answer {\"success\": true, \"data\": [...]} without meta",
    "drop_authorization": "the Authorization header never arrives: only ?api_key= works",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the CloudOnex-only options (shared: --host --port --seed --history-days --scale
    --faults)."""
    group = parser.add_argument_group("CloudOnex (--kind cloudonex)")
    group.add_argument("--key", help=f"the API key to accept ({_DEFAULTS.api_key})")
    group.add_argument("--records", type=int, metavar="N",
                       help="records per resource (default: each resource's own count)")
    group.add_argument("--rate-requests", type=int, default=_DEFAULTS.rate_requests,
                       help="requests per key per window (1000)")
    group.add_argument("--rate-seconds", type=float, default=_DEFAULTS.rate_seconds,
                       help="the sliding window in seconds (3600)")
    group.add_argument("--no-rate-headers", action="store_true",
                       help="omit the X-RateLimit-* headers")
    group.add_argument("--limit-cap", type=int, default=_DEFAULTS.limit_cap,
                       help="largest page size served (100)")
    group.add_argument("--forbidden", action="append", default=[], metavar="RESOURCE",
                       choices=resources.NAMES, help="answer 403 for this resource (repeat)")
    group.add_argument("--timezone", default=_DEFAULTS.timezone,
                       help="the server's calendar and zone-less date-times (Asia/Kuala_Lumpur)")
    group.add_argument("--mutations-per-minute", type=float, default=0.0,
                       help="random inserts, edits and deletes while serving")
    for quirk, meaning in QUIRKS.items():
        group.add_argument("--" + quirk.replace("_", "-"), action="store_true",
                           help=f"quirk: {meaning}")


def options_from(args: argparse.Namespace) -> CloudOnexOptions:
    """The CloudOnex options the parsed arguments ask for (ValueError when invalid)."""
    records = {} if args.records is None else dict.fromkeys(resources.NAMES, args.records)
    return CloudOnexOptions(
        seed=args.seed, api_key=args.key or _DEFAULTS.api_key, records=records,
        scale=args.scale, history_days=args.history_days,
        rate_requests=args.rate_requests, rate_seconds=args.rate_seconds,
        rate_headers=not args.no_rate_headers, limit_cap=args.limit_cap,
        forbidden=frozenset(args.forbidden), timezone=args.timezone, faults=args.faults,
        mutations_per_minute=args.mutations_per_minute,
        **{quirk: getattr(args, quirk) for quirk in QUIRKS},
    )


def announce(sim: CloudOnexSimulator, base_url: str) -> None:
    """Tell the user how to point a ``kind = "cloudonex"`` source at the simulator."""
    root = base_url.removesuffix("/api/v2")
    print(f"# CloudOnex simulator running; stop it with Ctrl-C.\n"
          f"kind = \"cloudonex\"\nbase_url = \"{base_url}\"")
    if sim.options.drop_authorization:
        print('auth = "query"  # this server never sees the Authorization header')
    print(f"export SYNCD_CRM_API_KEY={shlex.quote(sim.options.api_key)}")
    print(f"# admin: POST {root}{ADMIN}/mutate {{\"resource\": \"invoices\", "
          f"\"action\": \"insert\", \"count\": 3}} (also spend, drift, fault)", flush=True)
