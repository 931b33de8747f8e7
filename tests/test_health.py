"""A part of the daemon that stops ends the daemon; /healthz and `sensedesk check` say so (issue: hardening).

The daemon, the portal and the parts are real and run in this process; a part
is stopped the way it would stop by itself (its loop ends), and
``serve_forever`` must then exit with status 1 so that the service manager
restarts Sensedesk, instead of living on without it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from conftest import prepare, wait_until
from servers import free_port
from test_cli import config_file  # noqa: F401  (a fixture)

from maild import config as configuration
from maild import health
from maild.daemon import Daemon
from maild.store.models import Heartbeat, utcnow
from portal.app import PortalServer, create_app

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parent.parent


def _stop_smtp(daemon):
    loop = daemon.receiver.controller.loop
    loop.call_soon_threadsafe(loop.stop)


def _stop_portal(daemon):
    daemon.extras[0].server.close()


def _stop_scheduler(daemon):
    daemon.scheduler.shutdown(wait=False)


def _stop_outbox(daemon):
    # The outbox worker's loop ends when it is told to stop; nothing else stops it.
    daemon.stopping.set()
    daemon.ctx.outbox_wakeup.set()


@pytest.fixture
def restore_signals():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("part, stop", [("smtp", _stop_smtp), ("portal", _stop_portal),
                                        ("scheduler", _stop_scheduler), ("outbox", _stop_outbox)])
def test_a_part_that_stops_ends_the_daemon_with_status_1(make_config, capture, part, stop, caplog,
                                                         restore_signals):
    config = make_config(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port},
                         portal={"listen": f"127.0.0.1:{free_port()}"})
    prepare(config).db.close()
    daemon = Daemon(config)
    daemon.extras.append(PortalServer(create_app(config, daemon.ctx), config))

    def when_running():
        wait_until(lambda: Heartbeat.select().count() == 1 and not daemon.down(), timeout=20)
        stop(daemon)

    killer = threading.Thread(target=when_running, daemon=True)
    killer.start()
    with caplog.at_level(logging.ERROR, logger="maild.daemon"), pytest.raises(SystemExit) as ended:
        daemon.serve_forever()
    killer.join(timeout=5)
    assert ended.value.code == 1
    assert f"stopped: {part}" in caplog.text
    # Stopped cleanly after all: no report is left behind.
    assert Heartbeat.select().count() == 0


def test_healthz_is_ok_while_every_part_runs_and_not_ok_when_one_stopped(site):
    answer = requests.get(site.url + "/healthz", timeout=10)
    assert (answer.status_code, answer.text) == (200, "ok")
    assert "Set-Cookie" not in answer.headers
    _stop_outbox(site.daemon)
    wait_until(lambda: site.daemon.down() == ["outbox"])
    answer = requests.get(site.url + "/healthz", timeout=10)
    assert (answer.status_code, answer.text) == (503, "not ok")


def _check(config_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maild.cli", "--config", str(config_path), "check"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_check_names_each_daemon_and_a_stopped_part(config_file, capture):
    config_path = config_file(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(configuration.load(str(config_path))).db.close()
    quiet = _check(config_path)
    assert "ok   daemon: none running" in quiet.stdout, quiet.stdout
    assert quiet.returncode == 0, quiet.stdout
    now = utcnow()
    health.report("mail1:100", {"smtp": True, "runner": True}, now, now)
    health.report("mail2:200", {"smtp": True, "portal": False}, now, now)
    health.report("mail3:300", {"smtp": True}, now - 2 * health.STALE_AFTER, now - 2 * health.STALE_AFTER)
    checked = _check(config_path)
    assert "ok   daemon mail1:100: running: runner, smtp" in checked.stdout, checked.stdout
    assert "FAIL daemon mail2:200: stopped: portal" in checked.stdout
    assert "FAIL daemon mail3:300: silent since" in checked.stdout
    assert checked.returncode == 1


def test_a_killed_runner_process_ends_a_real_daemon_with_status_1(config_file, capture, tmp_path):
    """Outside this process: `sensedesk maild` whose runner process is killed exits 1 by itself."""
    config_path = config_file(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    subprocess.run([sys.executable, "-m", "maild.cli", "--config", str(config_path), "init"], cwd=ROOT,
                   check=True, capture_output=True)
    log = tmp_path / "daemon.log"
    with open(log, "w") as output:
        proc = subprocess.Popen([sys.executable, "-m", "maild.cli", "--config", str(config_path), "maild"],
                                cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        def runner_pid():
            # The runner is the child started by multiprocessing's spawn (not its resource tracker).
            for pid in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                      text=True).stdout.split():
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
            return None
        pid = wait_until(runner_pid, timeout=30)
        wait_until(lambda: "SMTP listening" in log.read_text(), timeout=30)
        os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == 1
        assert "stopped: runner" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _open_descriptors() -> int:
    import gc

    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def test_a_daemon_that_stops_leaves_no_descriptor_behind(make_config, capture):
    """Its wake-up pipes and each thread's store lock file were left open: a process that starts
    daemons again and again (the test session) ran past 1,023 descriptors, where select() fails."""
    config = make_config(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port},
                         portal={"listen": f"127.0.0.1:{free_port()}"})
    prepare(config).db.close()

    def start_and_stop():
        daemon = Daemon(config)
        server = PortalServer(create_app(config, daemon.ctx), config)
        daemon.extras.append(server)
        daemon.start()
        assert requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10).text == "ok"
        daemon.stop()

    start_and_stop()  # the first one loads what stays loaded
    before = _open_descriptors()
    for _ in range(3):
        start_and_stop()
    assert _open_descriptors() <= before

