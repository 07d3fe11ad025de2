"""The distribution ships every package: a plain (non-editable) install must hold each
folder of syncd and syncd_simulator that the code imports, and the migrations."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A new package folder that pyproject.toml does not list would be missing from a wheel
    (an editable install hides that): each one is listed, and nothing else is."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("syncd", "syncd_simulator") for p in (ROOT / top).rglob("__init__.py")}
    assert listed == found | {"syncd.sql"}
    assert any((ROOT / "sql").glob("0*.sql"))
