"""Writing credential files: atomic (temp file + os.replace), 0600 files in a 0700 directory.

Beside ``<source>.api_key`` and ``<source>.api_secret`` lives ``<source>.renewal`` (the
registration's renewal date, ISO), which ``status`` and ``/metrics`` read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
import tempfile
from pathlib import Path

from syncd.core.errors import ConfigError
from syncd.credentials.lookup import Secret


def prepare(directory: Path) -> None:
    """Create ``directory`` 0700, or check an existing one is private and writable.

    Called before the registration request: the secret is shown only once, so a place
    that cannot keep it must be found out before the server hands it over.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(directory.stat().st_mode)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".syncd-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"cannot write credentials to {directory} ({exc.strerror or exc}); "
                          "choose another --credentials-dir.") from None
    if mode & 0o077:
        raise ConfigError(f"{directory} is open to other users (mode {mode:04o}); run "
                          f"chmod 700 {directory} or choose another --credentials-dir.")


def store(directory: Path, source: str, api_key: Secret, api_secret: Secret,
          renewal: dt.date | None) -> tuple[Path, Path]:
    """Write the key pair (and the renewal date, or remove a stale one); return the paths."""
    files = {f"{source}.api_secret": api_secret.reveal(), f"{source}.api_key": api_key.reveal()}
    if renewal is not None:
        files[f"{source}.renewal"] = renewal.isoformat()
    else:
        with contextlib.suppress(FileNotFoundError):
            (directory / f"{source}.renewal").unlink()
    # Every temp file is complete before the first rename: a failure half way leaves the
    # previous pair in place rather than a new key with an old secret.
    temps = {name: _write_temp(directory, name, text) for name, text in files.items()}
    for name, temp in temps.items():
        os.replace(temp, directory / name)
    _sync_dir(directory)
    return directory / f"{source}.api_key", directory / f"{source}.api_secret"


def _write_temp(directory: Path, name: str, text: str) -> Path:
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(temp)
        raise
    return Path(temp)


def _sync_dir(directory: Path) -> None:
    """Make the renames durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
