"""Portal benchmark: the pages people wait for, on a store of 100,000 cases, beside a static file.

What it measures
----------------
A store of C cases (default 100,000) with E entries (500,000) among P
customers (20,000), one of whom has B cases (500), is built through the
models and indexed for search by the live code (``portal_store.py`` says
what it holds). Then ``sensedesk portal`` runs in a process of its own on
that store (waitress, as in production), and one client, logged in with a
session as the portal makes them, asks for each page in turn over a kept-open
HTTP/1.1 connection, W times to warm up and then N times (default 300):

* **static file (baseline)**: ``/static/portal.css`` with the customer's
  cookie, as a browser sends it; this is the portal's floor for any request
  (session lookup, Bottle, waitress, the client), measured in the same run;
* **My requests**: ``/requests`` of the customer with B cases;
* **case page**: one of their cases with five messages;
* **search in my requests**: ``/requests?q=printer`` (``--customer-query``);
* **agent queue**: ``/agent`` of an agent of the largest department;
* **agent search**: ``/agent?q=printer`` (``--agent-query``).

Every answer is checked (status 200, and the case, the rows or the count the
page must show); a wrong page fails the run: a fast wrong answer is not a
result. The pages are asked round-robin, so a burst of other work on the
machine falls on all of them alike.

How to read the output
----------------------
Per store, a table: the median (p50) and 95th percentile (p95) in
milliseconds from sending the request to the last byte of the answer, the
ratio of the page's median to the static file's, and the goal with MET or
NOT MET (My requests and a case page at most 10 ms median, searches at most
25 ms). The header names the code measured (directory and git commit) and
the load average before and after: this is a 2-core machine shared with
other work, so compare runs made under the same conditions.

Stores
------
SQLite by default: the store is cached between runs, keyed by the sizes, the
seed and the code that writes it (``--cache``, ``--no-cache``), and copied
for each run, so a second run starts in seconds. With ``--store postgresql``
(or ``both``) a fresh database is created on the server of ``--database
postgresql://…``, or on a throwaway cluster started as the tests start
theirs (tests/servers.py), filled the same way, then ``VACUUM ANALYZE``d as
autovacuum would have done to a store that grew to this size; it is dropped
afterwards.

Usage::

    .venv/bin/python bench/portal.py                          # SQLite, full size
    .venv/bin/python bench/portal.py --store both             # SQLite, then PostgreSQL
    .venv/bin/python bench/portal.py --store postgresql --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/portal.py --cases 200 --messages 1000 --customers 50 --big 20 --requests 5

Exit status: 0 when every answer was right, whether or not the goals were
met; 1 when a check failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Python puts this file's directory first on the path, where this file's own
# name would hide the ``portal`` package. This checkout's root goes first (its
# maild and portal are the ones measured, wherever we are started from), the
# directory of the helpers last.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]
from maild import context, search  # noqa: E402
from maild.store import db as store  # noqa: E402
from maild.store.models import Case, Participant, Person  # noqa: E402
from portal import auth  # noqa: E402

from ingest import PgDatabases  # noqa: E402
from ingest_mail import DEPARTMENTS  # noqa: E402
from ingest_servers import BenchError, free_port, stop_daemon, tail  # noqa: E402
from portal_store import Fixture, Sizes, fill  # noqa: E402

GOALS = {"my": 10.0, "case": 10.0, "my_search": 25.0, "agent_search": 25.0}
COOKIE = "sd"  # the session cookie's name when base_url is http (portal/web.py)


# --------------------------------------------------------------------------- the store

def _code_key() -> str:
    """A digest of the code that decides what a built store holds: the generator, search, the schema."""
    digest = hashlib.sha256()
    sources = [BENCH / "portal_store.py", BENCH / "ingest_mail.py", ROOT / "maild" / "search.py",
               *sorted((ROOT / "maild" / "store" / "migrations").glob("*.py"))]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def checkout() -> str:
    """Which code is measured: this checkout's directory and git commit (marked when changed)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    rev = git("rev-parse", "--short", "HEAD")
    changed = ", with uncommitted changes" if git("status", "--porcelain", "maild", "portal", "templates") else ""
    return f"code: {ROOT}" + (f" (git {rev}{changed})" if rev else "")


