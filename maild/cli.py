"""The ``sensedesk`` command, and the composition root that starts the daemon.

Every subcommand loads and validates the configuration first; a bad one is
reported in one line naming the key, with exit code 78 (EX_CONFIG).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
import time

from maild import config as configuration
from maild import context, localtime, runner
from maild.intake import pipe
from maild.outbound import outbox
from maild.store import db as store
from maild.store.models import Outbox, Spool, utcnow

EX_CONFIG = 78


def _print_rows(rows: list[dict], as_json: bool, columns: list[str]) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str))
        return
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(r[c] if r[c] is not None else "")) for r in rows)) for c in columns}
    widths = {c: min(w, 60) for c, w in widths.items()}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c] if row[c] is not None else "")[:60].ljust(widths[c]) for c in columns))


def cmd_init(config, args) -> int:
    """Create or migrate the store; generate the signing secret. Idempotent."""
    db = store.connect(config["database"]["url"])
    applied = store.migrate(db)
    context.ensure_settings(db)
    print(f"store ready at {config['database']['url']}"
          + (f" (applied: {', '.join(applied)})" if applied else " (already current)"))
    return 0


def cmd_maild(config, args, daemon=None) -> int:
    """Run the mail daemon until SIGTERM/SIGINT."""
    from maild.daemon import Daemon

    daemon = daemon or Daemon(config)
    listen = config["smtp_in"]["listen"]
    transport = config["smtp_out"]["transport"]
    where = (f"{config['smtp_out']['host']}:{config['smtp_out']['port']}" if transport == "smtp"
             else os.path.join(config["site"]["var_dir"], "sent"))
    print(f"sensedesk: SMTP on {listen or '(disabled)'}; outbound mail via {transport} to {where}", flush=True)
    if listen:
        host, _, port = listen.rpartition(":")
        first = config.departments[0].address if config.departments else "helpdesk@example.test"
        print(f"try: swaks --server {host} --port {port} --to {first} "
              f"--from you@example.org --header 'Subject: My printer is broken'", flush=True)
    daemon.serve_forever()
    return 0


def cmd_run(config, args) -> int:
    """Run the mail daemon and the portal in one process until SIGTERM/SIGINT."""
    from maild.daemon import Daemon
    from portal.app import PortalServer, create_app

    daemon = Daemon(config)
    listen = config["portal"]["listen"]
    if listen:
        # The portal shares the daemon's context, so its mail wakes the outbox worker at once.
        server = PortalServer(create_app(config, daemon.ctx), config)
        daemon.extras.append(server)
        print(f"sensedesk: portal on http://{server.host}:{server.port}/ "
              f"(public address {config['site']['base_url']})", flush=True)
    return cmd_maild(config, args, daemon)


def cmd_portal(config, args) -> int:
    """Run the portal alone until SIGTERM/SIGINT; its mail waits in the outbox for the daemon."""
    from portal.app import PortalServer, create_app

    listen = config["portal"]["listen"]
    if not listen:
        print("[portal].listen: empty, so the portal is disabled", file=sys.stderr)
        return 78
    server = PortalServer(create_app(config), config)
    print(f"sensedesk: portal on http://{server.host}:{server.port}/", flush=True)
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    server.start()
    try:
        while not stopping and server.is_alive():
            time.sleep(0.2)
    finally:
        server.stop()
    if not stopping:
        # waitress's loop ended by itself: exit non-zero so the service manager restarts the portal.
        print("sensedesk: the portal stopped", file=sys.stderr)
        return 1
    return 0


def cmd_ingest(config, args) -> int:
    """Spool and process one message from standard input (SPEC 2.5)."""
    raw = sys.stdin.buffer.read()
    return pipe.ingest(config, raw, [a.lower() for a in args.to], args.sender or "",
                       process=not args.no_process)


def _spool_dict(row: Spool, where) -> dict:
    return {"id": row.id, "state": row.state, "source": row.source, "message_id": row.message_id,
            "case": row.case_id, "reason": row.reason, "received_at": localtime.iso(row.received_at, where),
            "attempts": row.attempts, "from": row.mail_from}


def cmd_spool(config, args) -> int:
    """List, show or retry spool rows."""
    ctx = context.build(config)
    if args.spool_command == "list":
        query = Spool.select(Spool.id, Spool.state, Spool.source, Spool.message_id, Spool.case_id,
                             Spool.reason, Spool.received_at, Spool.attempts, Spool.mail_from)
        if args.state:
            query = query.where(Spool.state == args.state)
        rows = [_spool_dict(r, localtime.zone(config)) for r in query.order_by(Spool.id.desc()).limit(args.limit)]
        _print_rows(rows, args.json, ["id", "state", "source", "case", "message_id", "reason"])
        return 0
    if args.spool_command == "show":
        row = Spool.get_or_none(Spool.id == args.id)
        if row is None:
            print(f"spool row {args.id}: no such row", file=sys.stderr)
            return 1
        if args.raw:
            sys.stdout.buffer.write(bytes(row.raw))
            return 0
        info = _spool_dict(row, localtime.zone(config)) | {"rcpt_tos": row.rcpt_tos, "peer": row.peer, "helo": row.helo,
                                   "hits": row.hits, "trace": row.trace, "entry": row.entry_id,
                                   "size": len(bytes(row.raw)), "error": row.error,
                                   "parse_seconds": row.parse_seconds, "parse_megabytes": row.parse_megabytes}
        print(json.dumps(info, indent=2, ensure_ascii=False, default=str))
        return 0
    budget = {"parse_seconds": args.parse_seconds, "parse_megabytes": args.parse_megabytes}
    if any(value is not None and value < 1 for value in budget.values()):
        print("spool retry: --parse-seconds and --parse-megabytes must be at least 1", file=sys.stderr)
        return 2
    if args.failed:
        count = runner.retry(ctx.db, failed=True, **budget)
    elif args.id is not None:
        count = runner.retry(ctx.db, args.id, **budget)
        if not count:
            print(f"spool row {args.id}: no failed or ignored row with this id", file=sys.stderr)
            return 1
    else:
        print("spool retry: give a row id or --failed", file=sys.stderr)
        return 2
    print(f"{count} row(s) queued for processing again")
    return 0


def cmd_outbox(config, args) -> int:
    """List or retry outbox rows."""
    ctx = context.build(config)
    if args.outbox_command == "list":
        query = Outbox.select(Outbox.id, Outbox.state, Outbox.recipient, Outbox.subject, Outbox.attempts,
                              Outbox.last_error, Outbox.kind, Outbox.case)
        if args.state:
            query = query.where(Outbox.state == args.state)
        rows = [{"id": r.id, "state": r.state, "to": r.recipient, "subject": r.subject,
                 "attempts": r.attempts, "last_error": r.last_error, "kind": r.kind, "case": r.case_id}
                for r in query.order_by(Outbox.id.desc()).limit(args.limit)]
        _print_rows(rows, args.json, ["id", "state", "kind", "to", "attempts", "subject", "last_error"])
        return 0
    ok = outbox.retry(ctx.db, args.id, utcnow())
    print(f"outbox row {args.id}: " + ("queued again" if ok else "no such unsent row"))
    return 0 if ok else 1


def cmd_user(config, args) -> int:
    """Add or update a person."""
    from maild import people
    from maild.forms.definition import EMAIL

    if not EMAIL.match(args.email.strip()):
        print(f"{args.email}: not an email address (name@example.org)", file=sys.stderr)
        return 2
    for slug in args.dept:
        if config.department(slug) is None:
            print(f"--dept {slug}: no such department in {config.path}", file=sys.stderr)
            return 2
    password_hash = None
    if args.password:
        from argon2 import PasswordHasher

        secret = os.environ.get("SENSEDESK_PASSWORD") or (
            getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n"))
        if len(secret) < 8:
            print("--password: at least 8 characters", file=sys.stderr)
            return 2
        password_hash = PasswordHasher().hash(secret)
    ctx = context.build(config)
    with ctx.db.atomic():
        person = people.add_user(args.email, args.name or "", args.role, args.dept, password_hash)
    print(f"{person.email}: {person.role}" + (f" in {', '.join(args.dept)}" if args.dept else ""))
    return 0


def cmd_person(config, args) -> int:
    """Erase a person (forget), or write their data as a zip to standard output (export)."""
    from maild import access, erasure, personexport
    from maild.store.models import Person

    ctx = context.build(config)
    email = args.email.strip().lower()
    if args.person_command == "export":
        person = Person.get_or_none(Person.email == email)
        if person is None:
            print(f"person export: nobody with the address {email}", file=sys.stderr)
            return 1
        if sys.stdout.isatty():
            print("person export: the zip goes to standard output; redirect it to a file (> data.zip)",
                  file=sys.stderr)
            return 2
        found = personexport.write(person, sys.stdout.buffer)
        access.record("[command line]", access.EXPORT, detail=email)
        print(f"{email}: {found['cases']} case(s), {found['files']} file(s)", file=sys.stderr)
        return 0
    result = erasure.forget(ctx, email, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    if not result.found:
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result.counts.items() if n)
        print(f"{email}: no person with this address; {verb} {counts or 'nothing else'}")
        return 0
    print(f"{email}: {verb} the person, {len(result.cases_deleted)} case(s) they asked for "
          f"({', '.join(f'SD-{n}' for n in result.cases_deleted) or 'none'}), and the text of "
          f"{result.messages_replaced} message(s) of theirs on {len(result.cases_touched)} other case(s)")
    counts = {k: n for k, n in result.counts.items() if n}
    if counts:
        print("  rows: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
    if result.notes_to_review:
        print("internal notes that name them, for an agent to review (not changed):")
        for case_id, entry_id, line in result.notes_to_review:
            print(f"  SD-{case_id} note {entry_id}: {line}")
    return 0


def cmd_access(config, args) -> int:
    """List who looked at a case, or what an agent looked at."""
    from maild import access

    context.build(config)
    rows = access.listing(config, case_id=args.case, agent=args.agent or "", limit=args.limit)
    _print_rows(rows, args.json, ["at", "agent", "case", "what", "detail"])
    return 0


def cmd_retention(config, args) -> int:
    """Apply the retention limits now, as the daily job does."""
    from maild import retention

    ctx = context.build(config)
    counts = retention.run(ctx, utcnow())
    print(", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()) or "nothing to remove")
    return 0


def cmd_imap(config, args) -> int:
    """Show each IMAP account's status, or try logging in to one."""
    from maild.intake import imap
    from maild.store.models import ImapMailbox

    if args.imap_command == "test":
        account = next((a for a in config.imap if a["name"] == args.name), None)
        if account is None:
            print(f"imap test: no [[imap]] account named {args.name!r}", file=sys.stderr)
            return 2
        try:
            count = imap.probe(account)
        except imap.UNREACHABLE as exc:
            print(f"{account['name']}: {imap.describe(exc)}")
            return 1
        print(f"{account['name']}: logged in; {account['folder']} holds {count} message(s)")
        return 0
    context.build(config)
    known = {(m.account, m.folder): m for m in ImapMailbox.select()}
    rows = []
    for account in config.imap:
        m = known.get((account["name"], account["folder"]))
        rows.append({"account": account["name"], "folder": account["folder"],
                     "last_uid": m.last_uid if m else None,
                     "last_success": localtime.iso(m.last_success if m else None, localtime.zone(config)),
                     "failures": m.failures if m else 0, "last_error": m.last_error if m else ""})
    _print_rows(rows, args.json, ["account", "folder", "last_uid", "last_success", "failures", "last_error"])
    return 0


