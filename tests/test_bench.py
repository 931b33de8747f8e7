"""The benchmarks still run and still check their results, on a small load.

These are not timed: each bench fails (exit 1) when the daemon's answer is
wrong, whatever the speed, and that is what is asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from servers import DOVECOT, in_ci

ROOT = Path(__file__).resolve().parent.parent


def _bench(name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / name), "--messages", "20", "--runs", "1"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT)


def test_the_ingest_bench_runs_and_checks_its_run():
    done = _bench("ingest.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "daemon, end to end" in done.stdout


def test_the_imap_bench_runs_and_checks_its_run():
    if not Path(DOVECOT).exists():
        if in_ci():
            pytest.fail("Dovecot is not installed; CI must run every test")
        pytest.skip("Dovecot is not installed")
    done = _bench("imap.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IMAP drain" in done.stdout and "checked: all processed, threaded, sent" in done.stdout
