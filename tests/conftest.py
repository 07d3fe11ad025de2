"""Shared fixtures: config files written to tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

MINIMAL = """
[sources.main]
base_url = "https://erp.example.com/01/clientportal/apiv2/modules"
backfill_from = "2024-01-01"
"""

CREDS = {"SYNCD_MAIN_API_KEY": "k" * 25, "SYNCD_MAIN_API_SECRET": "s" * 64}


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a TOML text to a file and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "syncd.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
