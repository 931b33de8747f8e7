"""``sensedesk check``: the configuration, the intake forms, the logo, the store, each connection and each daemon.

Nothing fails silently (SPEC 2.11): failed spool rows and dead outbox rows
are reported here too, so an operator's routine check shows them.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import urllib.request
from pathlib import Path

from maild import context, forms, health
from maild.store import db as store
from maild.store.models import Outbox, Spool, utcnow


def _line(ok: bool, what: str, detail: str) -> bool:
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
    return ok


def _check_store(config) -> bool:
    try:
        db = store.connect(config["database"]["url"])
        pending = store.pending_migrations(db)
    except store.UNAVAILABLE as exc:
        return _line(False, "store", f"cannot open {config['database']['url']}: {exc}")
    if pending:
        return _line(False, "store", f"{len(pending)} migration(s) pending: run 'sensedesk init'")
    _line(True, "store", config["database"]["url"])
    failed = Spool.select().where(Spool.state == "failed").count()
    dead = Outbox.select().where(Outbox.state == "dead").count()
    ok = _line(failed == 0, "spool", f"{failed} failed row(s)" + (
        ": see 'sensedesk spool list --state failed'" if failed else ""))
    ok = _line(dead == 0, "outbox", f"{dead} dead row(s)" + (
        ": see 'sensedesk outbox list --state dead'" if dead else "")) and ok
    return _check_daemons() and ok


def _check_daemons() -> bool:
    """One line per daemon that reports to the store: its parts, or how long it has been silent."""
    now = utcnow()
    reports = health.reports()
    if not reports:
        # Not a failure: check also runs before the daemon is first started.
        return _line(True, "daemon", "none running (no daemon has reported to this store)")
    results = []
    for beat in reports:
        what = f"daemon {beat.name}"
        if now - beat.beat_at > health.STALE_AFTER:
            results.append(_line(False, what, f"silent since {beat.beat_at:%Y-%m-%d %H:%M:%S} UTC: it stopped "
                                              f"without clearing its report, or cannot reach the store"))
            continue
        stopped = health.down(beat.parts)
        if stopped:
            results.append(_line(False, what, f"stopped: {', '.join(stopped)}"))
        else:
            results.append(_line(True, what, "running: " + ", ".join(sorted(beat.parts))))
    return all(results)


def _check_transport(config) -> bool:
    s = config["smtp_out"]
    if s["transport"] == "maildir":
        path = Path(config["site"]["var_dir"]) / "sent"
        parent = path if path.exists() else path.parent
        while not parent.exists():
            parent = parent.parent
        return _line(os.access(parent, os.W_OK), "smtp_out", f"maildir {path}")
    from maild import oauth
    from maild.outbound import transport

    try:
        with smtplib.SMTP(s["host"], s["port"], timeout=min(s["timeout_seconds"], 10)) as smtp:
            smtp.ehlo()
            if s["starttls"]:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            transport.login(smtp, s)
            smtp.noop()
    except (OSError, smtplib.SMTPException, transport.LoginRefused, oauth.TokenError) as exc:
        return _line(False, "smtp_out", f"{s['host']}:{s['port']}: {exc}")
    return _line(True, "smtp_out", f"{s['host']}:{s['port']}")


def _check_imap(account: dict) -> bool:
    from maild.intake import imap

    what = f"imap {account['name']}"
    try:
        count = imap.probe(account)
    except imap.UNREACHABLE as exc:
        return _line(False, what, f"{account['host']}:{account['port']}: {imap.describe(exc)}")
    return _line(True, what, f"{account['folder']} holds {count} message(s)")


def _check_forms(config) -> bool:
    """One line per form file with a problem; otherwise how many forms each department has."""
    directory = config["site"]["forms_dir"]
    found, problems = forms.check_forms(directory, config)
    for problem in problems:
        _line(False, "forms", str(problem))
    if problems:
        return False
    if not Path(directory).is_dir():
        return _line(True, "forms", f"{directory}: no such directory, so no intake forms")
    counts = ", ".join(f"{d.slug} {len(forms.forms_of(found, d.slug))}" for d in config.departments)
    return _line(True, "forms", f"{directory}: {len(found)} form(s): {counts or 'no departments'}")


STATIC_DIR = Path(__file__).resolve().parent.parent / "portal" / "static"
LOGO_TIMEOUT = 5


def _check_logo(config) -> bool:
    """The theme's logo is there: a file of the portal's /static/, or an image its address serves."""
    url = config["portal.theme"]["logo_url"]
    if url.startswith("/static/"):
        name = url[len("/static/"):].split("?")[0]
        found = (STATIC_DIR / name).resolve()
        ok = found.is_file() and STATIC_DIR in found.parents
        return _line(ok, "logo", f"{url}: " + ("found" if ok else f"no such file in {STATIC_DIR}"))
    # Elsewhere on the site (served by the proxy in front) or on another host.
    address = url if url.startswith("https://") else config["site"]["base_url"].rstrip("/") + url
    request = urllib.request.Request(address, method="GET", headers={"User-Agent": "Sensedesk check"})
    try:
        with urllib.request.urlopen(request, timeout=LOGO_TIMEOUT) as answer:
            kind = answer.headers.get_content_type()
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        return _line(False, "logo", f"{address}: cannot fetch it: {exc}")
    if not kind.startswith("image/"):
        return _line(False, "logo", f"{address}: serves {kind}, not an image")
    return _line(True, "logo", f"{address}: {kind}")


def run(config) -> int:
    """Print one line per check; exit code 0 only when all pass."""
    _line(True, "config", f"{config.path}: {len(config.departments)} department(s), "
                          f"{len(config.imap)} IMAP account(s)")
    results = [_line(bool(config.departments), "departments",
                     ", ".join(f"{d.slug} <{d.address}>" for d in config.departments) or "none configured")]
    results.append(_check_forms(config))
    if config["portal.theme"]["logo_url"]:
        results.append(_check_logo(config))
    results.append(_check_store(config))
    results.extend(_check_imap(account) for account in config.imap)
    results.append(_check_transport(config))
    try:
        context.build(config)
    except context.StoreNotReady as exc:
        results.append(_line(False, "secret", str(exc)))
    except store.UNAVAILABLE:
        pass  # already reported by the store check
    return 0 if all(results) else 1
