"""OAuth 2.0 logins (XOAUTH2) for IMAP and the outbound relay, against a real Dovecot and a local token server.

The token server (tests/oauthserver.py) stands in for Microsoft's identity
platform and Google's token endpoint; Dovecot's ``oauth2`` passdb asks it
whether each token is active (RFC 7662), as Exchange Online checks its own.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import deliver, prepare, wait_until
from imapclient import IMAPClient
from mailfactory import make_mail
from oauthserver import OAuthServer, Xoauth2Relay, make_client_certificate
from servers import DOVECOT, DovecotServer, TcpProxy, in_ci
from test_cli import config_file, run  # noqa: F401 (config_file is a fixture)

from maild import oauth, runner
from maild.config import ConfigError
from maild.intake import imap
from maild.outbound import sender
from maild.outbound.transport import make_transport
from maild.store.models import ImapMailbox, Outbox, Spool

MAILBOX, PASSWORD = "desk@test.local", "secret"
# Tests of logins and sessions, where the store plays no part of its own, run on SQLite alone.
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
TENANT, SECRET = "8f0c7a52-tenant", "s3cret-value-never-logged"


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """The token server, for every test of this module."""
    server = OAuthServer(tmp_path_factory.mktemp("oauth"), MAILBOX)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dovecot(tokens):
    """One Dovecot that takes XOAUTH2 logins checked at the token server."""
    if not Path(DOVECOT).exists():
        if in_ci():
            pytest.fail("Dovecot is not installed; CI must run every test")
        pytest.skip("Dovecot is not installed: apt-get install dovecot-imapd")
    server = DovecotServer({MAILBOX: PASSWORD}, introspection_url=tokens.introspection_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def trust_the_test_ca(tokens, monkeypatch):
    """The token server's and the relay's certificates are signed by the test CA: trusted as a public CA is."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tokens.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(tokens.ca_file))
    tokens.lifetime = 3600


@pytest.fixture
def client_id(tokens):
    """A new app registration with a secret, for this test alone."""
    name = f"app-{uuid.uuid4().hex[:12]}"
    tokens.add_client(name, secret=SECRET)
    return name


def microsoft(tokens, client_id, monkeypatch, **changes) -> dict:
    """An app-only Microsoft 365 login, at the token server (``tokens``) or, when None, at Microsoft."""
    monkeypatch.setenv("SENSEDESK_TEST_CLIENT_SECRET", SECRET)
    return {"auth": "oauth2", "oauth_provider": "microsoft", "oauth_tenant_id": TENANT,
            "oauth_client_id": client_id, "oauth_client_secret_env": "SENSEDESK_TEST_CLIENT_SECRET",
            "oauth_authority": tokens.base if tokens else "", **changes}


def account(dovecot, **changes) -> dict:
    return {"name": "desk", "host": "127.0.0.1", "port": dovecot.port, "ssl": False, "username": MAILBOX,
            "department": "hr", "poll_seconds": 1, **changes}


def world(dovecot) -> IMAPClient:
    """The world delivering to the mailbox (a password login beside the app's)."""
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=10)
    client.login(MAILBOX, PASSWORD)
    client.select_folder("INBOX")
    return client


def empty_mailbox(dovecot) -> IMAPClient:
    client = world(dovecot)
    uids = client.search()
    if uids:
        client.delete_messages(uids)
        client.expunge()
    return client


def poll(ctx, tokens=None) -> int:
    client = imap.connect(ctx.config.imap[0], tokens)
    try:
        return imap.poll(ctx, ctx.config.imap[0], client)
    finally:
        client.logout()


# ---------------------------------------------------------------------------- IMAP

