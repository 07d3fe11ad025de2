"""The SKYBIZ modules as data: endpoint, date filter, key, fields and their warehouse types.

The single source of truth for SKYBIZ fields, keys and types; the simulator, the client,
the SQL migrations (checked by tests) and the loader all read it. Field lists follow the
API docs (``shared/seeds/000_…``, ``001_…``, ``002_…``) with every documented range
expanded (AnalysisCode1–15, UOM1–4, DUD1–6, Y1–Y5 …).
"""

from __future__ import annotations

from syncd.core.model import Field, FieldType, Module, ModuleKind

SCHEMA = "skybiz"  # the warehouse schema of every SKYBIZ table
# Every read names date_from..date_to of at most 31 days (date_to = date_from + 30).
MAX_WINDOW_DAYS = 31

T, N, BIG, D, TS, TM = (
    FieldType.TEXT,
    FieldType.NUMERIC,
    FieldType.BIGINT,
    FieldType.DATE,
    FieldType.TIMESTAMP,
    FieldType.TIME,
)


def _f(spec: str, type_: FieldType) -> tuple[Field, ...]:
    """Fields from a space-separated list; ``Name1-4`` expands to Name1 … Name4."""
    out: list[Field] = []
    for word in spec.split():
        if "-" in word:
            stem_first, last = word.split("-")
            stem = stem_first.rstrip("0123456789")
            first = int(stem_first[len(stem) :])
            out.extend(Field(f"{stem}{n}", type_) for n in range(first, int(last) + 1))
        else:
            out.append(Field(word, type_))
    return tuple(out)


def _ordered(order: str, *groups: tuple[Field, ...]) -> tuple[Field, ...]:
    """Arrange typed fields in the documented order given as a space-separated list."""
    by_name = {f.name: f for g in groups for f in g}
    names = [f.name for f in _f(order, T)]
    missing = set(by_name) - set(names)
    if missing or len(names) != len(by_name):
        raise ValueError(f"field order and types disagree: {sorted(missing)}")
    return tuple(by_name[n] for n in names)


_PARTY = _ordered(
    "CusCode CusName Address AreaCode CurCode Tel Tel2 Fax Fax2 Email Contact ContactTel "
    "Town State Country PostCode SalesPersonCode CreditLimit TermCode StatusBadYN DateStart "
    "DOB Sex MemberType DateTimeModified",
    _f("CusCode CusName Address AreaCode CurCode Tel Tel2 Fax Fax2 Email Contact ContactTel "
       "Town State Country PostCode SalesPersonCode TermCode StatusBadYN Sex MemberType", T),
    _f("CreditLimit", N),
    _f("DateStart DOB", D),
    _f("DateTimeModified", TS),
)

_ITEM = _ordered(
    "ItemCode Description ItemGroup AnalysisCode1-15 AlternateItem SupplierItemCode "
    "MaxStkLevel MinStkLevel ReorderQty UOM UnitCost MonthlyAveCost UnitPrice PhotoFile "
    "ItemType ItemBatchNoYN WarrantyDateYN QtyFormulaYN UnitPriceFormulaYN UOM1-4 "
    "UOMFactor1-4 UOMPrice1-4 UOMCode1-4 DefaultUOM BaseCode WarrantyDay SuspendedYN "
    "ValuationMethod MSP MSP1-4 MAXSP MAXSP1-4 MPP MovingAveCost FIFOCost OnHand "
    "PurchaseTaxCode SalesTaxCode LeadTime LocationCode DisRate1 Point SupCode TariffCode "
    "ClassificationCode DateTimeModified",
    _f("ItemCode Description ItemGroup AnalysisCode1-15 AlternateItem SupplierItemCode UOM "
       "PhotoFile ItemType ItemBatchNoYN WarrantyDateYN QtyFormulaYN UnitPriceFormulaYN "
       "UOM1-4 UOMCode1-4 DefaultUOM BaseCode SuspendedYN ValuationMethod PurchaseTaxCode "
       "SalesTaxCode LocationCode SupCode TariffCode ClassificationCode", T),
    _f("MaxStkLevel MinStkLevel ReorderQty UnitCost MonthlyAveCost UnitPrice UOMFactor1-4 "
       "UOMPrice1-4 MSP MSP1-4 MAXSP MAXSP1-4 MPP MovingAveCost FIFOCost OnHand DisRate1 "
       "Point", N),
    _f("WarrantyDay LeadTime", BIG),
    _f("DateTimeModified", TS),
)

