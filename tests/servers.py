"""Real servers for tests: a throwaway PostgreSQL cluster and an SMTP capture server.

PostgreSQL and (later) Dovecot refuse to run as root, so as root they run as
the system user ``sdtest`` (created if missing), in a short directory under
/tmp owned by that user (TESTING.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

PG_BIN = "/usr/lib/postgresql/15/bin"
TEST_USER = "sdtest"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_ci() -> bool:
    """Whether the suite runs in CI, where a missing server fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def server_user() -> dict:
    """Keyword arguments for Popen that run a server as the unprivileged test user."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True)
    return {"user": TEST_USER, "group": TEST_USER, "extra_groups": []}


def _owned_tempdir(prefix: str) -> str:
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    if os.geteuid() == 0:
        shutil.chown(path, TEST_USER, TEST_USER)
    return path


class PostgresCluster:
    """initdb + postgres on a free port in a temp dir; stopped with SIGINT."""

    def __init__(self):
        self.dir = None
        self.port = free_port()
        self.proc = None

    def start(self) -> None:
        """Create the cluster and wait until it accepts connections."""
        user = server_user()
        self.dir = _owned_tempdir("sdpg")
        subprocess.run([f"{PG_BIN}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                       check=True, cwd="/tmp", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **user)
        self.proc = subprocess.Popen(
            [f"{PG_BIN}/postgres", "-D", f"{self.dir}/data", "-p", str(self.port), "-k", self.dir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
            cwd="/tmp", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **user)
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres").close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def url(self, dbname: str) -> str:
        """A configuration URL for a database in this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, dbname: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{dbname}"')
        conn.close()
        return self.url(dbname)

    def stop(self) -> None:
        """Stop the server (SIGINT is the fast shutdown) and remove its files."""
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Captured:
    """One message the capture server accepted."""

    mail_from: str
    rcpt_tos: list
    data: bytes


@dataclass
class CaptureHandler:
    """Records every message; can answer DATA or RCPT with a scripted code."""

    messages: list = field(default_factory=list)
    # Replies to give to the next DATA commands, in order ("451 4.7.1 Try later"…).
    data_replies: list = field(default_factory=list)
    # recipient -> reply, for RCPT TO
    rcpt_replies: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            self.messages.append(Captured(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content))
        return "250 OK"


class CaptureServer:
    """An aiosmtpd Controller that stands for the rest of the world in tests."""

    def __init__(self):
        self.handler = CaptureHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Captured]:
        """Messages received so far."""
        with self.handler.lock:
            return list(self.handler.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """Wait until at least ``count`` messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.02)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()




DOVECOT = "/usr/sbin/dovecot"


class DovecotServer:
    """A rootless Dovecot speaking plain IMAP on loopback, users in a passwd file (TESTING.md)."""

    def __init__(self, users: dict[str, str], introspection_url: str = ""):
        self.users = users
        # With an OAuth 2.0 introspection URL (tests/oauthserver.py) it also
        # takes XOAUTH2 and OAUTHBEARER logins, the token checked there.
        self.introspection_url = introspection_url
        self.port = free_port()
        self.dir = None
        self.proc = None

    def start(self) -> None:
        """Write the configuration, start ``dovecot -F`` and wait for the port."""
        user = server_user()
        name = user.get("user") or pwd.getpwuid(os.geteuid()).pw_name
        self.dir = _owned_tempdir("sdimap")
        d = self.dir
        with open(f"{d}/passwd", "w") as f:
            for login, password in self.users.items():
                f.write(f"{login}:{{PLAIN}}{password}::::::\n")
        mechanisms, oauth2 = "plain login", ""
        if self.introspection_url:
            mechanisms += " xoauth2 oauthbearer"
            with open(f"{d}/oauth2.conf", "w") as f:
                f.write(f"introspection_mode = post\nintrospection_url = {self.introspection_url}\n"
                        "force_introspection = yes\nusername_attribute = username\n"
                        "active_attribute = active\nactive_value = true\n")
            oauth2 = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf
}}
"""
        conf = f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
default_internal_user = {name}
default_internal_group = {name}
default_login_user = {name}
mail_location = maildir:{d}/mail/%u
{oauth2}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid={name} gid={name} home={d}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        with open(f"{d}/dovecot.conf", "w") as f:
            f.write(conf)
        if os.geteuid() == 0:
            for path in ("passwd", "dovecot.conf") + (("oauth2.conf",) if self.introspection_url else ()):
                shutil.chown(f"{d}/{path}", TEST_USER, TEST_USER)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", f"{d}/dovecot.conf"], cwd="/tmp",
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **user)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not start: {self.proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM and wait; remove its files."""
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """A TCP relay to a local port that a test can cut, or make stall on a command.

    ``cut()`` closes every relayed connection at once, as a NAT box or a
    restarted server would. ``hold(pattern)`` stops relaying a client's data
    from the first chunk that contains ``pattern`` on (that chunk included),
    so the client waits for an answer that never comes.
    """

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.pattern: bytes | None = None
        self.held = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self, pattern: bytes) -> None:
        """Stall every client from its first chunk containing ``pattern``."""
        self.pattern = pattern

    def cut(self) -> None:
        """Close every relayed connection now."""
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        """Stop listening and cut everything."""
        self.listener.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, server]
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, dest: socket.socket, from_client: bool) -> None:
        holding = False
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if from_client and self.pattern is not None and self.pattern in data:
                holding = True
                self.held.set()
            if holding:
                continue
            try:
                dest.sendall(data)
            except OSError:
                break
        for sock in (source, dest):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