def build(url: str, sizes: Sizes) -> Fixture:
    """Migrate a fresh store at ``url`` and fill it; the Fixture, with the seconds it took."""
    started = time.monotonic()
    db = store.connect(url)
    try:
        store.migrate(db)
        context.ensure_settings(db)
        fixture = fill(db, sizes, progress=lambda line: print(line, flush=True))
        if store.is_sqlite(db):
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            # What autovacuum does to a store that grew to this size: the GIN
            # index's pending list merged, planner statistics, visibility map.
            conn = db.connection()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("VACUUM ANALYZE")
            conn.autocommit = False
    finally:
        db.close()
    fixture.build_seconds = time.monotonic() - started
    return fixture


def sqlite_store(sizes: Sizes, workdir: Path, cache: Path | None) -> tuple[str, Fixture, str]:
    """A SQLite store of these sizes in workdir, from the cache when it has one; (url, fixture, how)."""
    target = workdir / "sensedesk.db"
    if cache is None:
        fixture = build(f"sqlite:///{target}", sizes)
        return f"sqlite:///{target}", fixture, f"built in {fixture.build_seconds:.0f} s"
    cache.mkdir(parents=True, exist_ok=True)
    name = f"portal-{sizes.key()}-{_code_key()}"
    cached, about = cache / f"{name}.db", cache / f"{name}.json"
    how = "from the cache"
    if not (cached.exists() and about.exists()):
        # Stores of these sizes built by other code are stale: gone, with anything a stopped build left.
        for stale in cache.glob(f"portal-{sizes.key()}-*"):
            stale.unlink()
        building = cache / f"{name}.building.db"
        fixture = build(f"sqlite:///{building}", sizes)
        for extra in cache.glob(f"{name}.building.db-*"):
            extra.unlink()  # an empty WAL and shared-memory file after the checkpoint
        Path(f"{building}.lock").unlink(missing_ok=True)
        building.rename(cached)
        about.write_text(json.dumps(dataclasses.asdict(fixture)))
        how = "built and cached"
    fixture = Fixture(**json.loads(about.read_text()))
    shutil.copyfile(cached, target)
    return f"sqlite:///{target}", fixture, f"{how} (building took {fixture.build_seconds:.0f} s)"


# --------------------------------------------------------------------------- the portal

def write_config(path: Path, url: str, port: int) -> None:
    """The portal's configuration: the bench's departments, the example forms, this store."""
    depts = "".join(
        f'\n[[departments]]\nslug = "{slug}"\nname = "{name}"\naddresses = ["{address}"]\n'
        f'agents = ["{agent}"]\nnotify = ["{agent}"]\nlanguage = "{lang}"\n'
        for slug, name, address, agent, lang, _ in DEPARTMENTS)
    path.write_text(f"""# written by bench/portal.py
[site]
name = "Sensedesk bench"
mail_domain = "example.test"
var_dir = "{path.parent / 'var'}"
base_url = "http://127.0.0.1:{port}"
forms_dir = "{ROOT / 'config' / 'forms'}"

[database]
url = "{url}"

[portal]
listen = "127.0.0.1:{port}"
{depts}""")


