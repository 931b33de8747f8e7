"""One host cannot knock the daemon over: session caps, idle time, and the portal beside a thousand sockets.

About 1,000 idle SMTP connections used to push the portal's next socket past
file descriptor 1023, where waitress's select() fails and its thread ends for
good. These run the real daemon and portal in this process, as ``sensedesk
run`` does, with real sockets.
"""

from __future__ import annotations

import resource
import smtplib
import socket
import time

import pytest
import requests
from conftest import wait_until

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _greeting(port: int, timeout: float = 10) -> tuple[socket.socket, bytes]:
    conn = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return conn, conn.recv(1024)


def _raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.fail(f"the file limit of this machine ({hard}) is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.mark.settings(smtp_in={"max_sessions": 2000, "max_sessions_per_client": 2000})
def test_the_portal_answers_while_1100_idle_smtp_connections_are_open(site):
    _raise_file_limit(4096)
    port = site.daemon.receiver.port
    held = []
    try:
        for _ in range(1100):
            conn, greeting = _greeting(port)
            assert greeting.startswith(b"220"), greeting
            held.append(conn)
        # Every new socket of this process now has a descriptor above 1023.
        probe = socket.socket()
        assert probe.fileno() > 1023
        probe.close()
        for _ in range(3):
            answer = requests.get(site.url + "/", timeout=10)
            assert answer.status_code == 200
        assert site.server.thread.is_alive()
        assert requests.get(site.url + "/healthz", timeout=10).text == "ok"
    finally:
        for conn in held:
            conn.close()


@pytest.mark.settings(smtp_in={"max_sessions": 5, "max_sessions_per_client": 3})
def test_sessions_past_the_caps_get_421_and_are_closed(site):
    port = site.daemon.receiver.port
    held = []
    try:
        for _ in range(3):
            conn, greeting = _greeting(port)
            assert greeting.startswith(b"220")
            held.append(conn)
        # A fourth from the same address: over the per-client cap.
        conn, greeting = _greeting(port)
        assert greeting.startswith(b"421 4.7.0"), greeting
        assert conn.recv(1024) == b""  # closed by the server
        conn.close()
        # Another address (127.0.0.2 is loopback too) still gets in, until the overall cap.
        others = []
        for _ in range(2):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0))
            assert conn.recv(1024).startswith(b"220")
            others.append(conn)
        held += others
        conn = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.3", 0))
        assert conn.recv(1024).startswith(b"421 4.7.0")
        conn.close()
    finally:
        for conn in held:
            conn.close()
    # Closed sessions free their places: mail goes through again.
    wait_until(lambda: site.daemon.receiver.sessions.count == 0)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        assert client.noop()[0] == 250


@pytest.mark.settings(smtp_in={"command_timeout_seconds": 1, "timeout_seconds": 30})
def test_an_idle_session_is_closed_before_data_but_a_slow_message_is_not(site):
    port = site.daemon.receiver.port
    conn, greeting = _greeting(port)
    assert greeting.startswith(b"220")
    started = time.monotonic()
    conn.settimeout(10)
    assert conn.recv(1024) == b""  # the server closed the idle session
    assert time.monotonic() - started < 5
    conn.close()
    wait_until(lambda: site.daemon.receiver.sessions.count == 0)
    # Inside DATA the message may take its time: pauses longer than the command timeout.
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail("kari@example.org")
        client.rcpt("helpdesk@example.test")
        client.putcmd("data")
        assert client.getreply()[0] == 354
        for line in (b"From: kari@example.org", b"Subject: slow", b"", b"first"):
            client.send(line + b"\r\n")
            time.sleep(0.7)
        time.sleep(1.2)
        client.send(b"second\r\n.\r\n")
        code, text = client.getreply()
        assert code == 250, text
