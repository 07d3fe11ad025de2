"""One day of sales, purchase and sales-order documents, generated from (seed, module, day)."""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from syncd_simulator import fields as skybiz
from syncd_simulator import values as v
from syncd_simulator.values import Record

# Mean documents per day at scale 1, before the weekday factor.
DAILY = {"sales": 25.0, "purchase": 4.0, "sales_order": 6.0, "collection": 15.0}
_WEEKDAY = (1.1, 1.05, 1.05, 1.1, 1.25, 0.8, 0.35)  # Monday .. Sunday
# (DocType, Doc1No prefix, cumulative probability)
DOCTYPES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "sales": (("CusInv", "IV", 0.62), ("CS", "CS", 0.87), ("CusCN", "CN", 0.95),
              ("CusDN", "DN", 1.0)),
    "purchase": (("SupInv", "PI", 0.75), ("SupCN", "PC", 0.85), ("SupDN", "PD", 0.9),
                 ("PurRet", "PR", 1.0)),
    "sales_order": (("SO", "SO", 1.0),),
}
_DOC1NO = re.compile(r"^[A-Z]{2}-(\d{6})-\d{4,}$")
_ONE = Decimal("1.000000")
_ZERO = Decimal("0.00")


@dataclass(slots=True)
class Document:
    """A document as the ERP holds it: one header and its lines in order."""

    header: Record
    lines: list[Record] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Refs:
    """The master data documents point at."""

    customers: list[Record]
    suppliers: list[Record]
    items: list[Record]


def day_rng(seed: int, module: str, day: datetime.date) -> random.Random:
    """The generator for one module-day: independent of which days were read before."""
    return random.Random(f"{seed}:{module}:{day.isoformat()}")


def day_count(rng: random.Random, module: str, day: datetime.date, scale: float) -> int:
    """How many documents ``module`` has on ``day`` (the first draw of that day's rng)."""
    mean = DAILY[module] * scale * _WEEKDAY[day.weekday()]
    return int(mean * (0.6 + 0.8 * rng.random()) + rng.random())


def day_of_doc1no(doc1no: str) -> datetime.date | None:
    """The day a generated Doc1No was issued on, or None for numbers we did not make."""
    match = _DOC1NO.match(doc1no)
    if not match:
        return None
    try:
        return datetime.datetime.strptime(match.group(1), "%y%m%d").date()
    except ValueError:
        return None


def _doctype(rng: random.Random, module: str) -> tuple[str, str]:
    """A (DocType, prefix) drawn with the module's mix."""
    roll = rng.random()
    for doctype, prefix, upto in DOCTYPES[module]:
        if roll < upto:
            return doctype, prefix
    return DOCTYPES[module][-1][:2]


def _numbers(rng: random.Random, module: str, day: datetime.date, count: int
             ) -> list[tuple[str, str]]:
    """(DocType, Doc1No) for the day; some credit notes reuse an invoice's number."""
    seqs: dict[str, int] = {}
    invoices: list[str] = []
    out = []
    for _ in range(count):
        doctype, prefix = _doctype(rng, module)
        if doctype == "CusCN" and invoices and rng.random() < 0.5:
            out.append((doctype, invoices.pop(0)))  # same Doc1No, other DocType
            continue
        seqs[prefix] = seqs.get(prefix, 0) + 1
        doc1no = f"{prefix}-{day:%y%m%d}-{seqs[prefix]:04d}"
        if doctype == "CusInv":
            invoices.append(doc1no)
        out.append((doctype, doc1no))
    return out


