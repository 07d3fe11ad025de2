"""One fake record of each CloudOnex resource, drawn from a seeded RNG (values typed, not text)."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Mapping
from decimal import Decimal

from syncd_simulator import values as v
from syncd_simulator.cloudonex.resources import Item, Record

# Amounts whose binary float is inexact, or that lose digits as float32/str(float): every
# seventh money value is one of them, so a client that goes through float is caught.
NASTY_MONEY: tuple[Decimal, ...] = tuple(Decimal(x) for x in (
    "0.10", "1234567.89", "19.99", "0.30", "1500.00", "33.33", "9999999.99", "0.01"))
STATUSES = ("Paid", "Unpaid", "Partially Paid")
TAX_RATES: tuple[Decimal, ...] = tuple(Decimal(x) for x in ("0", "6", "10", "8.25"))
SERVICES = ("Web Development", "Consulting Services", "Web Hosting", "SEO Audit",
            "Annual Support Plan", "Logo Design", "Server Maintenance", "Training (1 day)")
TAGS = ("vip", "wholesale", "retail", "overdue", "new")
SOURCES = ("Website", "Referral", "Trade Show", "Cold Call", "Facebook")
SUBJECTS = ("Technical Support Required", "Invoice query", "Cannot log in",
            "Refund request", "Feature request: export to CSV")


class Refs:
    """How many customers and suppliers other records may point at."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self.customers = max(1, counts.get("customers", 1))
        self.suppliers = max(1, counts.get("suppliers", 1))


def amount(rng: random.Random, rid: int, low: float = 1, high: float = 5000) -> Decimal:
    """A money value with exactly two places; a nasty one for every seventh id."""
    return NASTY_MONEY[rid // 7 % len(NASTY_MONEY)] if rid % 7 == 0 else v.dec(rng, low, high, 2)


def items(rng: random.Random, rid: int) -> list[Item]:
    """One to four line items; a single line of quantity one carries a nasty amount."""
    if rid % 7 == 0:
        return [{"description": rng.choice(SERVICES), "amount": amount(rng, rid), "qty": 1}]
    lines: list[Item] = []
    for n in range(rng.randint(1, 4)):
        qty: int | Decimal = Decimal("1.5") if rng.random() < 0.1 else rng.randint(1, 5)
        lines.append({"description": rng.choice(SERVICES), "amount": amount(rng, rid + n + 1),
                      "qty": qty})
    return lines


def total(lines: list[Item]) -> Decimal:
    """The sum of amount × qty over ``lines``, in cents."""
    return v.money(sum((Decimal(ln["amount"]) * Decimal(ln["qty"]) for ln in lines),
                       Decimal("0")))


def _email(rng: random.Random, name: str) -> str:
    """A plausible address derived from ``name``."""
    local = "".join(c for c in name.lower() if c.isascii() and c.isalnum())[:12] or "info"
    return f"{local}{rng.randint(1, 99)}@example.com"


def _phone(rng: random.Random) -> str:
    """A Malaysian mobile number, as text (a leading zero and a plus sign matter)."""
    number = f"1{rng.randint(0, 99_999_999):08d}"
    return f"+60{number}" if rng.random() < 0.2 else f"0{number}"


def customer(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
             refs: Refs) -> Record:
    account = str(v.sometimes(rng, 0.1, rng.choice(v.NASTY_TEXT), v.company(rng)))
    city, state, postcode, _ = rng.choice(v.PLACES)
    return {"id": rid, "account": account, "email": _email(rng, account), "phone": _phone(rng),
            "address": f"{rng.randint(1, 300)} {rng.choice(v.STREETS)}", "city": city,
            "state": state, "zip": postcode, "country": "SG" if city == "Singapore" else "MY",
            "created_at": at, "updated_at": at, "tags": rng.sample(TAGS, rng.randint(0, 2))}


def invoice(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
            refs: Refs) -> Record:
    lines = items(rng, rid)
    return {"id": rid, "invoice_number": f"INV-{day.year}-{rid:05d}",
            "customer_id": rng.randint(1, refs.customers), "amount": total(lines),
            "status": rng.choice(STATUSES), "date": day,
            "due_date": day + datetime.timedelta(days=30),
            "notes": rng.choice(("", "Payment due within 30 days", "Thank you!")),
            "items": lines, "currency": "MYR"}


def transaction(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
                refs: Refs) -> Record:
    kind = rng.choice(("Income", "Expense"))
    return {"id": rid, "type": kind, "account_id": rng.randint(1, 3),
            "amount": amount(rng, rid), "category_id": rng.randint(1, 12),
            "description": f"{kind}: {rng.choice(SERVICES)}", "date": day,
            "ref": f"TRX{rid:06d}"}


def product(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
            refs: Refs) -> Record:
    name = rng.choice(v.PRODUCTS + SERVICES)
    return {"id": rid, "name": f"{name} #{rid}", "price": amount(rng, rid, 1, 900),
            "description": f"{name}, sold per unit", "type": rng.choice(("product", "service")),
            "tax_rate": rng.choice(TAX_RATES)}


def quote(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
          refs: Refs) -> Record:
    return {"id": rid, "customer_id": rng.randint(1, refs.customers),
            "valid_until": day + datetime.timedelta(days=30), "items": items(rng, rid),
            "currency": "MYR"}


def order(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
          refs: Refs) -> Record:
    lines = items(rng, rid)
    return {"id": rid, "order_number": f"ORD-{rid:05d}",
            "customer_id": rng.randint(1, refs.customers), "amount": total(lines),
            "status": rng.choice(("Pending", "Processing", "Completed", "Cancelled")),
            "date": day, "items": lines, "currency": "MYR"}


def supplier(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
             refs: Refs) -> Record:
    name = v.company(rng)
    city, _, _, _ = rng.choice(v.PLACES)
    return {"id": rid, "name": name, "email": _email(rng, name), "phone": _phone(rng),
            "city": city, "country": "SG" if city == "Singapore" else "MY"}


def purchase(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
             refs: Refs) -> Record:
    lines = items(rng, rid)
    return {"id": rid, "purchase_number": f"PO-{rid:05d}",
            "supplier_id": rng.randint(1, refs.suppliers), "amount": total(lines),
            "status": rng.choice(("Draft", "Ordered", "Received")), "date": day,
            "items": lines, "currency": "MYR"}


def lead(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
         refs: Refs) -> Record:
    first, _, last = rng.choice(v.PEOPLE).partition(" ")
    company = v.company(rng)
    return {"id": rid, "first_name": first, "last_name": last or "-",
            "email": _email(rng, first + last), "company": company, "phone": _phone(rng),
            "source": rng.choice(SOURCES), "tags": rng.sample(TAGS, rng.randint(0, 2))}


def ticket(rng: random.Random, rid: int, day: datetime.date, at: datetime.datetime,
           refs: Refs) -> Record:
    subject = rng.choice(SUBJECTS)
    return {"id": rid, "customer_id": rng.randint(1, refs.customers), "subject": subject,
            "message": f"{subject}. {rng.choice(v.NASTY_TEXT)}",
            "department_id": rng.randint(1, 4),
            "priority": rng.choice(("Low", "Medium", "High")),
            "status": rng.choice(("Open", "Closed", "Pending"))}


Builder = Callable[[random.Random, int, datetime.date, datetime.datetime, Refs], Record]
BUILDERS: dict[str, Builder] = {
    "customers": customer, "invoices": invoice, "transactions": transaction,
    "products": product, "quotes": quote, "orders": order, "suppliers": supplier,
    "purchases": purchase, "leads": lead, "tickets": ticket,
}