_PRICE_MATRIX = _ordered(
    "RunNo ItemCode ItemGroup CategoryCode Description Pct Criteria Comparison Qty PeriodYN "
    "DateStart DateEnd QuotaYN QuotaQty B_ase CusCode BranchCode UnitPriceFormula CusAna1-3 "
    "ItemAna3 LowerLimitQty UpperLimitQty Y1-5 Status TimeStart TimeEnd L_ink DateTimeModify "
    "UserCode MatrixType UOMType SpecialPriceYN PriceCode ServiceChargeYN Memo UOM "
    "SalesPersonCode",
    _f("RunNo", BIG),
    _f("ItemCode ItemGroup CategoryCode Description Criteria Comparison PeriodYN QuotaYN B_ase "
       "CusCode BranchCode UnitPriceFormula CusAna1-3 ItemAna3 Status L_ink UserCode "
       "MatrixType UOMType SpecialPriceYN PriceCode ServiceChargeYN Memo UOM SalesPersonCode",
       T),
    _f("Pct Qty QuotaQty LowerLimitQty UpperLimitQty Y1-5", N),
    _f("DateStart DateEnd", D),
    _f("TimeStart TimeEnd", TM),
    _f("DateTimeModify", TS),
)

_SALES_HEADER = _ordered(
    "D_ate Doc1No Doc2No Doc3No CusCode DocType HCNetAmt HCDtTax CurRate1 AdjAmt",
    _f("D_ate", D),
    _f("Doc1No Doc2No Doc3No CusCode DocType", T),
    _f("HCNetAmt HCDtTax CurRate1 AdjAmt", N),
)
_SALES_LINES = _ordered(
    "ItemCode Description Qty FactorQty UOM HCUnitCost HCLineAmt HCDiscount DisRate1 HCTax "
    "TaxRate1 DetailTaxCode BlankLine SalesPersonCode BranchCode DepartmentCode ProjectCode "
    "LocationCode WarrantyDate ItemBatch DUD1-6",
    _f("ItemCode Description UOM DetailTaxCode BlankLine SalesPersonCode BranchCode "
       "DepartmentCode ProjectCode LocationCode ItemBatch DUD1-6", T),
    _f("Qty FactorQty HCUnitCost HCLineAmt HCDiscount DisRate1 HCTax TaxRate1", N),
    _f("WarrantyDate", D),
)

_PURCHASE_HEADER = _ordered(
    "Doc1No Doc2No Doc3No D_ate CusCode CurCode CurRate1 TermCode HCNetAmt HCDtTax DocType "
    "DueDate GbDisRate1 HCGbDiscount HCGbTax PostedYN ApprovedYN BatchCode TaxDate",
    _f("Doc1No Doc2No Doc3No CusCode CurCode TermCode DocType PostedYN ApprovedYN BatchCode",
       T),
    _f("CurRate1 HCNetAmt HCDtTax GbDisRate1 HCGbDiscount HCGbTax", N),
    _f("D_ate DueDate TaxDate", D),
)
_PURCHASE_LINES = _ordered(
    "LineNo ItemCode Description Description2 Qty FactorQty UOM UOMSingular HCUnitCost "
    "HCLineAmt HCDiscount DisRate1 HCTax TaxRate1 DetailTaxCode BlankLine BranchCode "
    "DepartmentCode ProjectCode LocationCode WarrantyDate GRNNo PORunNo PONO LandingCost "
    "OCCode OCRate OCAmt GLCode FinCatCode ItemBatch DUD1-6",
    _f("LineNo", BIG),
    _f("ItemCode Description Description2 UOM UOMSingular DetailTaxCode BlankLine BranchCode "
       "DepartmentCode ProjectCode LocationCode GRNNo PORunNo PONO OCCode GLCode FinCatCode "
       "ItemBatch DUD1-6", T),
    _f("Qty FactorQty HCUnitCost HCLineAmt HCDiscount DisRate1 HCTax TaxRate1 LandingCost "
       "OCRate OCAmt", N),
    _f("WarrantyDate", D),
)