def _line_values(rng: random.Random, refs: Refs, index: int, purchase: bool) -> Record:
    """Item, quantity, price, amount and tax of one line (HCLineAmt = Qty x HCUnitCost)."""
    item = rng.choice(refs.items)
    blank = "0" if rng.random() < 0.9 else rng.choice(("4", "6"))
    if index < 0:  # the classic 0.1 + 0.2 document
        qty, unit = Decimal("1"), Decimal("0.10") * -index
    elif item["UOM"] == "KG":
        qty, unit = v.dec(rng, 0.1, 25, 3), v.dec(rng, 0.5, 60, 4)
    else:
        qty = Decimal(rng.choice((1, 1, 2, 3, 5, 10, 12, 24)))
        price = item["UnitCost" if purchase else "UnitPrice"]
        unit = price if isinstance(price, Decimal) else Decimal("1.00")
    amount = v.money(qty * unit)
    tax_code, rate = rng.choice(v.TAXES)
    return {
        "ItemCode": item["ItemCode"] if blank == "0" else ("DELIVERY" if blank == "4" else
                                                           "500-000"),
        "Description": item["Description"] if blank == "0" else "Delivery & handling",
        "Qty": qty, "FactorQty": Decimal("1.0000"), "UOM": item["UOM"], "HCUnitCost": unit,
        "HCLineAmt": amount, "HCDiscount": "" if rng.random() < 0.02 else _ZERO,
        "DisRate1": _ZERO, "HCTax": v.money(amount * rate / 100), "TaxRate1": rate,
        "DetailTaxCode": tax_code, "BlankLine": blank, "BranchCode": rng.choice(v.BRANCHES),
        "LocationCode": rng.choice(v.LOCATIONS),
        "DUD1": v.sometimes(rng, 0.03, v.NASTY_TEXT[index % len(v.NASTY_TEXT)], ""),
    }


def _lines(rng: random.Random, module: str, refs: Refs, day: datetime.date) -> list[Record]:
    """1-8 lines in the module's field layout, with module-specific extras."""
    base = v.template(skybiz.get(module).lines)
    count = rng.randint(1, 8)
    special = rng.random() < 0.03
    out = []
    for n in range(1, count + 1):
        line = dict(base)
        line.update(_line_values(rng, refs, -n if special and n <= 2 else n, module == "purchase"))
        if "LineNo" in line:
            line["LineNo"] = n
        _EXTRAS[module](rng, line, day)
        out.append(line)
    return out


def _sales_extras(rng: random.Random, line: Record, day: datetime.date) -> None:
    """Sales-only line fields."""
    line["SalesPersonCode"] = rng.choice(v.SALES_PERSONS)
    line["WarrantyDate"] = v.ZERO_DATE if rng.random() < 0.8 else v.fmt_date(day + _days(365))


def _purchase_extras(rng: random.Random, line: Record, day: datetime.date) -> None:
    """Purchase-only line fields."""
    line["UOMSingular"] = line["UOM"]
    line["WarrantyDate"] = v.ZERO_DATE if rng.random() < 0.9 else v.fmt_date(day + _days(180))
    line["GRNNo"] = v.sometimes(rng, 0.5, f"GRN{rng.randint(1000, 99999)}", "")
    line["LandingCost"] = line["HCLineAmt"]


def _order_extras(rng: random.Random, line: Record, day: datetime.date) -> None:
    """Sales-order-only line fields."""
    line["UOMSingular"] = line["UOM"]
    line["SalesPersonCode"] = rng.choice(v.SALES_PERSONS)
    line["DeliveryDate"] = v.fmt_date(day + _days(rng.randint(1, 21)))


_EXTRAS: dict[str, Callable[[random.Random, Record, datetime.date], None]] = {
    "sales": _sales_extras, "purchase": _purchase_extras, "sales_order": _order_extras,
}


def _days(n: int) -> datetime.timedelta:
    """``n`` days."""
    return datetime.timedelta(days=n)


def totals(lines: list[Record]) -> tuple[Decimal, Decimal]:
    """HCNetAmt and HCDtTax: the sums of the lines' HCLineAmt and HCTax."""
    net = sum((x for ln in lines if isinstance(x := ln.get("HCLineAmt"), Decimal)), _ZERO)
    tax = sum((x for ln in lines if isinstance(x := ln.get("HCTax"), Decimal)), _ZERO)
    return net, tax


