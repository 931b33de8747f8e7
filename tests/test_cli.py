"""The ``sensedesk`` command as an operator and an MTA use it: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import base_settings, merge
from mailfactory import make_mail
from servers import free_port

SENSEDESK = [sys.executable, "-m", "maild.cli"]
ROOT = Path(__file__).resolve().parent.parent


def toml(data: dict) -> str:
    """A small TOML writer for test configurations (strings, numbers, lists, tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(i) for i in v) + "]"
        return json.dumps(v)

    lines = []
    for section, table in data.items():
        tables = table if isinstance(table, list) else [table]
        for t in tables:
            lines.append(f"[[{section}]]" if isinstance(table, list) else f"[{section}]")
            lines.extend(f"{k} = {value(v)}" for k, v in t.items())
            lines.append("")
    return "\n".join(lines)


@pytest.fixture
def config_file(tmp_path, store_url):
    def write(**overrides) -> Path:
        path = tmp_path / "sensedesk.toml"
        path.write_text(toml(merge(base_settings(tmp_path, store_url), overrides)))
        return path
    return write


def run(config: Path, *args, stdin: bytes = b"", env=None) -> subprocess.CompletedProcess:
    """Run ``sensedesk --config CONFIG ARGS``."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(SENSEDESK + ["--config", str(config), *args], input=stdin,
                          capture_output=True, cwd=ROOT, env=full_env, timeout=60)


def test_init_is_idempotent_and_ingest_opens_a_case(config_file):
    config = config_file()
    assert run(config, "init").returncode == 0
    second = run(config, "init")
    assert second.returncode == 0 and b"already current" in second.stdout
    result = run(config, "ingest", "--to", "helpdesk@example.test", stdin=make_mail())
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in run(config, "spool", "list", "--json").stdout.splitlines()]
    assert len(rows) == 1
    assert {"id", "state", "source", "message_id", "case", "reason"} <= set(rows[0])
    assert rows[0]["state"] == "processed" and rows[0]["source"] == "pipe" and rows[0]["case"] == 1
    sent = [json.loads(line) for line in run(config, "outbox", "list", "--json").stdout.splitlines()]
    assert {"id", "state", "to", "subject", "attempts", "last_error"} <= set(sent[0])
    assert sorted(r["state"] for r in sent) == ["sent", "sent"]  # maildir transport


def test_a_listing_whose_reader_goes_away_stops_quietly(config_file):
    """`sensedesk spool list | head` used to end in a BrokenPipeError traceback."""
    config = config_file()
    run(config, "init")
    run(config, "ingest", "--to", "helpdesk@example.test", stdin=make_mail())
    listing = subprocess.Popen(SENSEDESK + ["--config", str(config), "spool", "list"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    listing.stdout.close()  # the reader is gone before a line is written
    _, stderr = listing.communicate(timeout=60)
    assert listing.returncode == 1 and b"Traceback" not in stderr and b"BrokenPipe" not in stderr, stderr


def test_ingest_the_same_message_twice_is_one_case(config_file):
    config = config_file()
    run(config, "init")
    raw = make_mail(message_id="<twice@example.org>")
    assert run(config, "ingest", stdin=raw).returncode == 0
    assert run(config, "ingest", stdin=raw).returncode == 0
    rows = [json.loads(line) for line in run(config, "outbox", "list", "--json").stdout.splitlines()]
    assert sum(1 for r in rows if r["subject"].startswith("[SD#1]")) == 2  # one ack, one notice
    assert not any(r["subject"].startswith("[SD#2]") for r in rows)


def test_ingest_exits_75_when_the_store_is_unavailable(config_file):
    down = config_file(database={"url": f"postgresql://postgres@127.0.0.1:{free_port()}/none"})
    result = run(down, "ingest", stdin=make_mail())
    assert result.returncode == 75, result.stderr
    uninitialised = config_file()
    assert run(uninitialised, "ingest", stdin=make_mail()).returncode == 75


def test_ingest_of_nothing_is_a_data_error(config_file):
    config = config_file()
    run(config, "init")
    assert run(config, "ingest", stdin=b"").returncode == 65


def test_bad_configuration_is_one_line_naming_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[smtp_in]\nmax_message_bytes = "big"\n')
    result = run(path, "check")
    assert result.returncode == 78
    message = result.stderr.decode().strip()
    assert "\n" not in message and "[smtp_in].max_message_bytes" in message
    path.write_text("[site]\nnmae = 'x'\n")
    assert b"[site].nmae: unknown key" in run(path, "check").stderr


def test_spool_show_and_retry(config_file):
    config = config_file()
    run(config, "init")
    raw = make_mail()
    run(config, "ingest", stdin=raw)
    shown = json.loads(run(config, "spool", "show", "1").stdout)
    assert shown["state"] == "processed" and shown["trace"][0]["rule"] == "department"
    assert run(config, "spool", "show", "1", "--raw").stdout == raw
    # A processed row is never processed again: its case and mail exist.
    assert run(config, "spool", "retry", "1").returncode == 1
    assert json.loads(run(config, "spool", "show", "1").stdout)["state"] == "processed"
    bounce = make_mail(subject="Undeliverable", sender="MAILER-DAEMON@mx.example.org", sender_name="")
    run(config, "ingest", stdin=bounce)
    assert json.loads(run(config, "spool", "show", "2").stdout)["state"] == "ignored"
    assert run(config, "spool", "retry", "2").returncode == 0
    assert json.loads(run(config, "spool", "show", "2").stdout)["state"] == "new"
    assert run(config, "spool", "show", "99").returncode == 1


def test_spool_retry_may_give_a_message_a_larger_budget(config_file):
    config = config_file(mail={"parse_megabytes": 16})
    run(config, "init")
    line = b"QUFB" * 19 + b"\r\n"
    big = make_mail(subject="Logs") + b"\r\n" + line * 200_000  # 15 MB of body to read
    run(config, "ingest", stdin=big)
    shown = json.loads(run(config, "spool", "show", "1").stdout)
    assert shown["state"] == "failed" and "([mail] parse_megabytes)" in shown["reason"]
    refused = run(config, "spool", "retry", "1", "--parse-megabytes", "0")
    assert refused.returncode == 2 and b"must be at least 1" in refused.stderr
    assert run(config, "spool", "retry", "1", "--parse-megabytes", "600", "--parse-seconds", "60").returncode == 0
    assert json.loads(run(config, "spool", "show", "1").stdout)["state"] == "new"


def test_user_add_and_check(config_file, capture):
    config = config_file(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    run(config, "init")
    added = run(config, "user", "add", "Per@Example.test", "--name", "Per", "--role", "agent",
                "--dept", "helpdesk", "--password", env={"SENSEDESK_PASSWORD": "correct horse"})
    assert added.returncode == 0 and b"per@example.test: agent in helpdesk" in added.stdout
    assert run(config, "user", "add", "x@example.test", "--dept", "nope").returncode == 2
    for bad in ("not-an-address", "per@", "per hansen@example.test", "<per@example.test>"):
        refused = run(config, "user", "add", bad)
        assert refused.returncode == 2 and b"not an email address" in refused.stderr, bad
    checked = run(config, "check")
    assert checked.returncode == 0, checked.stdout
    assert b"ok   smtp_out" in checked.stdout and b"ok   store" in checked.stdout


def test_check_says_whether_the_logo_is_there(config_file, tmp_path):
    import http.server
    import threading

    class Images(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            found = self.path == "/logo.png"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "image/png" if found else "text/html")
            self.end_headers()
            self.wfile.write(b"\x89PNG" if found else b"<p>Not found</p>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_port}"
    try:
        for logo, line in (("/static/favicon.ico", b"ok   logo: /static/favicon.ico: found"),
                           ("/static/nope.png", b"FAIL logo: /static/nope.png: no such file"),
                           ("/static/../../README.md", b"FAIL logo"),
                           ("/logo.png", b"ok   logo: " + site.encode() + b"/logo.png: image/png"),
                           ("/missing.png", b"FAIL logo: " + site.encode() + b"/missing.png: cannot fetch it")):
            config = config_file(site={"base_url": site}, **{"portal.theme": {"logo_url": logo}})
            run(config, "init")
            checked = run(config, "check")
            assert line in checked.stdout, (logo, checked.stdout)
            assert (checked.returncode == 1) == line.startswith(b"FAIL"), checked.stdout
    finally:
        server.shutdown()


def test_check_reports_an_unreachable_relay(config_file):
    config = config_file(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": free_port()})
    run(config, "init")
    checked = run(config, "check")
    assert checked.returncode == 1 and b"FAIL smtp_out" in checked.stdout


def test_portal_alone_and_run_serve_the_portal(config_file):
    import signal
    import urllib.request

    from conftest import wait_until
    from servers import free_port

    for command in ("portal", "run"):
        port = free_port()
        config = config_file(portal={"listen": f"127.0.0.1:{port}"})
        assert run(config, "init").returncode == 0
        proc = subprocess.Popen(SENSEDESK + ["--config", str(config), command], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            def home():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                        return answer.status == 200 and b"How can we help?" in answer.read()
                except OSError:
                    assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                    return False
            wait_until(home, timeout=30, interval=0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=30)[0].decode()
        assert proc.returncode == 0, out
        assert f"portal on http://127.0.0.1:{port}/" in out