def _notice_dict(row, where) -> dict:
    from maild import notices

    return {"id": row.id, "title": row.title, "severity": row.severity,
            "departments": ",".join(row.departments) or "(all)", "active": notices.is_active(row),
            "starts_at": localtime.iso(row.starts_at, where), "ends_at": localtime.iso(row.ends_at, where),
            "resolved_at": localtime.iso(row.resolved_at, where)}


def cmd_notice(config, args) -> int:
    """Add, update, resolve or list operational notices; subscribers are mailed through the outbox."""
    from maild import notices
    from maild.store.models import Notice

    ctx = context.build(config)
    if args.notice_command == "list":
        rows = [_notice_dict(r, localtime.zone(config)) for r in Notice.select().order_by(Notice.id.desc())]
        _print_rows(rows, args.json, ["id", "severity", "active", "departments", "title", "ends_at"])
        return 0
    try:
        ends = localtime.parse(args.ends, localtime.zone(config)) if getattr(args, "ends", None) is not None else None
    except ValueError:
        print(f"--ends {args.ends}: not an ISO date and time", file=sys.stderr)
        return 2
    try:
        with ctx.db.atomic():
            if args.notice_command == "add":
                notice = notices.publish(ctx, title=args.title, text=args.text, severity=args.severity,
                                         departments=args.dept, ends_at=ends)
                done = "published"
            else:
                notice = Notice.get_or_none(Notice.id == args.id)
                if notice is None:
                    print(f"notice {args.id}: no such notice", file=sys.stderr)
                    return 1
                if args.notice_command == "resolve":
                    notices.resolve(ctx, notice)
                    done = "resolved"
                else:
                    changes = {k: getattr(args, k) for k in ("title", "text", "severity")
                               if getattr(args, k) is not None}
                    if args.ends is not None:
                        changes["ends_at"] = ends
                    notices.update(ctx, notice, **changes)
                    done = "updated"
    except notices.NoticeError as exc:
        print(f"notice: {exc.field}: {exc}", file=sys.stderr)
        return 2
    print(f"notice {notice.id}: {done}")
    return 0


