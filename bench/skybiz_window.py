"""One big 31-day SKYBIZ sales window, written the way the real API writes it.

PHP's ``json_encode``: every non-ASCII character as ``\\uXXXX`` (emoji as surrogate
pairs), ``/`` as ``\\/``; money and quantities as JSON numbers with 2–4 decimals (some
with many digits, most that no binary float holds); 37 fields per flat line (one of them
undocumented), ~6.5 lines per document, unicode-heavy descriptions. Deterministic.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from decimal import Decimal

CENT = Decimal("0.01")
DOCTYPES = (("CusInv", "IV"), ("CusInv", "IV"), ("CS", "CS"), ("CusCN", "CN"), ("CusDN", "DN"))
WORDS = ("陈氏贸易", "茉莉香米", "有机绿茶", "முருகன்", "பால் பவுடர்", "Kopi Ais", "Teh Tarik",
         "Beras Wangi", "Café ☕", "Noodle 🍜", "Ünïcödé", "“smart”", "日本食品", "Premium",
         "5kg", "1/2 dozen", "Größe", "Sambal", "Roti Canai", "O'Reilly \"Best\"", "Back\\slash")
UOMS = ("UNIT", "CTN", "KG", "PKT", "BTL")
TAX = (("SV-8", 8), ("ST-5", 5), ("ZR", 0), ("SR-6", 6))


@dataclass(frozen=True, slots=True)
class Window:
    """The answer body and the figures a load must reproduce exactly."""

    body: bytes
    lines: int
    documents: int
    line_amount_total: Decimal  # Σ HCLineAmt over all lines, exact


def php(text: str) -> str:
    """A JSON string literal as PHP writes it."""
    return json.dumps(text, ensure_ascii=True).replace("/", "\\/")


def _money(rng: random.Random) -> Decimal:
    """A unit price: mostly 2 decimals, some 4, now and then a long one."""
    roll = rng.random()
    if roll < 0.02:
        return Decimal(f"{rng.randint(1, 9_999_999)}.{rng.randint(0, 999_999):06d}")
    if roll < 0.3:
        return Decimal(rng.randint(1, 9_999_999)) / 10_000
    return Decimal(rng.randint(10, 99_999)) / 100


def _line(rng: random.Random, day: dt.date, n: int) -> tuple[str, Decimal, Decimal]:
    """The 27 detail fields of one flat line (26 documented, and ``LineNo``, which real
    servers send undocumented), its amount and its tax."""
    qty = (Decimal(rng.randint(1, 50)) if rng.random() < 0.6
           else Decimal(rng.randint(1, 50_000)) / 1000)
    cost = _money(rng)
    amount = (qty * cost).quantize(CENT)
    code, rate = rng.choice(TAX)
    tax = (amount * rate / 100).quantize(CENT)
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4)))
    warranty = (day + dt.timedelta(days=365)).isoformat() if rng.random() < 0.1 else "0000-00-00"
    dud = [php(rng.choice(WORDS)) if rng.random() < 0.15 else '""' for _ in range(6)]
    fields = (
        f'"LineNo":{n},"ItemCode":{php(f"ITM-{rng.randint(1, 4000):05d}")},'
        f'"Description":{php(words)},'
        f'"Qty":{qty},"FactorQty":1.0000,"UOM":"{rng.choice(UOMS)}","HCUnitCost":{cost},'
        f'"HCLineAmt":{amount},"HCDiscount":0.00,"DisRate1":0.00,"HCTax":{tax},'
        f'"TaxRate1":{rate},"DetailTaxCode":"{code}","BlankLine":"0",'
        f'"SalesPersonCode":"SP{rng.randint(1, 20):02d}","BranchCode":"HQ",'
        f'"DepartmentCode":"","ProjectCode":"","LocationCode":"WH{rng.randint(1, 3)}",'
        f'"WarrantyDate":"{warranty}","ItemBatch":"",'
        + ",".join(f'"DUD{i}":{v}' for i, v in enumerate(dud, 1)))
    return fields, amount, tax


def _document(rng: random.Random, day: dt.date, n: int, edit: bool
              ) -> tuple[list[str], Decimal]:
    """The flat lines of one document (header fields repeated on each)."""
    doctype, prefix = rng.choice(DOCTYPES)
    count = rng.randint(1, 12)
    sub = random.Random(rng.random() + (1 if edit else 0))  # an edit changes the lines
    lines = [_line(sub, day, n) for n in range(1, count + 1)]
    net = sum((a for _, a, _ in lines), Decimal("0.00"))
    tax = sum((t for _, _, t in lines), Decimal("0.00"))
    rate = "1.000000" if rng.random() < 0.9 else f"4.{rng.randint(0, 10**9):09d}"
    header = (f'"D_ate":"{day}","Doc1No":{php(f"{prefix}-{day:%y%m%d}-{n:05d}")},'
              f'"Doc2No":{php(f"PO/{rng.randint(1, 9999)}")},"Doc3No":"",'
              f'"CusCode":"300-{rng.randint(1, 2000):05d}","DocType":"{doctype}",'
              f'"HCNetAmt":{net},"HCDtTax":{tax},"CurRate1":{rate},"AdjAmt":0.00')
    return ["{" + header + "," + fields + "}" for fields, _, _ in lines], net


def generate(date_to: dt.date, lines: int = 180_000, seed: int = 7,
             edited: float = 0.0) -> Window:
    """A window of about ``lines`` flat lines ending on ``date_to``; ``edited`` is the
    share of documents whose lines differ from the unedited window of the same seed."""
    rng = random.Random(seed)
    days = [date_to - dt.timedelta(days=30 - i) for i in range(31)]
    records: list[str] = []
    total, documents = Decimal(0), 0
    while len(records) < lines:
        documents += 1
        day = days[documents % 31]
        edit = rng.random() < edited
        doc, net = _document(rng, day, documents, edit)
        records += doc
        total += net
    body = ('{"status":"success","timestamp":"' + f"{date_to}T12:00:00+08:00"
            + '","request_id":"req_bench","data":{"requested_by":"bench","mode":2,'
            '"date_range":{"from":"' + str(days[0]) + '","to":"' + str(date_to)
            + '","days":31},"total_returned":' + str(len(records)) + ',"data":['
            + ",".join(records) + "]}}")
    return Window(body.encode("ascii"), len(records), documents, total)