def test_microsoft_app_only_access_drains_the_mailbox_through_xoauth2(make_config, dovecot, tokens, client_id,
                                                                      monkeypatch):
    ctx = prepare(make_config(imap=[account(dovecot, **microsoft(tokens, client_id, monkeypatch))]))
    mailbox = empty_mailbox(dovecot)
    for n in range(3):
        mailbox.append("INBOX", make_mail(subject=f"Ferie {n}", sender=f"ansatt{n}@example.org"))
    source = oauth.TokenSource(ctx.config.imap[0])
    assert poll(ctx, source) == 3
    runner.drain(ctx)
    assert Spool.select().where(Spool.state == "processed").count() == 3
    # The token is kept: the next login asks the provider nothing.
    mailbox.append("INBOX", make_mail(subject="Ferie 3", sender="ansatt3@example.org"))
    assert poll(ctx, source) == 1
    assert [g for g in tokens.granted if g[1] == client_id] == [("client_credentials", client_id)]
    mailbox.logout()


@sqlite_only
def test_a_certificate_instead_of_a_secret_gets_a_token_too(make_config, dovecot, tokens, tmp_path, monkeypatch):
    pem = tmp_path / "app.pem"
    tokens.add_client("app-with-certificate", certificate=make_client_certificate(pem))
    settings = microsoft(tokens, "app-with-certificate", monkeypatch, oauth_client_secret_env="",
                         oauth_certificate_file=str(pem))
    ctx = prepare(make_config(imap=[account(dovecot, **settings)]))
    assert imap.probe(ctx.config.imap[0]) >= 0
    assert ("client_credentials", "app-with-certificate") in tokens.granted


def test_a_refresh_token_from_a_file_logs_in_as_google_accounts_do(make_config, dovecot, tokens, client_id,
                                                                   tmp_path, monkeypatch):
    token_file = tmp_path / "refresh-token"
    token_file.write_text(tokens.add_refresh_token(client_id) + "\n")
    token_file.chmod(0o600)
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o600)
    settings = {"auth": "oauth2", "oauth_provider": "google", "oauth_client_id": client_id,
                "oauth_client_secret_file": str(secret_file), "oauth_refresh_token_file": str(token_file),
                "oauth_token_url": tokens.token_url}
    ctx = prepare(make_config(imap=[account(dovecot, **settings)]))
    mailbox = empty_mailbox(dovecot)
    mailbox.append("INBOX", make_mail(subject="Lønn", sender="ansatt@example.org"))
    assert poll(ctx) == 1
    assert ("refresh_token", client_id) in tokens.granted
    mailbox.logout()


@sqlite_only
def test_a_rotated_refresh_token_is_written_back_for_the_next_start(make_config, dovecot, tokens, client_id,
                                                                    tmp_path, monkeypatch):
    token_file = tmp_path / "refresh-token"
    first = tokens.add_refresh_token(client_id)
    token_file.write_text(first)
    token_file.chmod(0o600)
    monkeypatch.setenv("SENSEDESK_TEST_CLIENT_SECRET", SECRET)
    settings = {"auth": "oauth2", "oauth_provider": "refresh_token", "oauth_client_id": client_id,
                "oauth_client_secret_env": "SENSEDESK_TEST_CLIENT_SECRET",
                "oauth_refresh_token_file": str(token_file), "oauth_token_url": tokens.token_url}
    ctx = prepare(make_config(imap=[account(dovecot, **settings)]))
    tokens.rotate = True
    try:
        source = oauth.TokenSource(ctx.config.imap[0])
        source.token()
        second = token_file.read_text().strip()
        assert second != first and (token_file.stat().st_mode & 0o777) == 0o600
        source.token(fresh=True)  # the one in memory, not the void one read at start
        # A new process (the next start) reads the file: the newest token.
        assert imap.probe(ctx.config.imap[0]) >= 0
    finally:
        tokens.rotate = False
    assert [g for g in tokens.granted if g[1] == client_id] == [("refresh_token", client_id)] * 3


@sqlite_only
def test_a_token_the_server_ended_early_is_replaced_once_and_the_login_goes_on(make_config, dovecot, tokens,
                                                                                client_id, monkeypatch):
    ctx = prepare(make_config(imap=[account(dovecot, **microsoft(tokens, client_id, monkeypatch))]))
    source = oauth.TokenSource(ctx.config.imap[0])
    poll(ctx, source)
    tokens.expire_tokens()  # revoked at the provider; the cache still holds it
    before = tokens.grants()
    assert poll(ctx, source) == 0
    assert tokens.grants() == before + 1


