"""One day of collection receipts, numbered by a RunNo that runs on across days."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from syncd_simulator import fields as skybiz
from syncd_simulator import values as v
from syncd_simulator.documents import Refs, day_count, day_rng
from syncd_simulator.values import Record

FIRST_RUNNO = 100001
_ZERO = Decimal("0.00")
_DOCTYPES = (("Collection", 0.5), ("CS", 0.85), ("CF", 0.9), ("CusCN", 1.0))
_PAYMENTS = (("CASH", 0.45), ("CC", 0.7), ("CHEQUE", 0.82), ("VOUCHER", 0.88), ("MIXED", 1.0))


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    """A name from a cumulative-probability table."""
    roll = rng.random()
    return next((name for name, upto in table if roll < upto), table[-1][0])


def _split(rng: random.Random, kind: str, total: Decimal) -> Record:
    """How ``total`` was paid; the parts always add up exactly."""
    if kind == "CASH":
        tendered = v.money(total + v.dec(rng, 0, 50, 0)) if rng.random() < 0.3 else total
        return {"CashAmt": tendered, "ChangeAmt": tendered - total}
    if kind == "CC":
        rate = Decimal("1.50")
        return {"CC1Code": rng.choice(("VISA", "MASTER", "AMEX")), "CC1Amt": total,
                "CC1No": f"4111-XXXX-XXXX-{rng.randint(1000, 9999)}", "CC1Expiry": "12/27",
                "CC1ChargesRate": rate, "CC1ChargesAmt": v.money(total * rate / 100)}
    if kind == "CHEQUE":
        return {"Cheque1Code": rng.choice(("MBB", "CIMB", "PBB")), "Cheque1Amt": total,
                "Cheque1No": f"{rng.randint(0, 999999):06d}"}
    if kind == "VOUCHER":
        return {"VoucherAmt": total}
    cash = Decimal("0.10") if total > Decimal("0.30") else _ZERO  # 0.1 + rest: float-hostile
    return {"CashAmt": cash, "CC1Code": "VISA", "CC1Amt": total - cash,
            "CC1No": "5500-XXXX-XXXX-0004", "CC1Expiry": "01/30"}


def _receipt(rng: random.Random, run_no: int, day: datetime.date, refs: Refs) -> Record:
    """The field values of one receipt."""
    seconds = rng.randint(9 * 3600, 22 * 3600)
    kind = _pick(rng, _PAYMENTS)
    total = v.dec(rng, 0.3, 4000, 2)
    paid_day = day - datetime.timedelta(days=rng.randint(0, 45))
    rec: Record = {
        "RunNo": run_no, "D_ate": v.fmt_date(day), "DocType": _pick(rng, _DOCTYPES),
        "Doc1No": f"IV-{paid_day:%y%m%d}-{rng.randint(1, 20):04d}",
        "T_ime": v.at_time(day, seconds).strftime("%H:%M:%S"),
        "CusCode": rng.choice(refs.customers)["CusCode"], "T_ype": kind,
        "BalanceAmount": _ZERO, "CurCode": "RM", "CurRate": Decimal("1.000000"), "FCAmt": total,
        "PostedYN": v.sometimes(rng, 0.85, "1", "0"), "VoidYN": v.sometimes(rng, 0.04, "1", "0"),
        "UserCode": rng.choice(("CASHIER1", "CASHIER2", "ADMIN")), "CounterCode": "C01",
        "BranchCode": rng.choice(v.BRANCHES),
        "Remark": v.sometimes(rng, 0.05, v.NASTY_TEXT[run_no % len(v.NASTY_TEXT)], ""),
        "Remark2": None if rng.random() < 0.1 else "",
        "D_ateTime": v.ZERO_DATETIME if rng.random() < 0.03
        else v.fmt_datetime(v.at_time(day, seconds)),
    }
    rec.update(_split(rng, kind, total))
    return rec


def generate_day(seed: int, day: datetime.date, scale: float, refs: Refs, first_run_no: int
                 ) -> list[Record]:
    """Every receipt of ``day``, numbered from ``first_run_no``."""
    rng = day_rng(seed, "collection", day)
    count = day_count(rng, "collection", day, scale)
    base = v.template(skybiz.get("collection").header)
    out = []
    for n in range(count):
        rec = dict(base)
        rec.update(_receipt(rng, first_run_no + n, day, refs))
        out.append(rec)
    return out


def count_on(seed: int, day: datetime.date, scale: float) -> int:
    """How many receipts ``day`` has, without generating them."""
    return day_count(day_rng(seed, "collection", day), "collection", day, scale)
