"""IMAP intake: fetch new mail from configured mailboxes into the spool.

The cursor is (UIDVALIDITY, last UID) kept in the store, never ``\\Seen``
(MAIL_RULES 16, 17): messages are fetched with ``BODY.PEEK[]``, so a person
reading the mailbox changes nothing, and one already read is still taken.
Each message is committed to the spool together with the cursor step; only
then is it marked ``\\Seen`` or moved (``MOVE``, else ``COPY`` and
``UID EXPUNGE`` of that UID alone, never a bare ``EXPUNGE``, MAIL_RULES 18).
If the process dies in between, the next poll finishes the job for every
committed UID still waiting. A changed UIDVALIDITY rescans the folder and
relies on de-duplication (the spool keeps one row per identical message).
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time

from imapclient import IMAPClient, SEEN
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout

from maild import alerts, claimer, lease, oauth, spool
from maild.config import secret_from_env
from maild.store.models import ImapMailbox, utcnow

log = logging.getLogger(__name__)

FETCH_CHUNK = 50
BACKOFF_FIRST, BACKOFF_MAX = 5, 600  # seconds between reconnects after a failure


class LoginRefused(IMAPClientError):
    """The server refused the login: the password, or (OAuth 2.0) a token it was given fresh."""


class FolderMissing(IMAPClientError):
    """Logged in, but the configured folder is not there."""


def connect(account: dict, tokens: oauth.TokenSource | None = None) -> IMAPClient:
    """Log in to an account, with explicit timeouts and verified TLS (MAIL_RULES 21, 22).

    With ``auth = "oauth2"`` the login is XOAUTH2 with a token from
    ``tokens`` (the account's own, kept across connections; a new one
    when not given). A token from the cache that the server refuses is
    replaced by a fresh one once; a fresh one refused is ``LoginRefused``.
    """
    context = ssl.create_default_context() if account["ssl"] else None
    client = IMAPClient(account["host"], port=account["port"], ssl=account["ssl"], ssl_context=context,
                        timeout=SocketTimeout(connect=15, read=60))
    try:
        if account["auth"] == "oauth2":
            _oauth2_login(client, account, tokens or oauth.TokenSource(account))
        else:
            try:
                client.login(account["username"], secret_from_env(account["password_env"]))
            except LoginError as exc:
                raise LoginRefused(f"login refused by the server: {_said(exc)}") from None
    except (IMAPClientError, OSError, oauth.TokenError):
        client.shutdown()
        raise
    return client


def _oauth2_login(client: IMAPClient, account: dict, tokens: oauth.TokenSource) -> None:
    token, cached = tokens.token()
    try:
        client.oauth2_login(account["username"], token)
        return
    except LoginError as exc:
        if not cached:
            raise LoginRefused(f"token refused by the server: {_said(exc)}") from None
    # The server may have ended the token before its time (revoked, or a
    # clock apart): one fresh token, then the answer stands.
    try:
        client.oauth2_login(account["username"], tokens.token(fresh=True)[0])
    except LoginError as exc:
        raise LoginRefused(f"token refused by the server: {_said(exc)}") from None


def _said(exc: LoginError) -> str:
    """The server's words (imapclient passes them on as bytes for a plain LOGIN)."""
    said = exc.args[0] if exc.args else ""
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(exc)


def probe(account: dict) -> int:
    """Log in, select the folder read-only, and return how many messages it holds.

    Raises oauth.TokenError, LoginRefused, FolderMissing, or another
    IMAPClientError or OSError when the account cannot be reached.
    """
    client = connect(account)
    try:
        try:
            return client.select_folder(account["folder"], readonly=True)[b"EXISTS"]
        except IMAPClientError as exc:
            if not client.folder_exists(account["folder"]):
                raise FolderMissing(f"folder {account['folder']!r} missing: {exc}") from None
            raise
    finally:
        client.logout()


