"""API credentials: where they come from and a wrapper that never shows them.

Lookup order for every command: env ``SYNCD_<SOURCE>_API_KEY/_API_SECRET``, then
``$CREDENTIALS_DIRECTORY/<source>.*`` (systemd), then ``<data_dir>/credentials/<source>.*``
(where ``syncd register`` writes by default).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from syncd.core.errors import ConfigError
from syncd.credentials import redaction


class Secret:
    """A string that prints as asterisks in str(), repr(), f-strings and logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value: call only where it goes onto the wire."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class Credentials:
    """One source's API key and (for kinds that sign with one) secret, both secrets."""

    api_key: Secret
    api_secret: Secret | None = None

    def secret(self) -> Secret:
        """The secret of a kind that needs one (loaded with it, so always there)."""
        if self.api_secret is None:
            raise ValueError("these credentials have no API secret")
        return self.api_secret


def env_prefix(source: str) -> str:
    """``SYNCD_<SOURCE>_`` with the source name upper-cased and non-alphanumerics as ``_``."""
    return "SYNCD_" + re.sub(r"[^A-Za-z0-9]", "_", source).upper() + "_"


def load_credentials(
    source: str, env: Mapping[str, str], data_dir: Path | None = None,
    names: tuple[str, ...] = ("api_key", "api_secret"),
) -> Credentials:
    """Read the key (and the secret, when ``names`` has it) from env,
    ``$CREDENTIALS_DIRECTORY`` or ``data_dir``, trimmed."""
    return Credentials(
        api_key=Secret(_lookup(source, "api_key", env, data_dir)),
        api_secret=(Secret(_lookup(source, "api_secret", env, data_dir))
                    if "api_secret" in names else None),
    )


def credential_dirs(env: Mapping[str, str], data_dir: Path | None) -> list[Path]:
    """The directories searched after the environment, in order."""
    dirs = [Path(env["CREDENTIALS_DIRECTORY"])] if env.get("CREDENTIALS_DIRECTORY") else []
    return dirs + ([data_dir / "credentials"] if data_dir is not None else [])


def load_renewal(source: str, env: Mapping[str, str], data_dir: Path | None) -> dt.date | None:
    """The renewal date ``syncd register`` stored beside the key (``<source>.renewal``)."""
    for directory in credential_dirs(env, data_dir):
        try:
            return dt.date.fromisoformat(
                (directory / f"{source}.renewal").read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            continue
    return None


def _lookup(source: str, what: str, env: Mapping[str, str], data_dir: Path | None) -> str:
    """The credential from the first place that has it, remembered for redaction."""
    value = _find(source, what, env, data_dir)
    redaction.remember(value)
    return value


def _find(source: str, what: str, env: Mapping[str, str], data_dir: Path | None) -> str:
    var = env_prefix(source) + what.upper()
    # Surrounding whitespace is the docs' first cause of 401s: a pasted newline or space.
    value = env.get(var, "").strip()
    if value:
        return value
    dirs = credential_dirs(env, data_dir)
    for directory in dirs:
        path = directory / f"{source}.{what}"
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            value = ""
        except OSError as exc:
            raise ConfigError(
                f"source {source!r}: cannot read {path} ({exc.strerror}); "
                "check the LoadCredential= line of the unit or the file's owner."
            ) from None
        if value:
            return value
    where = f"${var}"
    if not env.get("CREDENTIALS_DIRECTORY"):
        where += f" or $CREDENTIALS_DIRECTORY/{source}.{what}"
    where += "".join(f" or {d / f'{source}.{what}'}" for d in dirs)
    raise ConfigError(f"source {source!r} has no {what.replace('_', ' ')}: set {where} "
                      "(or run syncd register).")