_SALES_ORDER_HEADER = _ordered(
    "Doc1No Doc2No Doc3No D_ate CusCode CusName CurCode CurRate1 TermCode D_ay HCGbDiscount "
    "HCGbTax HCNetAmt HCDtTax DocType Status ApprovedYN Address City State Zip ContactTel "
    "Email Attention DateTimeModified",
    _f("Doc1No Doc2No Doc3No CusCode CusName CurCode TermCode DocType Status ApprovedYN "
       "Address City State Zip ContactTel Email Attention", T),
    _f("CurRate1 HCGbDiscount HCGbTax HCNetAmt HCDtTax", N),
    _f("D_ay", BIG),
    _f("D_ate", D),
    _f("DateTimeModified", TS),
)
_SALES_ORDER_LINES = _ordered(
    "LineNo ItemCode Description Description2 Qty FactorQty UOM UOMSingular HCUnitCost "
    "HCLineAmt HCDiscount DisRate1 HCTax TaxRate1 DetailTaxCode BlankLine BranchCode "
    "DepartmentCode ProjectCode LocationCode SalesPersonCode DeliveryDate DUD1-6",
    _f("LineNo", BIG),
    _f("ItemCode Description Description2 UOM UOMSingular DetailTaxCode BlankLine BranchCode "
       "DepartmentCode ProjectCode LocationCode SalesPersonCode DUD1-6", T),
    _f("Qty FactorQty HCUnitCost HCLineAmt HCDiscount DisRate1 HCTax TaxRate1", N),
    _f("DeliveryDate", D),
)

_COLLECTION = _ordered(
    "RunNo Doc1No D_ate T_ime CusCode DocType T_ype CashAmt CC1Code CC1Amt CC1No CC1Expiry "
    "CC1ChargesAmt CC1ChargesRate CC2Code CC2Amt CC2No CC2Expiry CC2ChargesAmt CC2ChargesRate "
    "Cheque1Code Cheque1Amt Cheque1No Cheque2Code Cheque2Amt Cheque2No VoucherAmt "
    "BalanceAmount ChangeAmt PointAmt CurCode CurRate FCAmt PostedYN VoidYN UserCode "
    "SupervisorCode CounterCode BranchCode Remark Remark2 GJNo D_ateTime",
    _f("RunNo", BIG),
    _f("Doc1No CusCode DocType T_ype CC1Code CC1No CC1Expiry CC2Code CC2No CC2Expiry "
       "Cheque1Code Cheque1No Cheque2Code Cheque2No CurCode PostedYN VoidYN UserCode "
       "SupervisorCode CounterCode BranchCode Remark Remark2 GJNo", T),
    _f("CashAmt CC1Amt CC1ChargesAmt CC1ChargesRate CC2Amt CC2ChargesAmt CC2ChargesRate "
       "Cheque1Amt Cheque2Amt VoucherAmt BalanceAmount ChangeAmt PointAmt CurRate FCAmt", N),
    _f("D_ate", D),
    _f("T_ime", TM),
    _f("D_ateTime", TS),
)

_DOC_KEY = ("DocType", "Doc1No")

MODULES: tuple[Module, ...] = (
    Module("customer", "customer.php", "Customer", ModuleKind.MASTER, "DateTimeModified",
           ("CusCode",), _PARTY, accepts_fields=True, modified_field="DateTimeModified",
           schema=SCHEMA),
    Module("supplier", "supplier.php", "Supplier", ModuleKind.MASTER, "DateTimeModified",
           ("CusCode",), _PARTY, accepts_fields=True, modified_field="DateTimeModified",
           schema=SCHEMA),
    Module("item", "item.php", "Item", ModuleKind.MASTER, "DateTimeModified",
           ("ItemCode",), _ITEM, accepts_fields=True, modified_field="DateTimeModified",
           schema=SCHEMA),
    Module("sales", "sales.php", "Sales", ModuleKind.DOCUMENT, "D_ate",
           _DOC_KEY, _SALES_HEADER, _SALES_LINES, lookback_days=7, schema=SCHEMA),
    Module("purchase", "purchase.php", "Purchase", ModuleKind.DOCUMENT, "D_ate",
           _DOC_KEY, _PURCHASE_HEADER, _PURCHASE_LINES, lookback_days=7, schema=SCHEMA),
    Module("collection", "collection.php", "Collection", ModuleKind.DOCUMENT, "D_ate",
           ("RunNo",), _COLLECTION, lookback_days=7, schema=SCHEMA),
    Module("sales_order", "sales_order.php", "Sales Order", ModuleKind.DOCUMENT, "D_ate",
           _DOC_KEY, _SALES_ORDER_HEADER, _SALES_ORDER_LINES, lookback_days=7, schema=SCHEMA),
    Module("price_matrix", "price_matrix.php", "Price Matrix", ModuleKind.MASTER, "DateTimeModify",
           ("RunNo",), _PRICE_MATRIX, extra_params=(("item_code", ""), ("cus_code", "")),
           modified_field="DateTimeModify", schema=SCHEMA),
)

BY_NAME: dict[str, Module] = {m.name: m for m in MODULES}


def get(name: str) -> Module:
    """The module called ``name``; KeyError lists the known names."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown module {name!r}; known: {', '.join(BY_NAME)}") from None
