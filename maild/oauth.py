"""Access tokens for mailbox logins over OAuth 2.0: XOAUTH2 to Microsoft 365 and Google.

Exchange Online no longer takes a password over IMAP or SMTP, and Google
asks for OAuth or an app password. An ``[[imap]]`` account or
``[smtp_out]`` with ``auth = "oauth2"`` logs in with an access token
instead, got one of two ways:

* ``oauth_provider = "microsoft"`` -- the client-credentials flow
  Microsoft documents for daemons (app-only access): the app registration's
  client id, and its secret or certificate, give a token for the scope
  ``https://outlook.office365.com/.default``. msal does the talking.
* ``oauth_provider = "google"`` or ``"refresh_token"`` (any OAuth 2.0
  server) -- a refresh token that a person's consent once gave is exchanged
  for an access token at the token endpoint (RFC 6749 6), with authlib.

The token is then sent as SASL XOAUTH2 (the mailbox address as the user),
which both providers document for IMAP and SMTP. Tokens live in memory
only: each ``TokenSource`` keeps its token until it nears its expiry
(``REFRESH_BEFORE`` seconds, or a quarter of its lifetime for short
tokens), and a login refused with a cached token gets one fresh token
before it counts as refused. No secret or token is ever logged: errors
carry the provider's answer only.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
SCOPES = {"microsoft": "https://outlook.office365.com/.default", "google": "https://mail.google.com/",
          "refresh_token": ""}
# A token is renewed this long before it expires (or at three quarters of a
# shorter lifetime): a login, or an IMAP IDLE, never starts with one about to end.
REFRESH_BEFORE = 300
# Seconds one token request may take.
HTTP_TIMEOUT = 30
log = logging.getLogger(__name__)
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----\r?\n?", re.S)


class TokenError(Exception):
    """No token could be obtained; ``str()`` is one line with the provider's answer, never a secret."""

    def __init__(self, message: str):
        super().__init__("token could not be obtained: " + " ".join(str(message).split())[:500])


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (Google's and Microsoft's documented format)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def read_secret(settings: dict, name: str) -> str:
    """The value of ``oauth_<name>_env`` or ``oauth_<name>_file``, whichever is set; TokenError when empty."""
    env, path = settings.get(f"oauth_{name}_env", ""), settings.get(f"oauth_{name}_file", "")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenError(f"cannot read oauth_{name}_file {path}: {exc.strerror or exc}") from None
        where = f"oauth_{name}_file {path}"
    elif env:
        value, where = os.environ.get(env, "").strip(), f"the environment variable {env} (oauth_{name}_env)"
    else:
        return ""
    if not value:
        raise TokenError(f"{where} is empty")
    return value


def _write_back(path: str, value: str) -> None:
    """Replace a refresh-token file with a newer token (servers that rotate them), mode 0600, atomically."""
    target = Path(path)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except OSError:
        os.unlink(temp)
        raise


class TokenSource:
    """Access tokens for one account, cached in memory and renewed before they expire."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.provider = settings["oauth_provider"]
        self.scope = settings["oauth_scope"] or SCOPES[self.provider]
        self._lock = threading.Lock()
        self._token, self._renew_at, self._expires_at = "", 0.0, 0.0
        self._refresh_token = ""
        self._app = None  # the msal application, made on first use (it reads the tenant's configuration)

    def token(self, fresh: bool = False) -> tuple[str, bool]:
        """(an access token, whether it came from the cache); a new one when ``fresh`` or near its expiry."""
        with self._lock:
            if self._token and not fresh and time.time() < self._renew_at:
                return self._token, True
            token, lifetime = self._microsoft() if self.provider == "microsoft" else self._refresh()
            now = time.time()
            self._token, self._expires_at = token, now + lifetime
            self._renew_at = now + max(lifetime - min(REFRESH_BEFORE, lifetime / 4), 0)
            return token, False

    def renew_due(self) -> float:
        """Seconds until the token should be renewed (0 when it should be now, or none was got yet)."""
        with self._lock:
            return max(self._renew_at - time.time(), 0.0) if self._token else 0.0

    # ------------------------------------------------------------------ Microsoft: client credentials

    def _microsoft(self) -> tuple[str, float]:
        import msal
        import requests

        s = self.settings
        try:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    s["oauth_client_id"], client_credential=self._credential(),
                    authority=f"{(s['oauth_authority'] or MICROSOFT_AUTHORITY).rstrip('/')}/{s['oauth_tenant_id']}",
                    # The authority is named in the configuration; asking Microsoft
                    # which hosts are valid adds a request and nothing else.
                    instance_discovery=False, timeout=HTTP_TIMEOUT)
            # msal keeps its own cache; a fresh one makes this a request to the
            # provider, which is what the caller asked for.
            self._app.token_cache = msal.TokenCache()
            result = self._app.acquire_token_for_client(scopes=[self.scope])
        except (ValueError, requests.RequestException) as exc:
            self._app = None  # a tenant that could not be read is read again next time
            raise TokenError(f"{type(exc).__name__}: {exc}") from None
        if "access_token" not in result:
            raise TokenError(f"{result.get('error', 'error')}: {result.get('error_description', '')}")
        return result["access_token"], float(result.get("expires_in") or 3600)

    def _credential(self):
        """The client secret, or the certificate file's key and certificate for a signed assertion."""
        path = self.settings["oauth_certificate_file"]
        if not path:
            return read_secret(self.settings, "client_secret")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise TokenError(f"cannot read oauth_certificate_file {path}: {exc.strerror or exc}") from None
        blocks = {kind.decode(): block.decode() for block, kind in
                  ((m.group(0), m.group(1)) for m in _PEM_BLOCK.finditer(data))}
        key = next((v for k, v in blocks.items() if k.endswith("PRIVATE KEY")), None)
        if key is None or "CERTIFICATE" not in blocks:
            raise TokenError(f"oauth_certificate_file {path} must hold the private key and the certificate (PEM)")
        return {"private_key": key, "public_certificate": blocks["CERTIFICATE"]}

    # ------------------------------------------------------------------ Google and others: a refresh token

    def _refresh(self) -> tuple[str, float]:
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session
        import requests

        s = self.settings
        url = s["oauth_token_url"] or GOOGLE_TOKEN_URL
        refresh_token = self._refresh_token or read_secret(s, "refresh_token")
        session = OAuth2Session(s["oauth_client_id"], read_secret(s, "client_secret") or None,
                                scope=self.scope or None, token_endpoint_auth_method="client_secret_post")
        try:
            answer = session.refresh_token(url, refresh_token=refresh_token, timeout=HTTP_TIMEOUT)
        except OAuthError as exc:
            raise TokenError(f"{exc.error}: {exc.description or ''}") from None
        except (ValueError, requests.RequestException) as exc:
            raise TokenError(f"{type(exc).__name__}: {exc}") from None
        finally:
            session.close()
        if not answer.get("access_token"):
            raise TokenError(f"{url} answered without an access token")
        rotated = answer.get("refresh_token")
        if rotated and rotated != refresh_token:
            # The server rotates refresh tokens: the old one is void from now on.
            self._refresh_token = rotated
            if s["oauth_refresh_token_file"]:
                try:
                    _write_back(s["oauth_refresh_token_file"], rotated)
                except OSError as exc:  # kept in memory: this process goes on working
                    log.warning("cannot write the new refresh token to %s: %s; it is kept until this "
                                "process stops", s["oauth_refresh_token_file"], exc.strerror or exc)
        return answer["access_token"], float(answer.get("expires_in") or 3600)
