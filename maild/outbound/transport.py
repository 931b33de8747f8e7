"""Sending one outbox row: through an SMTP relay, or into a maildir.

Failures are classified for the outbox (RFC 5321 4.2.1, MAIL_RULES 64): a 4xx
reply or a broken connection is ``TemporaryDeliveryError`` (try again later),
a 5xx is ``PermanentDeliveryError`` (the row is dead). The SMTP transport keeps
one connection to the relay open across messages (docs/architecture.md, speed).
"""

from __future__ import annotations

import mailbox
import smtplib
import socket
import ssl
from pathlib import Path

from maild import oauth
from maild.config import Config, secret_from_env


class DeliveryError(Exception):
    """Sending failed; ``permanent`` says whether retrying can help."""

    permanent = False


class TemporaryDeliveryError(DeliveryError):
    """A 4xx reply or a connection problem: retry later."""


class PermanentDeliveryError(DeliveryError):
    """A 5xx reply: the relay will never take this message."""

    permanent = True


def _classify(code: int, text: str) -> DeliveryError:
    message = f"{code} {text}".strip()
    if 500 <= code < 600:
        return PermanentDeliveryError(message)
    return TemporaryDeliveryError(message)


def _reply_text(resp) -> str:
    if isinstance(resp, bytes):
        return resp.decode("utf-8", "replace")
    return str(resp)


class LoginRefused(Exception):
    """The relay refused our login (a password, or an OAuth 2.0 token it was given fresh)."""


def login(smtp: smtplib.SMTP, settings: dict, tokens: oauth.TokenSource | None = None) -> None:
    """Log in to the relay as ``[smtp_out]`` says: nothing, a password, or XOAUTH2 with a token.

    A cached token the relay refuses is replaced by a fresh one once. Raises
    LoginRefused, oauth.TokenError, or smtplib's errors for anything else.
    """
    if not settings["username"]:
        return
    if settings["auth"] != "oauth2":
        try:
            smtp.login(settings["username"], secret_from_env(settings["password_env"]))
        except smtplib.SMTPAuthenticationError as exc:
            raise LoginRefused(f"login refused by the relay: {exc.smtp_code} {_reply_text(exc.smtp_error)}") \
                from None
        return
    tokens = tokens or oauth.TokenSource(settings)
    token, cached = tokens.token()
    try:
        _xoauth2(smtp, settings["username"], token)
        return
    except smtplib.SMTPAuthenticationError as exc:
        if not cached:
            raise LoginRefused(_refused(exc)) from None
    # The relay may have ended the token before its time: one fresh token.
    try:
        _xoauth2(smtp, settings["username"], tokens.token(fresh=True)[0])
    except smtplib.SMTPAuthenticationError as exc:
        raise LoginRefused(_refused(exc)) from None


def _xoauth2(smtp: smtplib.SMTP, user: str, token: str) -> None:
    initial = oauth.xoauth2(user, token)
    # After a refusal the server sends a challenge with its reason; the
    # answer to it is empty (Google's and Microsoft's XOAUTH2 documents).
    smtp.auth("XOAUTH2", lambda challenge=None: initial if challenge is None else "")


def _refused(exc: smtplib.SMTPAuthenticationError) -> str:
    return f"token refused by the relay: {exc.smtp_code} {_reply_text(exc.smtp_error)}"


class SmtpTransport:
    """Delivers through an SMTP relay over one kept-open connection."""

    def __init__(self, config: Config):
        self.settings = config["smtp_out"]
        self._smtp: smtplib.SMTP | None = None
        # OAuth 2.0: one token for every connection, renewed before it expires.
        self.tokens = oauth.TokenSource(self.settings) if self.settings["auth"] == "oauth2" else None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s["host"], s["port"], timeout=s["timeout_seconds"])
        try:
            smtp.ehlo_or_helo_if_needed()
            if s["starttls"]:
                # Fails closed: no STARTTLS offered means no mail sent in clear.
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            login(smtp, s, self.tokens)
        except (LoginRefused, oauth.TokenError) as exc:
            # Our credentials, not the message: it waits and is tried again.
            smtp.close()
            raise TemporaryDeliveryError(str(exc)) from None
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, mail_from: str, recipient: str, raw: bytes) -> None:
        """Send one message to one recipient, or raise a DeliveryError."""
        try:
            refused = self._sendmail(mail_from, recipient, raw)
        except UnicodeEncodeError:
            # A non-ASCII address needs SMTPUTF8 (RFC 6531), which we do not
            # use; smtplib fails before the command is sent, mid-transaction.
            self._reset()
            raise PermanentDeliveryError("address is not ASCII and SMTPUTF8 is not used") from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            self._reset()
            raise _classify(code, _reply_text(text)) from None
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise _classify(exc.smtp_code, _reply_text(exc.smtp_error)) from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            self.close()
            raise TemporaryDeliveryError(f"connection: {type(exc).__name__}: {exc}") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _classify(code, _reply_text(text))

    def _sendmail(self, mail_from: str, recipient: str, raw: bytes) -> dict:
        if self._smtp is not None and self.tokens is not None and not self.tokens.renew_due():
            # The session logged in with a token now due for renewal; the relay
            # may end it when the token ends: a new session, with a new token.
            self.close()
        if self._smtp is not None:
            try:
                return self._smtp.sendmail(mail_from, [recipient], raw)
            except smtplib.SMTPServerDisconnected:
                # The relay closed our idle kept-open connection: that is no
                # failure of this message, so connect again and send it now.
                self._smtp = None
        self._smtp = self._connect()
        return self._smtp.sendmail(mail_from, [recipient], raw)

    def _reset(self) -> None:
        # After a refused transaction the connection is still usable once reset.
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        """Close the relay connection, if open."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


class MaildirTransport:
    """Writes each message into a maildir (``var/sent/``) for a person to read."""

    def __init__(self, config: Config):
        self.path = Path(config["site"]["var_dir"]) / "sent"
        self._box: mailbox.Maildir | None = None

    def send(self, mail_from: str, recipient: str, raw: bytes) -> None:
        """Add the message to the maildir, with the envelope as trace headers."""
        try:
            if self._box is None:
                # Maildir(create=True) makes only the last directory, not its parents.
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._box = mailbox.Maildir(str(self.path), create=True)
            trace = f"Return-Path: <{mail_from}>\r\nDelivered-To: {recipient}\r\n".encode("utf-8")
            self._box.add(trace + raw)
        except OSError as exc:
            raise TemporaryDeliveryError(f"maildir: {exc}") from None

    def close(self) -> None:
        """Nothing to close."""
        self._box = None


def make_transport(config: Config):
    """The transport the configuration names, signing with DKIM when a selector is set."""
    out = config["smtp_out"]
    transport = SmtpTransport(config) if out["transport"] == "smtp" else MaildirTransport(config)
    if out["dkim_selector"]:
        from maild.mail import dkimsign  # dkimpy loads only where mail is signed

        return dkimsign.SigningTransport(transport, dkimsign.Signer(out["dkim_selector"], out["dkim_key_file"]))
    return transport