def describe(exc: Exception) -> str:
    """One line for ``imap test`` and ``check``: what failed, in words that say which part."""
    if isinstance(exc, (oauth.TokenError, LoginRefused, FolderMissing)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


UNREACHABLE = (IMAPClientError, OSError, oauth.TokenError)


class MissingBody(Exception):
    """The server answered a FETCH without the message's body (MAIL_RULES 19, 20)."""


def _cursor(account: dict) -> ImapMailbox:
    ImapMailbox.insert(account=account["name"], folder=account["folder"]).on_conflict_ignore().execute()
    return ImapMailbox.get((ImapMailbox.account == account["name"]) & (ImapMailbox.folder == account["folder"]))


def _finish(client: IMAPClient, account: dict, last_uid: int) -> None:
    """Mark or move every committed message (UID <= last_uid) still waiting for it."""
    if last_uid <= 0:
        return
    if account["move_to"]:
        uids = client.search(["UID", f"1:{last_uid}"])
        uids = [u for u in uids if u <= last_uid]
        if not uids:
            return
        if client.has_capability("MOVE"):
            client.move(uids, account["move_to"])
        else:
            client.copy(uids, account["move_to"])
            client.add_flags(uids, [b"\\Deleted"])
            client.uid_expunge(uids)  # these UIDs only (RFC 4315), never a bare EXPUNGE
        return
    uids = [u for u in client.search(["UNSEEN", "UID", f"1:{last_uid}"]) if u <= last_uid]
    if uids:
        client.add_flags(uids, [SEEN])


def poll(ctx, account: dict, client: IMAPClient) -> int:
    """Take every new message of the account's folder into the spool; returns how many."""
    folder = account["folder"]
    selected = client.select_folder(folder)
    new_mail_reported(client)  # forget the SELECT's own counts: the SEARCH below sees all
    uidvalidity = int(selected[b"UIDVALIDITY"])
    cursor = _cursor(account)
    last_uid = cursor.last_uid
    if cursor.uidvalidity != uidvalidity:
        if cursor.uidvalidity:
            log.warning("imap %s/%s: UIDVALIDITY changed from %s to %s; rescanning",
                        account["name"], folder, cursor.uidvalidity, uidvalidity)
        last_uid = 0
    # "N:*" always includes the highest UID, even below N: filter (MAIL_RULES 16).
    uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
    taken = 0
    for start in range(0, len(uids), FETCH_CHUNK):
        chunk = uids[start:start + FETCH_CHUNK]
        response = client.fetch(chunk, ["BODY.PEEK[]"])
        for uid in chunk:
            raw = response.get(uid, {}).get(b"BODY[]")
            if raw is None:
                # Exchange sometimes answers OK without the body: stop here and
                # take it (and what follows) next time (MAIL_RULES 19, 20).
                # Raised, not returned: the poll counts as failed, so a UID that
                # never gives its body shows in `imap status` and alerts the
                # admins after alert_after polls instead of blocking in silence.
                _finish(client, account, last_uid)
                raise MissingBody(f"{account['name']}/{folder}: the server sent no body for UID {uid}; "
                                  f"{taken} message(s) before it were taken")
            source = f"imap:{account['name']}/{folder}/{uidvalidity}/{uid}"
            with ctx.db.atomic():
                spool.accept(ctx.db, bytes(raw), spool.Envelope(), source)
                (ImapMailbox.update(uidvalidity=uidvalidity, last_uid=uid)
                 .where(ImapMailbox.id == cursor.id).execute())
            last_uid = uid
            taken += 1
            ctx.spool_wakeup.set()
    if cursor.uidvalidity != uidvalidity and not uids:
        ImapMailbox.update(uidvalidity=uidvalidity, last_uid=0).where(ImapMailbox.id == cursor.id).execute()
    _finish(client, account, last_uid)
    return taken


def record(account: dict, now, error: str = "") -> int:
    """Keep the outcome of a poll; returns the number of consecutive failures."""
    cursor = _cursor(account)
    if error:
        failures = cursor.failures + 1
        (ImapMailbox.update(last_error=error[:2000], failures=failures)
         .where(ImapMailbox.id == cursor.id).execute())
        return failures
    ImapMailbox.update(last_success=now, failures=0).where(ImapMailbox.id == cursor.id).execute()
    return 0


def new_mail_reported(client: IMAPClient) -> bool:
    """Whether the server told of new mail in answer to one of our own commands.

    A server reports a message that arrived meanwhile with ``* n EXISTS`` at the
    end of whatever command comes next (RFC 3501 7.3.1, 5.2); imaplib files such
    lines away unread. Checked after a poll, it closes the gap between the
    poll's SEARCH and the next IDLE, where a message would otherwise wait for
    the next renewal of IDLE.
    """
    pending = client._imap.untagged_responses  # imapclient keeps imaplib's IMAP4 here
    return bool(pending.pop("EXISTS", None)) | bool(pending.pop("RECENT", None))


def noop_reports_new_mail(client: IMAPClient) -> bool:
    """Ask the server to look at the folder again (NOOP, RFC 3501 6.1.2); whether it has new mail.

    Needed before IDLE: a server may answer SEARCH and start IDLE from what
    it last saw of the folder. Dovecot looks again only if it last looked
    over 5 seconds before, so a message delivered while a poll ran (after
    the SELECT) was told of by no command and waited for Dovecot's next
    look in IDLE, 30 seconds later. NOOP always looks. What is left is the
    moment between its answer and the start of IDLE.
    """
    return any(_tells_of_new_mail(r) for r in client.noop()[1])


def _tells_of_new_mail(response: tuple) -> bool:
    return len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")


class Poller:
    """One thread per account: take new mail, then wait for more, reconnecting on failure.

    The wait is IDLE (RFC 2177) where the server offers it, renewed every
    ``IDLE_RENEW`` seconds (servers drop an IDLE after 30 minutes, NAT boxes
    sooner), else ``poll_seconds``. Every wake-up and every new connection
    starts with a full UID catch-up, so a missed notification costs a delay,
    never a message.

    Of several daemons sharing a store, one at a time polls an account: the
    one holding its lease (``imap:<name>``, maild/lease.py), which it renews
    every ``LEASE_RENEW`` seconds while connected. The others look again
    every ``LEASE_RENEW`` seconds and take over once it lapses
    (``LEASE_SECONDS`` after the holder stopped renewing). A poller that
    finds its lease taken logs out at once.

    An account with ``auth = "oauth2"`` logs in again, with a new token,
    once its token is due for renewal (``oauth.TokenSource``): the session
    ends before the token does. A token that cannot be got is a failed
    poll like any other, and alerts after ``alert_after``.
    """

    IDLE_RENEW = 300  # seconds; the issue asks for at most 10 minutes
    IDLE_TICK = 1.0  # seconds between looks at the stop flag while idling
    LEASE_SECONDS = 90
    LEASE_RENEW = 30

    def __init__(self, ctx, account: dict, stopping: threading.Event, holder: str = ""):
        self.ctx, self.account, self.stopping = ctx, account, stopping
        self.thread = threading.Thread(target=self._run, name=f"imap-{account['name']}", daemon=True)
        # The daemon, as the holder of the account's lease.
        self.lease, self.holder = f"imap:{account['name']}", holder or claimer.me()
        self.renew_at = 0.0
        # OAuth 2.0: the account's tokens, kept across connections.
        self.tokens = oauth.TokenSource(account) if account["auth"] == "oauth2" else None

    def start(self) -> None:
        """Start polling."""
        self.thread.start()

    def _hold(self) -> bool:
        """Take or renew this account's lease; False when another daemon polls it."""
        held = lease.take(self.ctx.db, self.lease, self.holder, self.LEASE_SECONDS, utcnow())
        self.renew_at = time.monotonic() + self.LEASE_RENEW if held else 0.0
        return held

    def _still_held(self) -> bool:
        """Renew the lease when due; False once it was lost."""
        return time.monotonic() < self.renew_at or self._hold()

    def _run(self) -> None:
        client, delay = None, 0.0
        while not self.stopping.is_set():
            try:  # loop boundary: one account's failure never stops another, nor SMTP
                if client is None:
                    if not self._hold():
                        self.stopping.wait(self.LEASE_RENEW * (0.5 + random.random()))
                        continue
                    client = connect(self.account, self.tokens)
                elif not self._still_held():
                    log.warning("imap %s: another daemon polls this account now", self.account["name"])
                    client.logout()
                    client = None
                    continue
                self._catch_up(client)
                self._wait(client)
                # Only a whole cycle resets the backoff: a server that breaks
                # on IDLE every time must not be hammered with reconnects.
                delay = 0.0
                if self.tokens is not None and not self.tokens.renew_due():
                    # A session lives no longer than the token it logged in with
                    # (Exchange Online ends it then): log in again with a new one
                    # before that, between two catch-ups, so nothing waits.
                    log.info("imap %s: logging in again with a new access token", self.account["name"])
                    client.logout()
                    client = None
                continue
            except Exception as exc:
                self._failed(exc)
            if client is not None:
                try:
                    client.shutdown()
                except OSError:
                    pass  # the connection is what failed
                client = None
            # Exponential backoff with jitter (MAIL_RULES 21).
            self.stopping.wait(delay * (0.5 + random.random()))
            delay = min(max(delay * 2, BACKOFF_FIRST), BACKOFF_MAX)
        if client is not None:
            try:
                client.logout()
            except (IMAPClientError, OSError):
                pass  # leaving anyway
        try:  # another daemon may take the account over at once
            lease.give_up(self.ctx.db, self.lease, self.holder)
        except Exception:
            log.exception("imap %s: could not give up the lease", self.account["name"])
        self.ctx.db.close()

    def _catch_up(self, client: IMAPClient) -> None:
        poll(self.ctx, self.account, client)
        while new_mail_reported(client) or noop_reports_new_mail(client):
            poll(self.ctx, self.account, client)
        record(self.account, utcnow())

    def _wait(self, client: IMAPClient) -> None:
        """Return when new mail may be there, the poll interval passed, or the access token is due for renewal."""
        token_due = self.tokens.renew_due() if self.tokens is not None else float("inf")
        if not client.has_capability("IDLE"):
            # In steps, renewing the lease between them; the caller notices a lost one.
            until = time.monotonic() + min(self.account["poll_seconds"], token_due)
            while not self.stopping.is_set() and time.monotonic() < until and self._still_held():
                self.stopping.wait(min(self.LEASE_RENEW, max(until - time.monotonic(), 0)))
            return
        client.idle()
        renew_at = time.monotonic() + min(self.IDLE_RENEW, token_due)
        # Renewing the lease on the way; a lost one ends the wait (the caller logs out).
        while not self.stopping.is_set() and self._still_held():
            tick = min(self.IDLE_TICK, renew_at - time.monotonic())
            if tick <= 0:
                break
            started = time.monotonic()
            responses = client.idle_check(timeout=tick)
            if any(_tells_of_new_mail(r) for r in responses):
                log.debug("imap %s: %s", self.account["name"], responses)
                break
            if not responses and time.monotonic() - started < tick / 2:
                # The socket woke up with no line to read: the server closed the
                # connection (imapclient swallows EOF here). DONE finds out.
                break
        client.idle_done()

    def _failed(self, exc: Exception) -> None:
        log.error("imap %s: %s", self.account["name"], describe(exc))
        try:
            failures = record(self.account, utcnow(), describe(exc))
            if failures == self.account["alert_after"]:
                alerts.imap_failing(self.ctx, self.account, failures, describe(exc))
        except Exception:
            log.exception("imap %s: could not record the failure", self.account["name"])
            self.ctx.db.close()
