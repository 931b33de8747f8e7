"""The benchmarks still run and still check their results, on a small load.

These are not timed: each bench fails (exit 1) when the daemon's answer is
wrong, whatever the speed, and that is what is asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from servers import DOVECOT, PG_BIN, in_ci

ROOT = Path(__file__).resolve().parent.parent


def _bench(name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / name), "--messages", "20", "--runs", "1"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT)


def test_the_ingest_bench_runs_and_checks_its_run():
    done = _bench("ingest.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "daemon, end to end" in done.stdout and "floor + one read: least possible" in done.stdout


def test_the_runner_bench_runs_and_checks_its_run():
    done = _bench("runner.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checked: all processed, threaded, queued" in done.stdout and "one mail-parser read" in done.stdout


def test_the_imap_bench_runs_and_checks_its_run():
    if not Path(DOVECOT).exists():
        if in_ci():
            pytest.fail("Dovecot is not installed; CI must run every test")
        pytest.skip("Dovecot is not installed")
    done = _bench("imap.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IMAP drain" in done.stdout and "checked: all processed, threaded, sent" in done.stdout



def _portal_bench(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    # A tiny store built afresh (not cached): every page is asked for and checked.
    return subprocess.run([sys.executable, str(ROOT / "bench" / "portal.py"), "--cases", "200", "--messages", "1000",
                           "--customers", "50", "--big", "20", "--requests", "3", "--warmup", "1", "--no-cache",
                           *extra], capture_output=True, text=True, timeout=240, cwd=tmp_path)


def test_the_portal_bench_runs_and_checks_its_pages(tmp_path):
    done = _portal_bench(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "static file (baseline)" in done.stdout and "agent search (printer)" in done.stdout


def test_the_portal_bench_runs_on_postgresql(tmp_path):
    if not Path(PG_BIN, "postgres").exists():
        if in_ci():
            pytest.fail("PostgreSQL is not installed; CI must run every test")
        pytest.skip("PostgreSQL 15 is not installed")
    done = _portal_bench(tmp_path, "--store", "postgresql")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PostgreSQL" in done.stdout and "agent search (printer)" in done.stdout


def test_the_export_bench_runs_and_checks_its_rows(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "export.py"), "--cases", "300", "--runs", "1",
                           "--cache", str(tmp_path / "cache")], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "xlsx-1000" in done.stdout and "x the baseline's time" in done.stdout