@sqlite_only
def test_imap_test_tells_a_token_not_got_from_a_token_refused_from_a_folder_missing(
        config_file, dovecot, tokens, client_id, monkeypatch):
    env = {"SENSEDESK_TEST_CLIENT_SECRET": SECRET, "REQUESTS_CA_BUNDLE": str(tokens.ca_file)}
    settings = microsoft(tokens, client_id, monkeypatch)

    def imap_test(**changes) -> tuple[int, str]:
        config = config_file(imap=[account(dovecot, **{**settings, **changes})])
        result = run(config, "imap", "test", "desk", env=env)
        assert not result.stderr, result.stderr
        return result.returncode, result.stdout.decode()

    code, out = imap_test()
    assert code == 0 and "logged in" in out, out
    code, out = imap_test(oauth_client_id="app-nobody-registered")
    assert code == 1 and out.strip().splitlines() == [
        "desk: token could not be obtained: invalid_client: AADSTS7000215: Invalid client secret provided. "
        "Ensure the secret being sent in the request is the client secret value, not the client secret ID."], out
    # A token for an app whose mailbox permission does not cover this mailbox.
    code, out = imap_test(username="someone-else@test.local")
    assert code == 1 and out.startswith("desk: token refused by the server: ") and len(out.splitlines()) == 1, out
    code, out = imap_test(folder="Arkiv")
    assert code == 1 and out.startswith("desk: folder 'Arkiv' missing: ") and len(out.splitlines()) == 1, out
    code, out = imap_test(oauth_tenant_id="no-such-tenant", oauth_authority="https://127.0.0.1:9")
    assert code == 1 and out.startswith("desk: token could not be obtained: ConnectionError: ") \
        and "Connection refused" in out and len(out.splitlines()) == 1, out
    config = config_file(imap=[account(dovecot, **{**settings, "oauth_client_id": "app-nobody-registered"})])
    check = run(config, "check", env=env)
    lines = [line for line in check.stdout.decode().splitlines() if "imap desk" in line]
    assert len(lines) == 1 and "token could not be obtained: invalid_client" in lines[0], check.stdout
    for result in (out, check.stdout.decode(), check.stderr.decode()):
        assert SECRET not in result


def _poller(ctx, port: int):
    stopping = threading.Event()
    poller = imap.Poller(ctx, {**ctx.config.imap[0], "port": port}, stopping, holder="only:1")
    poller.start()
    return poller, stopping


def _spooled(message_id: str) -> int:
    return Spool.select().where(Spool.message_id == message_id).count()


@sqlite_only
def test_a_session_ends_before_its_token_and_idle_resumes_with_a_new_one(make_config, dovecot, tokens, client_id,
                                                                        monkeypatch):
    tokens.lifetime = 2  # renewed after a second and a half
    ctx = prepare(make_config(imap=[account(dovecot, **microsoft(tokens, client_id, monkeypatch))]))
    mailbox = empty_mailbox(dovecot)
    proxy = TcpProxy(dovecot.port)
    poller, stopping = _poller(ctx, proxy.port)
    try:
        mailbox.append("INBOX", make_mail(subject="Before renewal", message_id="<before@example.org>"))
        wait_until(lambda: _spooled("before@example.org") == 1, timeout=10)
        wait_until(lambda: proxy.connections >= 3, timeout=15)  # logged in again, twice
        mailbox.append("INBOX", make_mail(subject="After renewal", message_id="<after@example.org>"))
        wait_until(lambda: _spooled("after@example.org") == 1, timeout=10)
        time.sleep(1.5)
    finally:
        stopping.set()
        poller.thread.join(15)
        proxy.close()
        mailbox.logout()
    assert tokens.grants("client_credentials") >= 3
    assert Spool.select().count() == 2
    cursor = ImapMailbox.get()
    assert cursor.failures == 0 and cursor.last_error == ""