def start_portal(workdir: Path, url: str) -> tuple[subprocess.Popen, int, Path]:
    """``sensedesk portal`` of this checkout in its own process; returns once it answers."""
    port = free_port()
    config = workdir / "sensedesk.toml"
    write_config(config, url, port)
    log = workdir / "portal.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "maild.cli", "--config", str(config), "portal"],
                                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise BenchError(f"the portal exited with status {proc.returncode}; log:\n{tail(log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port, log
            conn.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_daemon(proc)
            raise BenchError(f"the portal did not answer within 60 s; log:\n{tail(log)}")
        time.sleep(0.1)


# --------------------------------------------------------------------------- the pages

@dataclasses.dataclass
class Page:
    """One page to ask for: who asks, and what its answer must contain."""

    key: str
    label: str
    path: str
    who: str  # "customer" | "agent"
    must: list[str]
    count: tuple[str, int] | None = None  # (marker, how many times it must occur)
    times: list[float] = dataclasses.field(default_factory=list)


def pages(url: str, fixture: Fixture, customer_query: str, agent_query: str) -> tuple[list[Page], dict[str, str]]:
    """The pages and what each must show, worked out from the store; and a session cookie per person."""
    db = store.connect(url)
    try:
        customer = Person.get(Person.email == fixture.big_customer)
        agent = Person.get(Person.email == fixture.agent)
        with db.atomic():
            sessions = {"customer": auth.start_session(customer), "agent": auth.start_session(agent)}
        mine = (Case.select(Case.id).join(Participant, on=(Participant.case == Case.id))
                .where((Participant.person == customer) & Case.status.in_(("new", "open", "pending")))
                .order_by(Case.updated_at.desc(), Case.id.desc()).first())
        newest = (Case.select(Case.id).where((Case.department == fixture.department) & (Case.status == "new"))
                  .order_by(Case.updated_at.desc(), Case.id.desc()).first())
        shown = Case.get_by_id(fixture.case_page)
        my_total, my_ids = search.search_cases(customer_query, person=customer, public_only=True)
        agent_ids, agent_more = search.search_page(agent_query, departments=(fixture.department,),
                                                   public_only=False)
    finally:
        db.close()
    lacking = [what for what, there in (("an active case of the big customer", mine), ("a new case", newest),
                                        (f"a case of theirs with {customer_query!r}", my_ids),
                                        (f"a case with {agent_query!r}", agent_ids)) if not there]
    if lacking:
        raise BenchError(f"the store lacks what the pages should show: {', '.join(lacking)}")
    css = (ROOT / "portal" / "static" / "portal.css").read_text()
    plural = "request matches" if my_total == 1 else "requests match"
    found = [
        Page("static", "static file (baseline)", "/static/portal.css", "customer", [css[-200:]]),
        Page("my", "My requests", "/requests", "customer", [f'href="/requests/{mine.id}"']),
        Page("case", "case page, 5 messages", f"/requests/{shown.id}", "customer", [shown.subject],
             count=('<li class="entry', 5)),
        Page("my_search", f"search in my requests ({customer_query})", f"/requests?q={quote(customer_query)}",
             "customer", [f"{my_total} {plural}", f'href="/requests/{my_ids[0]}"']),
        Page("queue", "agent queue", "/agent", "agent", [f'href="/agent/cases/{newest.id}"']),
        Page("agent_search", f"agent search ({agent_query})", f"/agent?q={quote(agent_query)}", "agent",
             [f"Cases 1–{len(agent_ids)} that match" if agent_more else
              f"{len(agent_ids)} {'case matches' if len(agent_ids) == 1 else 'cases match'}",
              f'href="/agent/cases/{agent_ids[0]}"']),
    ]
    return found, sessions


def fetch(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[float, int, str]:
    """One GET on a kept-open connection: (seconds to the last byte, status, body)."""
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": f"{COOKIE}={cookie}", "Accept-Language": "en"})
    response = conn.getresponse()
    body = response.read()
    return time.perf_counter() - started, response.status, body.decode("utf-8", errors="replace")


def check(page: Page, status: int, body: str) -> None:
    """BenchError unless the answer is the page it should be."""
    problems = [f"status {status}"] if status != 200 else []
    problems += [f"{marker!r} missing" for marker in page.must if marker not in body]
    if page.count and body.count(page.count[0]) != page.count[1]:
        problems.append(f"{body.count(page.count[0])} times {page.count[0]!r}, expected {page.count[1]}")
    if problems:
        text = re.sub(r"\s+", " ", body)[:600]
        raise BenchError(f"{page.label} ({page.path}): " + "; ".join(problems) + f"; the answer began: {text}")


def measure(port: int, found: list[Page], sessions: dict[str, str], warmup: int, requests: int) -> None:
    """Ask for every page in turn, ``warmup`` rounds unrecorded, then ``requests`` rounds recorded."""
    conns = {who: http.client.HTTPConnection("127.0.0.1", port, timeout=60) for who in sessions}
    try:
        for round_ in range(warmup + requests):
            for page in found:
                seconds, status, body = fetch(conns[page.who], page.path, sessions[page.who])
                check(page, status, body)
                if round_ >= warmup:
                    page.times.append(seconds)
    finally:
        for conn in conns.values():
            conn.close()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of a list of values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def report(store: str, found: list[Page]) -> None:
    """The table of one store: p50, p95, ratio to the baseline's p50, the goal and whether it was met."""
    base = statistics.median(found[0].times)
    print(f"\n{store}")
    print(f"{'page':<38}{'p50 ms':>9}{'p95 ms':>9}{'ratio':>8}   goal (median)")
    for page in found:
        p50, p95 = 1000 * statistics.median(page.times), 1000 * percentile(page.times, 0.95)
        goal = GOALS.get(page.key)
        verdict = "" if goal is None else f"<= {goal:.0f} ms  {'MET' if p50 <= goal else 'NOT MET'}"
        print(f"{page.label:<38}{p50:>9.1f}{p95:>9.1f}{p50 / (1000 * base):>8.1f}   {verdict}")


# --------------------------------------------------------------------------- main

def run_store(kind: str, args, sizes: Sizes, workdir: Path, server_url: str | None) -> None:
    """Build or fetch the store, run the portal on it, measure, print the table."""
    pg = None
    try:
        if kind == "sqlite":
            url, fixture, how = sqlite_store(sizes, workdir, None if args.no_cache else Path(args.cache))
            label = "SQLite (WAL, synchronous=FULL)"
        else:
            pg = PgDatabases(server_url)
            url = pg.create(1)
            fixture = build(url, sizes)
            how = f"built in {fixture.build_seconds:.0f} s"
            label = "PostgreSQL (fresh database, VACUUM ANALYZE after loading)"
        counts = fixture.counts
        print(f"store: {label}; {counts['cases']} cases, {counts['entries']} entries, "
              f"{counts['participants']} participants, {counts['indexed']} documents indexed; {how}", flush=True)
        found, sessions = pages(url, fixture, args.customer_query, args.agent_query)
        proc, port, log = start_portal(workdir, url)
        load_before = os.getloadavg()[0]
        try:
            measure(port, found, sessions, args.warmup, args.requests)
        finally:
            warnings = stop_daemon(proc)
        print(f"load average {load_before:.2f} before measuring, {os.getloadavg()[0]:.2f} after "
              f"({args.requests} requests per page after {args.warmup} to warm up)")
        report(label, found)
        for warning in warnings:
            print(f"warning: the portal: {warning}")
        errors = sum(1 for line in log.read_text(errors="replace").splitlines() if "Traceback" in line)
        if errors:
            print(f"warning: the portal logged {errors} traceback(s); see {log} with --keep")
    finally:
        if pg is not None:
            pg.drop_all()


def main(argv=None) -> int:
    """Run the benchmark; 0 when every answer was right, 1 when a check failed."""
    parser = argparse.ArgumentParser(description="Portal pages on a large store, beside a static file "
                                     "(see the module docstring for how to read the output).")
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the store (default 100000)")
    parser.add_argument("--messages", type=int, default=500_000,
                        help="entries in the store: messages, replies, notes, events (default 500000)")
    parser.add_argument("--customers", type=int, default=20_000, help="customers (default 20000)")
    parser.add_argument("--big", type=int, default=500, help="cases of the customer measured (default 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300, help="recorded requests per page (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="unrecorded rounds first (default 20)")
    parser.add_argument("--customer-query", default="printer", help="words searched in My requests")
    parser.add_argument("--agent-query", default="printer", help="words searched by the agent")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default=None,
                        help="which store (default: sqlite, or postgresql when --database is given)")
    parser.add_argument("--database", default="", help="postgresql:// URL of a server to create a fresh "
                        "database on (default: a throwaway cluster, as the tests start one)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "sensedesk-bench-cache"),
                        help="directory of cached SQLite stores (default: %(default)s)")
    parser.add_argument("--no-cache", action="store_true",
                        help="build the SQLite store afresh in the temp dir, not cached")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (config, portal log, store)")
    args = parser.parse_args(argv)
    sizes = Sizes(cases=args.cases, entries=args.messages, customers=args.customers, big=args.big, seed=args.seed)
    problems = sizes.problems()
    if args.requests < 1 or args.warmup < 0:
        problems.append("need --requests >= 1 and --warmup >= 0")
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        problems.append("--database takes a postgresql:// URL (SQLite is the default)")
    if problems:
        parser.error("; ".join(problems))
    stores = {"sqlite": ["sqlite"], "postgresql": ["postgresql"], "both": ["sqlite", "postgresql"],
              None: ["postgresql"] if args.database else ["sqlite"]}[args.store]

    print(f"Sensedesk portal benchmark: {sizes.cases} cases, {sizes.entries} entries, {sizes.customers} "
          f"customers, one of them with {sizes.big} cases; {os.cpu_count()} CPUs")
    print(f"{checkout()}; load average at start {os.getloadavg()[0]:.2f} "
          "(other work on this machine skews every figure)", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="sdportal", dir=tempfile.gettempdir()))
    cluster = None
    status = 0
    try:
        server_url = args.database or None
        for kind in stores:
            if kind == "postgresql" and server_url is None:
                sys.path.insert(0, str(ROOT / "tests"))
                from servers import PostgresCluster

                cluster = PostgresCluster()
                cluster.start()
                server_url = cluster.url("sensedesk")
            print(flush=True)
            run_store(kind, args, sizes, workdir, server_url)
            (workdir / "sensedesk.db").unlink(missing_ok=True)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    finally:
        if cluster is not None:
            cluster.stop()
        if args.keep or status:
            print(f"temp dir kept: {workdir}", file=sys.stderr if status else sys.stdout)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
