"""Value pools and small helpers the fake SKYBIZ data is drawn from, nasty cases included."""

from __future__ import annotations

import datetime
import random
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from syncd_simulator.fields import Field, FieldType

Value = str | int | Decimal | None
Record = dict[str, Value]

ZERO_DATE = "0000-00-00"
ZERO_DATETIME = "0000-00-00 00:00:00"
CENT = Decimal("0.01")

# Text that breaks naive CSV/COPY/SQL/JSON handling; drawn deterministically now and then.
NASTY_TEXT: tuple[str, ...] = (
    "陈氏贸易有限公司",
    "Kedai Runcit Pak Ali (Cawangan 2)",
    "முருகன் ஸ்டோர்ஸ்",
    "Café ☕ Noodle 🍜 House",
    "O'Reilly \"Best\" Hardware",
    "Back\\slash Supplies \\ Co",
    "Tab\tSeparated Sdn Bhd",
    "Line\nBreak\r\nTrading",
    "\\N",
    "NULL",
    "  Leading and trailing spaces  ",
    "Robert'); DROP TABLE customer;--",
    "100% Pure & <Natural> 50/50",
    "日本食品株式会社",
    "Syarikat Hj. Ahmad bin Abdullah",
    "Ünïcödé — “smart quotes” \u2018too\u2019",
)

_CORE = ("Maju", "Jaya", "Sinar", "Bintang", "Cahaya", "Mega", "Harmoni", "Gemilang", "Setia",
         "Indah", "Mutiara", "Sentosa", "Golden", "Eastern", "Pacific", "Lucky", "Prima")
_TRADE = ("Trading", "Enterprise", "Hardware", "Mart", "Food", "Electrical", "Supplies",
          "Motor", "Textile", "Pharmacy")
_SUFFIX = ("Sdn Bhd", "Sdn. Bhd.", "Enterprise", "& Co", "Bhd", "PLT", "")
PLACES: tuple[tuple[str, str, str, str], ...] = (
    ("Kuala Lumpur", "W.P. Kuala Lumpur", "50450", "KL"),
    ("Petaling Jaya", "Selangor", "47300", "SEL"),
    ("Shah Alam", "Selangor", "40000", "SEL"),
    ("George Town", "Pulau Pinang", "10200", "PNG"),
    ("Johor Bahru", "Johor", "80000", "JHR"),
    ("Ipoh", "Perak", "30000", "PRK"),
    ("Alor Setar", "Kedah", "05000", "KDH"),  # leading zero: a postcode is text
    ("Kota Bharu", "Kelantan", "15000", "KTN"),
    ("Kuching", "Sarawak", "93000", "SWK"),
    ("Kota Kinabalu", "Sabah", "88000", "SBH"),
    ("Singapore", "Singapore", "018956", "SG"),
)
STREETS = ("Jalan Bukit Bintang", "Jalan Ampang", "Lorong Maarof", "Jalan SS2/24",
           "Persiaran Gurney", "Jalan Tun Razak", "Jalan Sultan Ismail")
PEOPLE = ("Ahmad", "Siti Nurhaliza", "Tan Ah Kow", "Lim Mei Ling", "Muthu a/l Raju",
          "Priya Devi", "Wong Kah Wai", "Nur Aisyah", "Chong Wei", "Kumar")
SALES_PERSONS = tuple(f"SP{n:02d}" for n in range(1, 9))
BRANCHES = ("HQ", "KL01", "PG01", "JB01")
LOCATIONS = ("HQ", "WH1", "WH2", "SHOP")
ITEM_GROUPS = ("BEV", "SNK", "HHD", "ELE", "STA", "FRZ")
PRODUCTS = ("Mineral Water 1.5L", "Teh Tarik 3-in-1", "Kopi O Kosong", "Potato Chips 60g",
            "Dish Soap 900ml", "LED Bulb 9W", "A4 Paper 80gsm", "Frozen Chicken 1kg",
            "Instant Noodle Curry", "Milo 1kg", "Rice 10kg (Super Import)", "Tissue 3-ply")
UOMS = ("PCS", "CTN", "KG", "BOX", "PKT", "UNIT")
TAXES: tuple[tuple[str, Decimal], ...] = (
    ("", Decimal("0")), ("SR-0", Decimal("0")), ("ST-5", Decimal("5")),
    ("ST-10", Decimal("10")), ("SV-8", Decimal("8")),
)


def dec(rng: random.Random, low: float, high: float, places: int) -> Decimal:
    """A uniform Decimal in [low, high] with exactly ``places`` decimals (never via float)."""
    scale = 10**places
    return Decimal(rng.randint(round(low * scale), round(high * scale))).scaleb(-places)


def money(value: Decimal) -> Decimal:
    """Round half-up to cents, the way the ERP stores amounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt_date(day: datetime.date) -> str:
    """A date as the API sends it."""
    return day.isoformat()


def fmt_datetime(moment: datetime.datetime) -> str:
    """A date-time as the API sends it: local wall-clock time, no zone."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def at_time(day: datetime.date, seconds: int) -> datetime.datetime:
    """``day`` at ``seconds`` past midnight."""
    return datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(seconds=seconds)


def company(rng: random.Random) -> str:
    """A plausible Malaysian company name."""
    parts = (rng.choice(_CORE), rng.choice(_CORE), rng.choice(_TRADE), rng.choice(_SUFFIX))
    return " ".join(p for p in parts if p)


def sometimes(rng: random.Random, chance: float, nasty: Value, normal: Value) -> Value:
    """``nasty`` with probability ``chance``, else ``normal``."""
    return nasty if rng.random() < chance else normal


def default_for(f: Field) -> Value:
    """What an unfilled column holds: empty text, zero numbers, NULL temporal values."""
    if f.type is FieldType.TEXT:
        return ""
    if f.type is FieldType.NUMERIC:
        return Decimal("0.00")
    if f.type is FieldType.BIGINT:
        return 0
    return None


def template(fields: Sequence[Field]) -> Record:
    """A record with every field at its default, in the documented order."""
    return {f.name: default_for(f) for f in fields}


def fill(base: Record, values: Mapping[str, Value]) -> Record:
    """A copy of ``base`` with the known ``values`` set; unknown names are rejected."""
    unknown = set(values) - set(base)
    if unknown:
        raise KeyError(f"fields not in the registry: {sorted(unknown)}")
    out = dict(base)
    out.update(values)
    return out
