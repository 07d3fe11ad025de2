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
