"""Batching and answer interpretation of the push package (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.kinds.skybiz.push import batches
from syncd.kinds.skybiz.push.outcome import Outcome, interpret


def test_1200_documents_make_three_batches() -> None:
    """500 + 500 + 200, in order."""
    got = batches.split(list(range(1200)), str)
    assert [len(b) for b in got] == [500, 500, 200]
    assert [x for b in got for x in b] == list(range(1200))


def test_one_name_never_twice_in_a_batch() -> None:
    """Two documents sharing a Doc1No (other DocType) go out in different requests."""
    docs = [("CusInv", "A"), ("CusCN", "A"), ("CusInv", "B"), ("CusDN", "A")]
    got = batches.split(docs, lambda d: d[1], limit=3)
    assert got == [[("CusInv", "A"), ("CusInv", "B")], [("CusCN", "A")], [("CusDN", "A")]]


SALES_ANSWER: dict[str, Any] = {
    "summary": {"total_documents": 4, "inserted": 1, "failed": 3},
    "successful_documents": ["A"], "failed_documents": ["B", "C", "D"],
    "fail_details": {
        "compulsory_fields_missing": ["Document 2 (Doc1No: B), Item 1: Missing fields - UOM"],
        "duplicate_documents": ["C"],
        "invalid_items": [{"Doc1No": "D", "error": "ItemCode 'X' does not exist"}],
        "amount_mismatch": {}, "validation_errors": {"D": ["ItemCode 'X' does not exist"]}}}


def test_every_fail_details_shape_names_its_document() -> None:
    """Message lists, bare Doc1No lists and objects all blame the right document."""
    got = interpret("sales", SALES_ANSWER, ["A", "B", "C", "D"], [False] * 4)
    assert got == [
        Outcome("inserted"),
        Outcome("rejected", "Document 2 (Doc1No: B), Item 1: Missing fields - UOM",
                "compulsory_fields_missing"),
        Outcome("rejected", "Document already exists", "duplicate_documents"),
        Outcome("rejected", "ItemCode 'X' does not exist", "invalid_items")]


@pytest.mark.parametrize(("uncertain", "state"), [(True, "inserted"), (False, "rejected")])
def test_already_exists_counts_only_after_a_lost_answer(uncertain: bool, state: str) -> None:
    """"Document already exists" is our own insert only if an earlier request went unanswered."""
    answer = {"summary": {}, "failed_documents": ["C"],
              "fail_details": {"validation_errors": {"C": ["Document already exists"]}}}
    assert interpret("sales", answer, ["C"], [uncertain])[0].state == state


def test_customer_innocents_go_back_to_pending() -> None:
    """All-or-nothing: a customer nobody blamed is sent again, not rejected."""
    answer = {"summary": {"total_documents": 2, "inserted": 0, "failed": 2},
              "successful_documents": [], "failed_documents": ["K1", "K2"],
              "fail_details": {"duplicate_customers": [
                  {"cuscode": "K2", "error": "Customer code already exists"}],
                  "validation_errors": []}}
    assert interpret("customer", answer, ["K1", "K2"], [False, False]) == [
        Outcome("pending"),
        Outcome("rejected", "Customer code already exists", "duplicate_customers")]


def test_unmentioned_document_stays_sending() -> None:
    """A document the answer does not mention is neither inserted nor rejected."""
    answer = {"summary": {}, "successful_documents": ["A"], "failed_documents": []}
    assert interpret("sales", answer, ["A", "B"], [False, False])[1] == Outcome("sending")


def test_customer_batch_blaming_nobody_is_rejected_not_resent() -> None:
    """A failed customer batch that names no culprit rejects its documents (no endless loop)."""
    answer = {"summary": {"total_documents": 1, "inserted": 0, "failed": 1},
              "successful_documents": [], "failed_documents": ["K1"], "fail_details": {}}
    assert interpret("customer", answer, ["K1"], [False])[0].state == "rejected"
