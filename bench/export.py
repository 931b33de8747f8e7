"""How long exporting 100,000 cases takes, and how much memory it needs (maild/caseexport.py).

The store is bench/portal.py's (100,000 cases, 500,000 entries by default;
``--cases`` for a smaller one), built once and cached like that bench's.
Each measurement runs in a process of its own, so its peak memory (the
maximum resident set size the kernel reports) is its own:

* **baseline** -- read the same rows (``caseexport.rows``, every column,
  messages counted) and throw them away: the cost of the store's side;
* **csv** and **xlsx** -- read them and write the file, as the portal's
  *Every case of this list* does;
* **xlsx, 1,000 cases** -- the same for a hundredth of the rows: flat memory
  between 1,000 and 100,000 cases is what "bounded" means.

Time is wall time of the export alone (the store already open), the median
of ``--runs`` runs; memory is the peak of the process, of which the first
line (``idle``) is the process with the store open and nothing read.

Usage::

    .venv/bin/python bench/export.py                  # 100,000 cases, 3 runs
    .venv/bin/python bench/export.py --cases 20000 --runs 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from portal_store import Sizes  # noqa: E402 (beside this file)


def _portal_bench():
    """bench/portal.py, whose store this bench shares (loaded by path: ``portal`` is the product's package)."""
    spec = importlib.util.spec_from_file_location("portal_bench", HERE / "portal.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["portal_bench"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module

KINDS = ("idle", "baseline", "csv", "xlsx", "xlsx-1000")


def measure(url: str, kind: str) -> dict:
    """Child mode: open the store, export (or not), print seconds and peak RSS as JSON."""
    from maild import caseexport
    from maild import config as configuration
    from maild.store import db as store
    from maild.store.models import Case

    config = configuration.parse({"database": {"url": url}, "departments": [
        {"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"]},
        {"slug": "hr", "name": "HR", "addresses": ["hr@example.test"]}]})
    store.connect(url)
    ids = [] if kind == "idle" else [c.id for c in Case.select(Case.id).order_by(Case.updated_at.desc())
                                     .limit(1000 if kind == "xlsx-1000" else caseexport.MAX_ROWS)]
    rows = caseexport.rows(config, ids, lambda _kind, value: value)
    headers = [name for _, name in caseexport.COLUMNS]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        if kind == "baseline":
            count = sum(1 for _ in rows)
        elif kind == "csv":
            caseexport.write_csv(headers, rows, out)
            count = len(ids)
        elif kind.startswith("xlsx"):
            count = caseexport.write_xlsx(headers, rows, out)
        else:
            count = 0
        size = out.seek(0, 2)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"kind": kind, "rows": count, "seconds": seconds, "peak_mb": peak, "bytes": size}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "sensedesk-bench-cache"))
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    sizes = Sizes(cases=args.cases, entries=5 * args.cases, customers=max(2, args.cases // 5),
                  big=max(1, min(500, args.cases // 200)))
    workdir = Path(tempfile.mkdtemp(prefix="sdexport", dir="/tmp"))
    url, _, how = _portal_bench().sqlite_store(sizes, workdir, Path(args.cache))
    print(f"store: SQLite, {sizes.cases:,} cases, {sizes.entries:,} entries ({how})", flush=True)
    results: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for _ in range(args.runs):
        for kind in KINDS:
            out = subprocess.run([sys.executable, __file__, "--measure", url, kind], capture_output=True, text=True,
                                 check=True)
            results[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{'':<12}{'rows':>9}{'seconds':>10}{'peak MB':>10}{'file MB':>10}   (medians of {args.runs})")
    for kind in KINDS:
        runs = results[kind]
        print(f"{kind:<12}{runs[0]['rows']:>9,}{statistics.median(r['seconds'] for r in runs):>10.2f}"
              f"{statistics.median(r['peak_mb'] for r in runs):>10.1f}"
              f"{statistics.median(r['bytes'] for r in runs) / 1e6:>10.1f}")
    wanted = {"idle": 0, "baseline": sizes.cases, "csv": sizes.cases, "xlsx": sizes.cases,
              "xlsx-1000": min(1000, sizes.cases)}
    wrong = [f"{kind}: {r['rows']} rows, not {wanted[kind]}" for kind in KINDS for r in results[kind]
             if r["rows"] != wanted[kind]]
    if wrong:
        print("FAILED: " + "; ".join(wrong), file=sys.stderr)
        return 1
    base = statistics.median(r["seconds"] for r in results["baseline"])
    for kind in ("csv", "xlsx"):
        print(f"{kind}: {statistics.median(r['seconds'] for r in results[kind]) / base:.2f} x the baseline's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