def cmd_check(config, args) -> int:
    """Validate the configuration and try each connection."""
    from maild import checks

    return checks.run(config)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sensedesk`` command."""
    parser = argparse.ArgumentParser(prog="sensedesk", description="Sensedesk, an email-first helpdesk.")
    parser.add_argument("--config", default=None, help="configuration file "
                        "(default: $SENSEDESK_CONFIG, then config/sensedesk.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create or migrate the store (idempotent)").set_defaults(func=cmd_init)
    sub.add_parser("run", help="run everything in one process: mail daemon and portal").set_defaults(func=cmd_run)
    sub.add_parser("maild", help="run the mail daemon alone").set_defaults(func=cmd_maild)
    sub.add_parser("portal", help="run the portal alone").set_defaults(func=cmd_portal)
    ingest = sub.add_parser("ingest", help="spool and process one message from standard input")
    ingest.add_argument("--to", action="append", default=[], help="envelope recipient (repeatable)")
    ingest.add_argument("--from", dest="sender", default="", help="envelope sender")
    ingest.add_argument("--no-process", action="store_true", help="only spool; the daemon processes it")
    ingest.set_defaults(func=cmd_ingest)

    spool_parser = sub.add_parser("spool", help="the inbound spool")
    spool_sub = spool_parser.add_subparsers(dest="spool_command", required=True)
    listing = spool_sub.add_parser("list")
    listing.add_argument("--state", choices=("new", "processed", "ignored", "failed"))
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=int, default=100)
    show = spool_sub.add_parser("show")
    show.add_argument("id", type=int)
    show.add_argument("--raw", action="store_true", help="print the raw message bytes")
    retry = spool_sub.add_parser("retry")
    retry.add_argument("id", type=int, nargs="?")
    retry.add_argument("--failed", action="store_true", help="every failed row")
    retry.add_argument("--parse-seconds", type=int, help="a larger time budget for reading the message "
                                                          "than [mail] parse_seconds")
    retry.add_argument("--parse-megabytes", type=int, help="a larger memory budget for reading the message "
                                                            "than [mail] parse_megabytes")
    spool_parser.set_defaults(func=cmd_spool)

    outbox_parser = sub.add_parser("outbox", help="the outbound queue")
    outbox_sub = outbox_parser.add_subparsers(dest="outbox_command", required=True)
    listing = outbox_sub.add_parser("list")
    listing.add_argument("--state", choices=outbox.STATES)
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=int, default=100)
    retry = outbox_sub.add_parser("retry")
    retry.add_argument("id", type=int)
    outbox_parser.set_defaults(func=cmd_outbox)

    user_parser = sub.add_parser("user", help="manage people")
    user_sub = user_parser.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add")
    add.add_argument("email")
    add.add_argument("--name", default="")
    add.add_argument("--role", choices=("customer", "agent", "admin"), default="customer")
    add.add_argument("--dept", action="append", default=[])
    add.add_argument("--password", action="store_true",
                     help="set a password (prompted; or $SENSEDESK_PASSWORD; or a line on stdin)")
    user_parser.set_defaults(func=cmd_user)

    person_parser = sub.add_parser("person", help="a person's data: erase it, or export it")
    person_sub = person_parser.add_subparsers(dest="person_command", required=True)
    forget = person_sub.add_parser("forget", help="erase a person (their cases, their words, their address)")
    forget.add_argument("email")
    forget.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    export = person_sub.add_parser("export", help="a zip of the person's data, to standard output")
    export.add_argument("email")
    person_parser.set_defaults(func=cmd_person)

    access_parser = sub.add_parser("access", help="who looked at what")
    access_sub = access_parser.add_subparsers(dest="access_command", required=True)
    listing = access_sub.add_parser("list", help="views, downloads and exports, newest first")
    which = listing.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", type=int)
    which.add_argument("--agent")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=int, default=1000)
    access_parser.set_defaults(func=cmd_access)

    retention_parser = sub.add_parser("retention", help="retention limits")
    retention_sub = retention_parser.add_subparsers(dest="retention_command", required=True)
    retention_sub.add_parser("run", help="apply them now, as the daily job does")
    retention_parser.set_defaults(func=cmd_retention)

    imap_parser = sub.add_parser("imap", help="IMAP mailboxes")
    imap_sub = imap_parser.add_subparsers(dest="imap_command", required=True)
    status = imap_sub.add_parser("status", help="each account's cursor, last success and failures")
    status.add_argument("--json", action="store_true")
    test = imap_sub.add_parser("test", help="log in, select the folder, report the count")
    test.add_argument("name")
    imap_parser.set_defaults(func=cmd_imap)

    notice_parser = sub.add_parser("notice", help="operational notices (mailed to their subscribers)")
    notice_sub = notice_parser.add_subparsers(dest="notice_command", required=True)
    add = notice_sub.add_parser("add", help="publish a notice")
    add.add_argument("--title", required=True)
    add.add_argument("--text", default="")
    add.add_argument("--severity", choices=("info", "warning", "outage"), default="info")
    add.add_argument("--dept", action="append", default=[], help="a department's slug (repeatable; none: all)")
    add.add_argument("--ends", default=None, help="when it ends, ISO date and time, in [site] timezone unless an offset is given")
    update = notice_sub.add_parser("update", help="change a notice")
    update.add_argument("id", type=int)
    update.add_argument("--title")
    update.add_argument("--text")
    update.add_argument("--severity", choices=("info", "warning", "outage"))
    update.add_argument("--ends", help="when it ends, ISO date and time; \"\" for no end")
    resolve = notice_sub.add_parser("resolve", help="mark a notice resolved")
    resolve.add_argument("id", type=int)
    listing = notice_sub.add_parser("list")
    listing.add_argument("--json", action="store_true")
    notice_parser.set_defaults(func=cmd_notice)

    sub.add_parser("check", help="validate configuration and try each connection").set_defaults(func=cmd_check)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``sensedesk`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        # aiosmtpd logs every SMTP command at INFO; our own log says what matters.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        # imapclient logs each connection it closes; our own log names failures.
        logging.getLogger("imapclient").setLevel(logging.WARNING)
        # msal retries a token request once; the failure after it is ours to name.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        config = configuration.load(args.config)
    except configuration.ConfigError as exc:
        print(f"sensedesk: {exc}", file=sys.stderr)
        return EX_CONFIG
    from maild.forms import FormError

    try:
        status = args.func(config, args)
        sys.stdout.flush()  # a reader gone shows here, not in Python's own flush at exit
        return status
    except BrokenPipeError:
        # The reader went away (`sensedesk spool list | head`): stop quietly.
        # Python's own flush at exit would fail again, so stdout goes to
        # /dev/null first (as the signal module's documentation advises).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except FormError as exc:  # an intake form the portal cannot load (sensedesk check lists them all)
        print(f"sensedesk: {exc}", file=sys.stderr)
        return EX_CONFIG
    except context.StoreNotReady as exc:
        print(f"sensedesk: {exc}", file=sys.stderr)
        return pipe.EX_TEMPFAIL
    except store.UNAVAILABLE as exc:
        print(f"sensedesk: the store is not available: {exc}", file=sys.stderr)
        return pipe.EX_TEMPFAIL


if __name__ == "__main__":
    sys.exit(main())
