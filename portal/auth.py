"""Who is asking: passwords, one-time login links, sessions, CSRF tokens and rate limits.

Sessions live in the store; the cookie holds only a random id, whose SHA-256
is the row's key, so a copy of the store does not hold live cookies. The same
random id, signed with the site secret, is the CSRF token of every form
(OWASP's signed double-submit pattern), which also covers the login forms
before anyone is logged in. A login rotates the id (MAIL_RULES 72).

A login link carries 256 random bits, kept only as a SHA-256; it lasts
``LINK_MINUTES``, is used once, and a newer link for the same address ends
the older ones. Only a POST from the confirmation page consumes it: mail
scanners fetch every GET link (MAIL_RULES 73).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from maild.store.models import LoginLink, Person, PortalSession, RateEvent, utcnow

LINK_MINUTES = 15
SESSION_IDLE = datetime.timedelta(days=7)
SESSION_MAX = datetime.timedelta(days=30)
# Argon2id with the library's defaults (RFC 9106's second recommendation).
HASHER = PasswordHasher()
# Verified against when the address is unknown, so both answers take as long.
_DUMMY_HASH = None

# (attempts, window) per key kind (MAIL_RULES 73, 74).
LIMITS = {
    "link-email": (5, datetime.timedelta(minutes=10)),
    "link-ip": (20, datetime.timedelta(minutes=10)),
    "login-email": (10, datetime.timedelta(minutes=15)),
    "login-ip": (30, datetime.timedelta(minutes=15)),
    "reply": (30, datetime.timedelta(minutes=10)),
    "request": (20, datetime.timedelta(hours=1)),
}


def digest(value: str) -> str:
    """SHA-256 hex of a secret value, the only form the store keeps."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


# --------------------------------------------------------------------------- passwords

def hash_password(password: str) -> str:
    """An Argon2id hash of a password."""
    return HASHER.hash(password)


def check_password(person: Person | None, password: str) -> bool:
    """Whether the password is the person's; takes as long for an unknown person."""
    global _DUMMY_HASH
    if person is None or not person.password_hash:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = HASHER.hash(secrets.token_hex(8))
        try:
            HASHER.verify(_DUMMY_HASH, password or "-")
        except VerificationError:
            pass
        return False
    try:
        HASHER.verify(person.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if HASHER.check_needs_rehash(person.password_hash):
        Person.update(password_hash=HASHER.hash(password)).where(Person.id == person.id).execute()
    return True


# --------------------------------------------------------------------------- rate limits

def over_limit(kind: str, subject: str, now=None) -> bool:
    """Count one attempt under (kind, subject); True when it is past the limit.

    Call inside a transaction. Old events are pruned as they are counted.
    """
    now = now or utcnow()
    most, window = LIMITS[kind]
    key = f"{kind}:{subject.lower()}"[:250]
    RateEvent.delete().where((RateEvent.key == key) & (RateEvent.at < now - window)).execute()
    count = RateEvent.select().where(RateEvent.key == key).count()
    RateEvent.create(key=key, at=now)
    return count >= most


# --------------------------------------------------------------------------- login links

def create_link(email: str, now=None) -> str:
    """A new one-time login token for an address; older unused ones end now."""
    now = now or utcnow()
    email = email.strip().lower()
    LoginLink.update(used_at=now).where((LoginLink.email == email) & LoginLink.used_at.is_null()).execute()
    token = new_token()
    LoginLink.create(token_hash=digest(token), email=email, created_at=now,
                     expires_at=now + datetime.timedelta(minutes=LINK_MINUTES))
    return token


def link_email(token: str, now=None) -> str | None:
    """The address a usable token proves, without using it (for the confirmation page)."""
    now = now or utcnow()
    link = LoginLink.get_or_none(LoginLink.token_hash == digest(token or ""))
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    return link.email


def use_link(token: str, now=None) -> str | None:
    """Consume a token; the address it proves, or None when unknown, used or expired.

    The conditional UPDATE makes it single use even when two requests race.
    """
    now = now or utcnow()
    token_hash = digest(token or "")
    used = (LoginLink.update(used_at=now)
            .where((LoginLink.token_hash == token_hash) & LoginLink.used_at.is_null()
                   & (LoginLink.expires_at > now))
            .execute())
    if not used:
        return None
    return LoginLink.get(LoginLink.token_hash == token_hash).email


# --------------------------------------------------------------------------- sessions

def start_session(person: Person, now=None) -> str:
    """A new session for a person; returns the cookie value."""
    now = now or utcnow()
    sid = new_token()
    PortalSession.create(id_hash=digest(sid), person=person, created_at=now, last_seen_at=now)
    return sid


def session_person(sid: str, now=None) -> Person | None:
    """The person of a live session, touching it; None when unknown or timed out."""
    if not sid:
        return None
    now = now or utcnow()
    session = PortalSession.get_or_none(PortalSession.id_hash == digest(sid))
    if session is None:
        return None
    if now - session.last_seen_at > SESSION_IDLE or now - session.created_at > SESSION_MAX:
        session.delete_instance()
        return None
    # Write the touch at most once a minute: most requests only read.
    if now - session.last_seen_at > datetime.timedelta(minutes=1):
        PortalSession.update(last_seen_at=now).where(PortalSession.id_hash == session.id_hash).execute()
    return session.person


def end_session(sid: str) -> None:
    """Forget a session (logout)."""
    if sid:
        PortalSession.delete().where(PortalSession.id_hash == digest(sid)).execute()


def csrf_token(secret: bytes, sid: str) -> str:
    """The CSRF token of the forms shown to the holder of this cookie value."""
    return hmac.new(secret, f"csrf.{sid}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, sid: str, token: str) -> bool:
    """Whether a submitted CSRF token belongs to this cookie value (constant time)."""
    return bool(sid) and bool(token) and hmac.compare_digest(csrf_token(secret, sid), token)
