"""Credential files: atomic, private, and the renewal date beside them."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from syncd.core.errors import ConfigError
from syncd.credentials import store as credstore
from syncd.credentials.lookup import Secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_writes_0600_files_in_a_0700_directory(tmp_path: Path) -> None:
    """A new directory is 0700, every file 0600, and no temporary file is left behind."""
    directory = tmp_path / "a" / "credentials"
    credstore.prepare(directory)
    key, secret = credstore.store(directory, "main", Secret("K" * 25), Secret("s" * 64),
                                  dt.date(2027, 12, 2))
    assert mode(directory) == 0o700
    assert (key.read_text(), secret.read_text()) == ("K" * 25, "s" * 64)
    assert (directory / "main.renewal").read_text() == "2027-12-02"
    assert sorted(p.name for p in directory.iterdir()) == [
        "main.api_key", "main.api_secret", "main.renewal"]
    assert {mode(p) for p in directory.iterdir()} == {0o600}


def test_store_replaces_the_pair_and_forgets_an_old_renewal_date(tmp_path: Path) -> None:
    """A second registration replaces both files; without a renewal date the old one goes."""
    credstore.prepare(tmp_path / "c")
    credstore.store(tmp_path / "c", "main", Secret("old"), Secret("old-s"), dt.date(2027, 1, 1))
    credstore.store(tmp_path / "c", "main", Secret("new"), Secret("new-s"), None)
    assert (tmp_path / "c/main.api_key").read_text() == "new"
    assert (tmp_path / "c/main.api_secret").read_text() == "new-s"
    assert not (tmp_path / "c/main.renewal").exists()


def test_prepare_refuses_a_directory_others_can_read(tmp_path: Path) -> None:
    """An existing group- or world-accessible directory is refused, not silently used."""
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(0o750)
    with pytest.raises(ConfigError) as info:
        credstore.prepare(tmp_path / "open")
    assert "mode 0750" in str(info.value)
    assert "chmod 700" in str(info.value)
