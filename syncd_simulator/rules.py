"""Request validation in the documented order, pure: each check raises ``Rejected`` or passes."""

from __future__ import annotations

import datetime
import hmac
import ipaddress
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from syncd_simulator.data import Row
from syncd_simulator.fields import Module
from syncd_simulator.options import SimulatorOptions

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only, unlike \d
_EXPIRED = ("API key expired on {}. Please delete the expired credentials and create a new "
            "API key set to continue using the API.")
_NO_EXPIRY = "Invalid API credentials: No expiry date set. Please generate new credentials."
_PRICE_PARAMS = (("item_code", "ItemCode"), ("cus_code", "CusCode"))
CREATABLE = ("sales", "purchase", "customer")

Body = dict[str, object]


class Rejected(Exception):
    """The server's refusal: HTTP status and the documented message."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A validated read: the date range and what to keep of the module's rows."""

    date_from: datetime.date
    date_to: datetime.date
    fields: tuple[str, ...] = ()  # empty: every field
    filters: tuple[tuple[str, object], ...] = ()  # field name, wanted value


def _reject_constant(name: str) -> object:
    """NaN and Infinity are not JSON, whatever Python's parser thinks."""
    raise ValueError(name)


def parse_body(content_type: str, raw: bytes) -> Body:
    """The request body as a JSON object; anything else is "Invalid JSON input"."""
    if content_type != "application/json":
        raise Rejected(400, "Invalid JSON input")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Rejected(400, "Invalid JSON input") from None
    if not isinstance(body, dict):
        raise Rejected(400, "Invalid JSON input")
    return body


def _absent(value: object) -> bool:
    """PHP's empty() on a request parameter: missing, null or ""."""
    return value is None or value == ""


def check_credentials(body: Body, options: SimulatorOptions, today: datetime.date) -> str:
    """Authenticate: key lookup, renewal date, then the secret (exact, no trimming)."""
    key, secret = body.get("api_key"), body.get("api_secret")
    if _absent(key) or _absent(secret):
        raise Rejected(400, "API key and secret are required")
    if key != options.api_key:
        raise Rejected(401, "Invalid API credentials")
    if options.expires is None:
        raise Rejected(401, _NO_EXPIRY)
    if today > options.expires:
        raise Rejected(401, _EXPIRED.format(options.expires.isoformat()))
    if not isinstance(secret, str) or not hmac.compare_digest(
            secret.encode(), options.api_secret.encode()):
        raise Rejected(401, "Invalid API credentials")
    return options.api_key


def _loopback(remote: str | None) -> bool:
    """Whether the peer address is a loopback address."""
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def check_mode(options: SimulatorOptions, secure: bool, remote: str | None) -> None:
    """Integration mode: disabled, production needs HTTPS, developer needs localhost."""
    if options.mode == 0:
        raise Rejected(403, "API integration is disabled for this account")
    if options.mode == 1 and not secure:
        raise Rejected(403, "HTTPS is required for Production mode")
    if options.mode == 2 and not _loopback(remote):
        raise Rejected(403, "Developer mode only allows localhost origins.")


def check_action(body: Body, module: Module, options: SimulatorOptions) -> None:
    """The action, then the module's permissions for it (create: sales, purchase, customer)."""
    action = body.get("action")
    if _absent(action):
        raise Rejected(400, "action is required. Use 'read' or 'create'")
    if action not in ("read", "create"):
        raise Rejected(400, "Invalid action. Use 'read' or 'create'")
    if module.name in options.missing_modules:
        raise Rejected(403, f"{module.label} module not found")
    if action == "create":
        if module.name in options.create_denied_modules or module.name not in CREATABLE:
            raise Rejected(403, f"{module.label} create permission denied")
        return
    if module.name in options.denied_modules:
        raise Rejected(403, f"{module.label} read permission denied")


def check_dates(body: Body) -> tuple[datetime.date, datetime.date]:
    """date_from and date_to: present, YYYY-MM-DD, real, ordered, at most 31 days apart."""
    raw = body.get("date_from"), body.get("date_to")
    if any(_absent(x) for x in raw):
        raise Rejected(400, "date_from and date_to are required")
    texts = [x for x in raw if isinstance(x, str) and _DATE.fullmatch(x)]
    if len(texts) != 2:
        raise Rejected(400, "Invalid date format. Use YYYY-MM-DD format.")
    try:
        low, high = (datetime.date.fromisoformat(t) for t in texts)
    except ValueError:
        raise Rejected(400, "Invalid date values. Please provide valid dates.") from None
    if low > high:
        raise Rejected(400, "date_from cannot be after date_to.")
    if (high - low).days >= 31:
        raise Rejected(400, "Date range cannot exceed 31 days.")
    return low, high


def check_selection(body: Body, module: Module, dates: tuple[datetime.date, datetime.date]
                    ) -> ReadQuery:
    """fields and filters: checked on every module, honoured where the module accepts them."""
    fields, filters = body.get("fields"), body.get("filters")
    if fields is not None and not isinstance(fields, list):
        raise Rejected(400, "fields must be an array")
    if filters is not None and not (isinstance(filters, dict) or filters == []):
        raise Rejected(400, "filters must be an array")
    if module.name == "price_matrix":
        wanted = [(col, body.get(param)) for param, col in _PRICE_PARAMS]
        return ReadQuery(*dates, filters=tuple((c, w) for c, w in wanted if not _absent(w)))
    if not module.accepts_fields:
        return ReadQuery(*dates)
    names = {f.name for f in module.fields}
    chosen = tuple(dict.fromkeys(f for f in fields or () if isinstance(f, str) and f in names))
    if fields and not chosen:
        raise Rejected(400, "No valid fields requested")
    conditions = filters.items() if isinstance(filters, dict) else ()
    return ReadQuery(*dates, fields=chosen,
                     filters=tuple((k, w) for k, w in conditions if k in names))


def _matches(actual: object, wanted: object) -> bool:
    """SQL-ish equality of a stored value and a filter value: numbers compare as numbers."""
    if isinstance(wanted, bool) or not isinstance(wanted, str | int | float):
        return False
    if isinstance(actual, Decimal | int) and not isinstance(actual, bool):
        try:
            return Decimal(actual) == Decimal(str(wanted))
        except InvalidOperation:
            return False
    return isinstance(actual, str) and actual == str(wanted)


def select(rows: list[Row], query: ReadQuery) -> list[Row]:
    """Keep the rows matching every filter, projected onto the requested fields."""
    kept = [r for r in rows if all(_matches(r.get(k), w) for k, w in query.filters)]
    if not query.fields:
        return kept
    return [{f: r[f] for f in query.fields} for r in kept]

