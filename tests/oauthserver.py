"""A small OAuth 2.0 server for tests: Microsoft's client-credentials flow, a refresh-token grant, introspection.

It stands in for Microsoft's identity platform and Google's token endpoint,
offline. Over HTTPS (a test CA of its own, ``ca_file``, which the client
under test must trust):

* ``GET /<tenant>/v2.0/.well-known/openid-configuration`` -- the tenant
  discovery msal reads first;
* ``POST /<tenant>/oauth2/v2.0/token`` -- ``grant_type=client_credentials``
  with a client secret or a certificate's signed assertion (RFC 7523);
* ``POST /token`` -- ``grant_type=refresh_token`` (RFC 6749 6), the way
  Google's endpoint answers.

Over plain HTTP on loopback, for the test Dovecot's ``oauth2`` passdb:
``POST /introspect`` (RFC 7662) says whether a token is active and for which
mailbox. Every access token is good for ``mailbox`` for ``lifetime``
seconds. A test can revoke a client's secret, a refresh token, or every
token issued so far, and read what was granted.
"""

from __future__ import annotations

import datetime
import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from base64 import b64decode
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import jwt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from servers import CaptureHandler, CaptureServer, free_port

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA, and a certificate for 127.0.0.1 and localhost signed by it: (ca, cert, key) PEM files."""
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = _key(), _key()
    ca = (x509.CertificateBuilder().subject_name(_name("Sensedesk test CA")).issuer_name(_name("Sensedesk test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


def make_client_certificate(path: Path) -> x509.Certificate:
    """A self-signed certificate and its key in one PEM file, as an app registration's certificate credential."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = _key()
    cert = (x509.CertificateBuilder().subject_name(_name("sensedesk")).issuer_name(_name("sensedesk"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    path.write_bytes(_pem_key(key) + cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o600)
    return cert


class OAuthServer:
    """The token server; ``start()`` listens, ``stop()`` ends it."""

    def __init__(self, directory: Path, mailbox: str, lifetime: int = 3600):
        self.mailbox, self.lifetime = mailbox, lifetime
        self.ca_file, cert_file, key_file = make_tls_files(directory)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert_file, key_file)
        self.lock = threading.Lock()
        self.secrets: dict[str, str] = {}  # client_id -> client secret
        self.certificates: dict[str, x509.Certificate] = {}  # client_id -> its certificate
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> client_id
        self.tokens: dict[str, float] = {}  # access token -> expires at (time.time())
        self.granted: list[tuple[str, str]] = []  # (grant type, client_id), in order
        self.introspected = 0
        # Whether a refresh-token grant also gives a new refresh token and voids the old one.
        self.rotate = False
        self.https = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.https.socket = self.tls.wrap_socket(self.https.socket, server_side=True)
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"https://127.0.0.1:{self.https.server_port}"
        self.introspection_url = f"http://127.0.0.1:{self.http.server_port}/introspect"
        self.token_url = f"{self.base}/token"

    # ------------------------------------------------------------------ what tests set and read

    def add_client(self, client_id: str, secret: str = "", certificate: x509.Certificate | None = None) -> None:
        """Register an app, with a client secret or a certificate credential."""
        with self.lock:
            if secret:
                self.secrets[client_id] = secret
            if certificate is not None:
                self.certificates[client_id] = certificate

    def add_refresh_token(self, client_id: str) -> str:
        """A refresh token for the app, as a person's consent would give it."""
        token = "1//" + secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens[token] = client_id
        return token

    def revoke_client(self, client_id: str) -> None:
        """The app's secret and certificate no longer count (an admin deleted them)."""
        with self.lock:
            self.secrets.pop(client_id, None)
            self.certificates.pop(client_id, None)

    def revoke_refresh_token(self, token: str) -> None:
        """The person withdrew consent."""
        with self.lock:
            self.refresh_tokens.pop(token, None)

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now."""
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def active(self, token: str) -> bool:
        """Whether an access token would be accepted now."""
        with self.lock:
            return self.tokens.get(token, 0.0) > time.time()

    def grants(self, kind: str = "") -> int:
        """How many access tokens were issued (of one grant type)."""
        with self.lock:
            return sum(1 for grant, _ in self.granted if not kind or grant == kind)

    def start(self) -> None:
        """Serve in threads."""
        for server in (self.https, self.http):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        for server in (self.https, self.http):
            server.shutdown()
            server.server_close()

    # ------------------------------------------------------------------ the endpoints

    def _issue(self, grant: str, client_id: str) -> dict:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = time.time() + self.lifetime
            self.granted.append((grant, client_id))
        return {"token_type": "Bearer", "expires_in": self.lifetime, "access_token": token}

    def _client_credentials(self, form: dict, tenant: str, host: str) -> tuple[int, dict]:
        client_id = form.get("client_id", "")
        if form.get("client_assertion_type") == ASSERTION_TYPE:
            certificate = self.certificates.get(client_id)
            try:
                if certificate is None:
                    raise jwt.InvalidTokenError("no certificate registered")
                claims = jwt.decode(form.get("client_assertion", ""), certificate.public_key(),
                                    algorithms=["RS256", "PS256"],
                                    audience=f"https://{host}/{tenant}/oauth2/v2.0/token")
                if claims.get("iss") != client_id or claims.get("sub") != client_id:
                    raise jwt.InvalidTokenError("iss and sub must be the client id")
            except jwt.InvalidTokenError as exc:
                return 401, {"error": "invalid_client",
                             "error_description": f"AADSTS700027: Client assertion failed signature validation. "
                                                  f"({exc})"}
        elif not client_id or self.secrets.get(client_id) != form.get("client_secret"):
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                                              "being sent in the request is the client secret value, not the "
                                              "client secret ID."}
        if form.get("scope") != "https://outlook.office365.com/.default":
            return 400, {"error": "invalid_scope", "error_description": f"AADSTS70011: bad scope {form.get('scope')}"}
        return 200, self._issue("client_credentials", client_id)

    def _refresh(self, form: dict, basic: tuple[str, str] | None) -> tuple[int, dict]:
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if self.secrets.get(client_id) != secret:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        if self.refresh_tokens.get(form.get("refresh_token", "")) != client_id:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        answer = self._issue("refresh_token", client_id)
        if self.rotate:
            self.revoke_refresh_token(form["refresh_token"])
            answer["refresh_token"] = self.add_refresh_token(client_id)
        return 200, answer

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                    tenant = parts[0]
                    self._answer(200, {
                        "issuer": f"{server.base}/{tenant}/v2.0",
                        "authorization_endpoint": f"{server.base}/{tenant}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{server.base}/{tenant}/oauth2/v2.0/token"})
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                path = self.path.split("?")[0].strip("/").split("/")
                basic = None
                if (self.headers.get("Authorization") or "").startswith("Basic "):
                    import base64
                    user, _, password = base64.b64decode(self.headers["Authorization"][6:]).decode().partition(":")
                    basic = (user, password)
                with server.lock:
                    if path == ["introspect"]:
                        server.introspected += 1
                        token = form.get("token", "")
                        active = server.tokens.get(token, 0.0) > time.time()
                        answer = (200, {"active": True, "username": server.mailbox} if active else {"active": False})
                    elif len(path) == 4 and path[1:] == ["oauth2", "v2.0", "token"] \
                            and form.get("grant_type") == "client_credentials":
                        answer = None
                    elif path == ["token"] and form.get("grant_type") == "refresh_token":
                        answer = None
                    else:
                        answer = (400, {"error": "unsupported_grant_type"})
                if answer is None:
                    if path == ["token"]:
                        answer = server._refresh(form, basic)
                    else:
                        answer = server._client_credentials(form, path[0], self.headers.get("Host", ""))
                self._answer(*answer)

        return Handler


@dataclass
class _Xoauth2Handler(CaptureHandler):
    """The capture handler, behind an XOAUTH2 login whose token the OAuth server must know."""

    tokens: OAuthServer | None = None
    mailbox: str = ""
    logins: list = field(default_factory=list)  # (user, accepted), in order

    async def auth_XOAUTH2(self, server, args):
        blob = b64decode(args[1]) if len(args) == 2 else await server.challenge_auth("")
        fields = dict(part.split("=", 1) for part in bytes(blob).decode().split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        accepted = user == self.mailbox and self.tokens.active(token)
        self.logins.append((user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        # As Google and Microsoft do: the reason as a challenge, then 535.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")


class Xoauth2Relay(CaptureServer):
    """A relay that takes mail only after STARTTLS and an XOAUTH2 login, as Exchange Online's port 587."""

    def __init__(self, tokens: OAuthServer, mailbox: str):
        self.handler = _Xoauth2Handler(tokens=tokens, mailbox=mailbox)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, tls_context=tokens.tls,
                                     require_starttls=True, auth_required=True,
                                     auth_exclude_mechanism=["LOGIN", "PLAIN"])