@sqlite_only
def test_a_session_the_server_ends_with_its_token_resumes_with_nothing_lost_or_doubled(
        make_config, dovecot, tokens, client_id, monkeypatch):
    ctx = prepare(make_config(imap=[account(dovecot, **microsoft(tokens, client_id, monkeypatch))]))
    mailbox = empty_mailbox(dovecot)
    proxy = TcpProxy(dovecot.port)
    poller, stopping = _poller(ctx, proxy.port)
    try:
        mailbox.append("INBOX", make_mail(subject="One", message_id="<one@example.org>"))
        wait_until(lambda: _spooled("one@example.org") == 1, timeout=10)
        time.sleep(0.5)  # idling now
        # Exchange Online ends the session when the token it began with ends.
        granted = tokens.grants()
        tokens.expire_tokens()
        mailbox.append("INBOX", make_mail(subject="Two", message_id="<two@example.org>"))
        proxy.cut()
        mailbox.append("INBOX", make_mail(subject="Three", message_id="<three@example.org>"))
        wait_until(lambda: _spooled("two@example.org") == 1 and _spooled("three@example.org") == 1, timeout=15)
        time.sleep(1.5)
    finally:
        stopping.set()
        poller.thread.join(15)
        proxy.close()
        mailbox.logout()
    assert tokens.grants() == granted + 1
    assert sorted(r.message_id for r in Spool.select()) == ["one@example.org", "three@example.org",
                                                           "two@example.org"]


def test_a_revoked_client_secret_is_a_failing_poll_that_alerts_after_alert_after(make_config, dovecot, tokens,
                                                                                client_id, monkeypatch):
    monkeypatch.setattr(imap, "BACKOFF_FIRST", 0.2)
    ctx = prepare(make_config(imap=[account(dovecot, alert_after=2, **microsoft(tokens, client_id, monkeypatch))],
                              site={"admins": ["admin@example.test"]}))
    empty_mailbox(dovecot).logout()
    tokens.revoke_client(client_id)
    poller, stopping = _poller(ctx, dovecot.port)
    try:
        wait_until(lambda: ImapMailbox.select().where(ImapMailbox.failures >= 2).exists(), timeout=15)
    finally:
        stopping.set()
        poller.thread.join(15)
    cursor = ImapMailbox.get()
    assert cursor.last_error.startswith("token could not be obtained: invalid_client: AADSTS7000215")
    assert SECRET not in cursor.last_error
    alerts = list(Outbox.select().where(Outbox.kind == "alert"))
    assert [a.recipient for a in alerts] == ["admin@example.test"]
    assert b"token could not be obtained" in bytes(alerts[0].raw) and SECRET.encode() not in bytes(alerts[0].raw)


# ---------------------------------------------------------------------------- SMTP out

@pytest.fixture
def relay(tokens):
    server = Xoauth2Relay(tokens, "helpdesk@example.test")
    server.start()
    yield server
    server.stop()


def relay_settings(tokens, relay, client_id, monkeypatch, **changes) -> dict:
    return {"transport": "smtp", "host": "127.0.0.1", "port": relay.port, "starttls": True,
            "username": "helpdesk@example.test", **microsoft(tokens, client_id, monkeypatch), **changes}


def test_outbound_mail_goes_through_a_relay_that_takes_xoauth2_only(make_config, tokens, relay, client_id,
                                                                    monkeypatch):
    ctx = prepare(make_config(smtp_out=relay_settings(tokens, relay, client_id, monkeypatch)))
    deliver(ctx, make_mail(subject="Skriveren virker ikke", sender="kari@example.org"))
    transport = make_transport(ctx.config)
    try:
        assert sender.deliver_due(ctx, transport) >= 1
    finally:
        transport.close()
    assert {o.state for o in Outbox.select()} == {"sent"}
    assert any(m.rcpt_tos == ["kari@example.org"] for m in relay.messages)
    assert relay.handler.logins == [("helpdesk@example.test", True)]


