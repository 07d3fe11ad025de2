"""The systemd unit: verify-clean, hardened to the exposure bar, secrets by credential."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "syncd.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def test_unit_uses_notify_credentials_and_no_environment_secrets() -> None:
    """Type=notify with a watchdog; API secrets come by LoadCredential, never Environment."""
    text = UNIT.read_text()
    assert "Type=notify" in text
    assert "WatchdogSec=" in text
    assert "LoadCredential=main.api_secret:" in text
    assert not re.search(r"^Environment=.*(API|SECRET)", text, re.MULTILINE)
    assert "StateDirectory=syncd" in text


@needs_analyze
def test_unit_verifies_clean() -> None:
    """systemd-analyze verify reports nothing."""
    done = subprocess.run([str(ANALYZE), "verify", str(UNIT)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


@needs_analyze
def test_unit_exposure_is_at_most_1_5() -> None:
    """systemd-analyze security rates the unit's overall exposure 1.5 or better."""
    done = subprocess.run([str(ANALYZE), "security", "--offline=true", str(UNIT)],
                          capture_output=True, text=True, check=False)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert m is not None, done.stdout[-500:]
    assert float(m[1]) <= 1.5


def _settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` line of the unit (comments skipped), values per key in order."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_caps_memory_and_tasks_and_has_no_empty_ip_deny() -> None:
    """MemoryMax= and TasksMax= are set to real limits; no IPAddressDeny= that denies nothing."""
    settings = _settings(UNIT.read_text())
    memory, tasks = settings.get("MemoryMax", [""])[-1], settings.get("TasksMax", [""])[-1]
    assert re.fullmatch(r"[1-9][0-9]*[KMG]", memory), memory
    assert tasks.isdigit(), tasks
    assert 64 <= int(tasks) <= 4096, tasks
    assert all(v for v in settings.get("IPAddressDeny", [])), "empty IPAddressDeny= denies nothing"
