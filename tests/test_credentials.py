"""Credentials: sources, trimming, and never showing the secret."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from syncd.core.errors import ConfigError
from syncd.credentials.lookup import Secret, env_prefix, load_credentials, load_renewal


def test_env_credentials_are_trimmed() -> None:
    """A pasted newline or space around the key is the docs' first cause of 401s."""
    creds = load_credentials("main", {"SYNCD_MAIN_API_KEY": "  abc \n",
                                      "SYNCD_MAIN_API_SECRET": "\tsecret-value\n"})
    assert creds.api_key.reveal() == "abc"
    assert creds.api_secret.reveal() == "secret-value"


def test_credentials_directory(tmp_path: Path) -> None:
    """systemd LoadCredential= files are read from $CREDENTIALS_DIRECTORY."""
    (tmp_path / "shop_2.api_key").write_text("key-from-file\n")
    (tmp_path / "shop_2.api_secret").write_text("secret-from-file\n")
    creds = load_credentials("shop_2", {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert creds.api_key.reveal() == "key-from-file"
    assert creds.api_secret.reveal() == "secret-from-file"


def test_missing_secret_names_both_places(tmp_path: Path) -> None:
    """The error says exactly which variable or file to provide."""
    with pytest.raises(ConfigError) as info:
        load_credentials("main", {"SYNCD_MAIN_API_KEY": "k",
                                  "CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "$SYNCD_MAIN_API_SECRET" in str(info.value)
    assert str(tmp_path / "main.api_secret") in str(info.value)


def test_env_prefix_normalises_names() -> None:
    """Source names map onto environment variable names predictably."""
    assert env_prefix("main") == "SYNCD_MAIN_"
    assert env_prefix("shop-2") == "SYNCD_SHOP_2_"


def test_secret_never_shows() -> None:
    """str, repr, format and containers never reveal the value; pickling is refused."""
    canary = "CANARY-SECRET-1234567890"
    s = Secret(canary)
    creds = load_credentials("m", {"SYNCD_M_API_KEY": canary, "SYNCD_M_API_SECRET": canary})
    for shown in (str(s), repr(s), f"{s}", repr([s]), repr(creds), str({"x": s})):
        assert canary not in shown
    assert s.reveal() == canary
    with pytest.raises(TypeError):
        pickle.dumps(s)


def _write_pair(directory: Path, key: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.api_key").write_text(key)
    (directory / "main.api_secret").write_text(key + "-secret")


@pytest.mark.parametrize(("present", "winner"), [
    (("env", "systemd", "data_dir"), "env"),
    (("systemd", "data_dir"), "systemd"),
    (("data_dir",), "data_dir"),
])
def test_lookup_order_env_then_credentials_directory_then_data_dir(
        tmp_path: Path, present: tuple[str, ...], winner: str) -> None:
    """Env wins over $CREDENTIALS_DIRECTORY, which wins over <data_dir>/credentials."""
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "systemd")}
    if "env" in present:
        env |= {"SYNCD_MAIN_API_KEY": "env", "SYNCD_MAIN_API_SECRET": "env-secret"}
    if "systemd" in present:
        _write_pair(tmp_path / "systemd", "systemd")
    if "data_dir" in present:
        _write_pair(tmp_path / "data/credentials", "data_dir")
    creds = load_credentials("main", env, tmp_path / "data")
    assert creds.api_key.reveal() == winner
    assert creds.api_secret.reveal() == winner + "-secret"


def test_missing_credentials_name_the_data_dir_and_syncd_register(tmp_path: Path) -> None:
    """With nothing anywhere, the sentence lists all three places and the command to run."""
    with pytest.raises(ConfigError) as info:
        load_credentials("main", {}, tmp_path)
    sentence = str(info.value)
    assert "$SYNCD_MAIN_API_KEY" in sentence
    assert "$CREDENTIALS_DIRECTORY/main.api_key" in sentence
    assert str(tmp_path / "credentials/main.api_key") in sentence
    assert "syncd register" in sentence


def test_renewal_date_is_read_beside_the_key(tmp_path: Path) -> None:
    """<source>.renewal is found in the credential directories; junk reads as unknown."""
    (tmp_path / "credentials").mkdir()
    assert load_renewal("main", {}, tmp_path) is None
    (tmp_path / "credentials/main.renewal").write_text("2027-12-02\n")
    assert load_renewal("main", {}, tmp_path) == dt.date(2027, 12, 2)
    (tmp_path / "credentials/main.renewal").write_text("soon")
    assert load_renewal("main", {}, tmp_path) is None
