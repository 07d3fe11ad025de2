"""Credentials: sources, trimming, and never showing the secret."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from syncd.credentials import Secret, env_prefix, load_credentials
from syncd.errors import ConfigError


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
