"""Master data (customers, suppliers, items, price matrix), generated once from the seed."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from syncd_simulator import fields as skybiz
from syncd_simulator import values as v
from syncd_simulator.values import Record

COUNTS = {"customer": 300, "supplier": 60, "item": 400, "price_matrix": 150}


def modified_at(rng: random.Random, start: datetime.date, today: datetime.date) -> datetime.date:
    """A modification day: mostly spread over history, a sixth of them in the last week."""
    span = (today - start).days
    back = rng.randint(0, min(span, 6)) if rng.random() < 0.16 else rng.randint(0, span)
    return today - datetime.timedelta(days=back)


def _stamp(rng: random.Random, day: datetime.date) -> str:
    """``day`` at an office-hours time."""
    return v.fmt_datetime(v.at_time(day, rng.randint(8 * 3600, 19 * 3600)))


def _name(rng: random.Random, index: int) -> str:
    """A company name; every 13th is taken from the nasty pool."""
    if index % 13 == 5:
        return v.NASTY_TEXT[(index // 13) % len(v.NASTY_TEXT)]
    return v.company(rng)


def _party(rng: random.Random, index: int, code: str, span: tuple[datetime.date, datetime.date]
           ) -> Record:
    """The field values shared by customers and suppliers."""
    town, state, postcode, area = rng.choice(v.PLACES)
    changed = modified_at(rng, *span)
    started = changed - datetime.timedelta(days=rng.randint(0, 2000))
    person = rng.choice(v.PEOPLE)
    return {
        "CusCode": code, "CusName": _name(rng, index),
        "Address": f"No. {rng.randint(1, 300)}, {rng.choice(v.STREETS)},\n{postcode} {town}",
        "AreaCode": area, "CurCode": "SGD" if area == "SG" else v.sometimes(rng, 0.05, "USD", "RM"),
        "Tel": f"03-{rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        "Tel2": v.sometimes(rng, 0.2, None, ""), "Fax": "", "Fax2": None,
        "Email": v.sometimes(rng, 0.3, "", f"acc{index}@example.com.my"),
        "Contact": person, "ContactTel": f"01{rng.randint(0, 9)}-{rng.randint(1000000, 9999999)}",
        "Town": town, "State": state, "Country": "Malaysia" if area != "SG" else "Singapore",
        "PostCode": postcode, "SalesPersonCode": rng.choice(v.SALES_PERSONS),
        "CreditLimit": _credit_limit(rng, index), "TermCode": rng.choice(("30", "60", "COD", "7")),
        "StatusBadYN": v.sometimes(rng, 0.05, "1", "0"),
        "DateStart": v.ZERO_DATE if index % 29 == 3 else v.fmt_date(started),
        "DOB": rng.choice((v.ZERO_DATE, "", None, f"19{rng.randint(50, 99)}-0{index % 9 + 1}-15")),
        "Sex": rng.choice(("M", "F", "")), "MemberType": rng.choice(("", "GOLD", "SILVER")),
        "DateTimeModified": _stamp(rng, changed),
    }


def _credit_limit(rng: random.Random, index: int) -> v.Value:
    """A credit limit; some are blank or "N/A" as the ERP lets users type them."""
    if index % 37 == 7:
        return ""
    if index % 53 == 11:
        return "N/A"
    return v.dec(rng, 0, 50000, 2)


def parties(module: str, seed: int, span: tuple[datetime.date, datetime.date]) -> list[Record]:
    """All customers (codes 300-…) or suppliers (400-…)."""
    rng = random.Random(f"{seed}:{module}")
    base = v.template(skybiz.get(module).header)
    prefix = "300" if module == "customer" else "400"
    out = []
    for i in range(1, COUNTS[module] + 1):
        rec = dict(base)
        rec.update(_party(rng, i, f"{prefix}-{chr(65 + i % 26)}{i:04d}", span))
        out.append(rec)
    return out


def _item(rng: random.Random, index: int, span: tuple[datetime.date, datetime.date],
          suppliers: list[str]) -> Record:
    """One item master row with costs in 4 decimals and prices in 2."""
    group = v.ITEM_GROUPS[index % len(v.ITEM_GROUPS)]
    cost = v.dec(rng, 0.05, 400, 4)
    price = v.money(cost * v.dec(rng, 1.1, 1.8, 2))
    uom = rng.choice(v.UOMS)
    rec: Record = {
        "ItemCode": f"{group}-{index:05d}", "ItemGroup": group,
        "Description": _name(rng, index) if index % 13 == 5 else rng.choice(v.PRODUCTS),
        "AnalysisCode1": rng.choice(("", "LOCAL", "IMPORT")), "SupplierItemCode": f"S{index}",
        "MaxStkLevel": v.dec(rng, 100, 1000, 4), "MinStkLevel": v.dec(rng, 0, 50, 4),
        "ReorderQty": v.dec(rng, 10, 200, 4), "UOM": uom, "UnitCost": cost,
        "MonthlyAveCost": cost, "UnitPrice": price, "ItemType": v.sometimes(rng, 0.1, "S", "I"),
        "PhotoFile": "" if index % 3 else f"C:\\SKYBIZ\\Photo\\{group}\\{index}.jpg",
        "ItemBatchNoYN": "0", "WarrantyDateYN": "0", "QtyFormulaYN": "0",
        "UnitPriceFormulaYN": "0", "UOM1": uom, "UOMFactor1": Decimal("1.0000"),
        "UOMPrice1": price, "DefaultUOM": uom, "BaseCode": uom,
        "WarrantyDay": rng.choice((0, 0, 30, 365)), "SuspendedYN": v.sometimes(rng, 0.04, "1", "0"),
        "ValuationMethod": rng.choice(("FIFO", "Weighted Average")),
        "MSP": "" if index % 41 == 9 else v.money(cost), "MPP": cost, "MovingAveCost": cost,
        "FIFOCost": cost, "OnHand": v.dec(rng, -20, 900, 4),  # negative stock happens
        "PurchaseTaxCode": "TX-P", "SalesTaxCode": rng.choice(v.TAXES)[0],
        "LeadTime": "" if index % 47 == 13 else rng.randint(0, 30),
        "LocationCode": rng.choice(v.LOCATIONS), "SupCode": rng.choice(suppliers),
        "Point": "N/A" if index % 59 == 17 else Decimal("0.00"),
        "TariffCode": "2202.10.100", "ClassificationCode": "022",
        "DateTimeModified": _stamp(rng, modified_at(rng, *span)),
    }
    return rec


def items(seed: int, span: tuple[datetime.date, datetime.date], suppliers: list[str]
          ) -> list[Record]:
    """All item master rows."""
    rng = random.Random(f"{seed}:item")
    base = v.template(skybiz.get("item").header)
    out = []
    for i in range(1, COUNTS["item"] + 1):
        rec = dict(base)
        rec.update(_item(rng, i, span, suppliers))
        out.append(rec)
    return out


def _matrix_row(rng: random.Random, run_no: int, span: tuple[datetime.date, datetime.date],
                item: Record, customers: list[str]) -> Record:
    """One price-matrix rule: by item or by group, for everyone or one customer."""
    by_group = run_no % 5 == 0
    start = modified_at(rng, *span)
    return {
        "RunNo": run_no, "ItemCode": "" if by_group else item["ItemCode"],
        "ItemGroup": item["ItemGroup"] if by_group else "", "CategoryCode": "",
        "Description": f"Volume discount {item['ItemCode']}", "Pct": v.dec(rng, 0, 15, 2),
        "Criteria": "Qty", "Comparison": ">=", "Qty": v.dec(rng, 1, 50, 0) + Decimal("0.0000"),
        "PeriodYN": v.sometimes(rng, 0.3, "Y", "N"), "DateStart": v.fmt_date(start),
        "DateEnd": v.ZERO_DATE if run_no % 4 else v.fmt_date(start + datetime.timedelta(90)),
        "QuotaYN": "N", "QuotaQty": Decimal("0.0000"), "B_ase": "UnitPrice",
        "CusCode": rng.choice(customers) if run_no % 3 == 0 else "", "BranchCode": "",
        "UnitPriceFormula": "B_ase*(1-Pct/100)", "LowerLimitQty": Decimal("0.0000"),
        "UpperLimitQty": v.dec(rng, 100, 9999, 4), "Y1": v.dec(rng, 0.5, 300, 4),
        "Status": "0" if run_no % 7 == 0 else "1", "TimeStart": "00:00:00",
        "TimeEnd": "23:59:59", "DateTimeModify": _stamp(rng, start), "UserCode": "ADMIN",
        "MatrixType": "Q", "UOMType": "", "SpecialPriceYN": "N", "PriceCode": "",
        "ServiceChargeYN": "N", "Memo": v.NASTY_TEXT[run_no % len(v.NASTY_TEXT)] if run_no % 11 == 0
        else "", "UOM": item["UOM"], "SalesPersonCode": "",
    }


def price_matrix(seed: int, span: tuple[datetime.date, datetime.date], item_rows: list[Record],
                 customers: list[str]) -> list[Record]:
    """All price-matrix rows, inactive ones (Status "0") included."""
    rng = random.Random(f"{seed}:price_matrix")
    base = v.template(skybiz.get("price_matrix").header)
    out = []
    for run_no in range(1001, 1001 + COUNTS["price_matrix"]):
        rec = dict(base)
        rec.update(_matrix_row(rng, run_no, span, rng.choice(item_rows), customers))
        out.append(rec)
    return out