def _header_values(rng: random.Random, module: str, refs: Refs, day: datetime.date,
                   lines: list[Record]) -> Record:
    """Header fields common to the document modules, plus the module's own."""
    party = rng.choice(refs.suppliers if module == "purchase" else refs.customers)
    net, tax = totals(lines)
    head: Record = {"D_ate": v.fmt_date(day), "CusCode": party["CusCode"], "HCNetAmt": net,
                    "HCDtTax": tax, "CurRate1": _ONE}
    if module == "sales":
        head["Doc2No"] = v.sometimes(rng, 0.3, f"PO/{rng.randint(100, 9999)}", "")
    elif module == "purchase":
        head.update(_purchase_header(rng, day))
    else:
        head.update(_order_header(rng, day, party))
    return head


def _purchase_header(rng: random.Random, day: datetime.date) -> Record:
    """Purchase-only header fields."""
    return {
        "Doc2No": rng.choice(("", f"INV/{day.year}/{rng.randint(1, 9999):04d}", "inv #77 'B'")),
        "CurCode": "RM", "TermCode": rng.choice(("30", "60", "COD")),
        "DueDate": v.ZERO_DATE if rng.random() < 0.15 else v.fmt_date(day + _days(30)),
        "GbDisRate1": _ZERO, "HCGbDiscount": _ZERO, "HCGbTax": _ZERO,
        "PostedYN": v.sometimes(rng, 0.8, "1", "0"), "ApprovedYN": "1",
        "TaxDate": v.ZERO_DATE if rng.random() < 0.1 else v.fmt_date(day),
    }


def _order_header(rng: random.Random, day: datetime.date, party: Record) -> Record:
    """Sales-order-only header fields, copied from the customer as the ERP does."""
    changed = v.at_time(day + _days(rng.choice((0, 0, 1, 3))), rng.randint(28800, 72000))
    return {
        "CusName": party["CusName"], "CurCode": "RM", "TermCode": party["TermCode"],
        "D_ay": rng.choice((0, 7, 30, 60)), "HCGbDiscount": _ZERO, "HCGbTax": _ZERO,
        "Status": rng.choice(("Waiting", "Confirmed", "Confirmed", "Closed")),
        "ApprovedYN": v.sometimes(rng, 0.7, "1", "0"), "Address": party["Address"],
        "City": party["Town"], "State": party["State"], "Zip": party["PostCode"],
        "ContactTel": party["ContactTel"], "Email": party["Email"],
        "Attention": v.sometimes(rng, 0.1, "Pn. Siti \\ \"urgent\"", ""),
        "DateTimeModified": v.ZERO_DATETIME if rng.random() < 0.05 else v.fmt_datetime(changed),
    }


def _cash_rounding(net: Decimal, tax: Decimal) -> Decimal:
    """Malaysian cash rounding of a CS total to 5 sen, as AdjAmt."""
    total = net + tax
    rounded = (total * 20).quantize(Decimal("1")) / 20
    return v.money(rounded - total)


def generate_day(seed: int, module: str, day: datetime.date, scale: float, refs: Refs
                 ) -> list[Document]:
    """Every document ``module`` has on ``day``, in issue order."""
    rng = day_rng(seed, module, day)
    numbers = _numbers(rng, module, day, day_count(rng, module, day, scale))
    base = v.template(skybiz.get(module).header)
    docs = []
    for doctype, doc1no in numbers:
        lines = _lines(rng, module, refs, day)
        header = dict(base)
        header.update(_header_values(rng, module, refs, day, lines))
        header.update({"DocType": doctype, "Doc1No": doc1no})
        if doctype == "CS":
            header["AdjAmt"] = _cash_rounding(*totals(lines))
        docs.append(Document(header, lines))
    return docs