@sqlite_only
def test_the_relay_session_is_renewed_with_its_token(make_config, tokens, relay, client_id, monkeypatch):
    tokens.lifetime = 2  # due for renewal after a second and a half
    ctx = prepare(make_config(smtp_out=relay_settings(tokens, relay, client_id, monkeypatch)))
    transport = make_transport(ctx.config)
    try:
        deliver(ctx, make_mail(subject="Første", sender="kari@example.org"))
        sender.deliver_due(ctx, transport)
        time.sleep(1.7)
        deliver(ctx, make_mail(subject="Andre", sender="ola@example.org"))
        sender.deliver_due(ctx, transport)
    finally:
        transport.close()
    assert {o.state for o in Outbox.select()} == {"sent"}
    assert relay.handler.logins == [("helpdesk@example.test", True)] * 2
    assert [g for g in tokens.granted if g[1] == client_id] == [("client_credentials", client_id)] * 2


@sqlite_only
def test_a_relay_refusing_the_token_leaves_the_mail_waiting_not_dead(make_config, tokens, relay, client_id,
                                                                     monkeypatch):
    settings = relay_settings(tokens, relay, client_id, monkeypatch, username="someone-else@example.test")
    ctx = prepare(make_config(smtp_out=settings))
    deliver(ctx, make_mail(subject="Skriveren", sender="kari@example.org"))
    transport = make_transport(ctx.config)
    try:
        sender.deliver_due(ctx, transport)
    finally:
        transport.close()
    rows = list(Outbox.select())
    assert rows and {o.state for o in rows} == {"queued"}, [(o.state, o.last_error) for o in rows]
    assert all(o.last_error.startswith("token refused by the relay: 535") for o in rows)
    assert not relay.messages


@sqlite_only
def test_check_names_a_relay_token_that_could_not_be_got(config_file, tokens, relay, client_id, monkeypatch):
    settings = relay_settings(tokens, relay, "app-nobody-registered", monkeypatch)
    config = config_file(smtp_out=settings)
    result = run(config, "check", env={"SENSEDESK_TEST_CLIENT_SECRET": SECRET,
                                       "REQUESTS_CA_BUNDLE": str(tokens.ca_file), "SSL_CERT_FILE": str(tokens.ca_file)})
    lines = [line for line in result.stdout.decode().splitlines() if "smtp_out" in line]
    assert len(lines) == 1 and "token could not be obtained: invalid_client" in lines[0], result.stdout
    assert SECRET not in result.stdout.decode() + result.stderr.decode()


# ---------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("changes, words", [
    ({"oauth_client_id": ""}, "oauth_client_id: required"),
    ({"oauth_tenant_id": ""}, "oauth_tenant_id: required"),
    ({"oauth_client_secret_env": ""}, "oauth_client_secret_env: required"),
    ({"oauth_certificate_file": "/etc/hostname"}, "set only one of"),
    ({"oauth_provider": "google"}, "oauth_refresh_token_env: required"),
    ({"oauth_provider": "refresh_token", "oauth_refresh_token_env": "X"}, "oauth_token_url: required"),
    ({"oauth_authority": "http://login.example.test"}, "oauth_authority: must start with https://"),
])
def test_an_incomplete_oauth_account_is_refused_naming_the_key(make_config, changes, words, monkeypatch):
    settings = {**microsoft(None, "app", monkeypatch), **changes}
    with pytest.raises(ConfigError) as info:
        make_config(imap=[{"host": "imap.example.test", "username": MAILBOX, "department": "hr", **settings}])
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_secret_file_others_can_read_is_refused(make_config, tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match=r"oauth_client_secret_file: .* can be read by other users \(mode 644\)"):
        make_config(smtp_out={"transport": "smtp", "starttls": True, "username": "helpdesk@example.test",
                              "auth": "oauth2", "oauth_tenant_id": TENANT, "oauth_client_id": "app",
                              "oauth_client_secret_file": str(secret)})


def test_oauth_to_the_relay_needs_starttls(make_config):
    with pytest.raises(ConfigError, match=r"\[smtp_out\]\.starttls: must be true"):
        make_config(smtp_out={"transport": "smtp", "username": "helpdesk@example.test", "auth": "oauth2",
                              "oauth_tenant_id": TENANT, "oauth_client_id": "app",
                              "oauth_client_secret_env": "X"})
