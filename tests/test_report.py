"""Tests for syncd.report: the plain-text status table and its notes."""

from __future__ import annotations

import io
from typing import Any

from syncd.cli import report


def source(name: str, capacity: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": name, "kind": "skybiz", "modules": [], "renewal_date": None, "outbox": {},
            "capacity": capacity}


def test_status_prints_each_hosts_capacity_and_warning_once() -> None:
    """Two sources on one host share one capacity line and one warning; none without figures."""
    figures = {"summary": "api: 16 requests per round at 5 / 10 s", "warning": "api: too many."}
    out = io.StringIO()
    report.status({"sources": [source("a", figures), source("b", figures),
                               source("c", None)]}, out)
    lines = out.getvalue().splitlines()
    assert lines[1:] == ["capacity api: 16 requests per round at 5 / 10 s",
                         "warning: api: too many."]
