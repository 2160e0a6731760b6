"""What submit reconciliation costs and what it saves: N jobs under injected faults.

The fake API (``tests/fakeserver.py``, in this process, over real loopback HTTP) draws a fault
for 20 % of all requests (429, 5xx, a 500 *after* the job was created, a connection dropped
before or after the request was processed, a stall, a truncated or garbled body). Every job
completes ``--latency`` seconds after its submit. Each configuration runs the same N uploads
through ``transcribe_all`` with the client's default settings but the one named:

- ``defaults``: submit reconciliation on (the default), a server that ignores
  ``Idempotency-Key`` (as the hosted API documents no such header);
- ``no reconcile``: ``reconcile_submit=False`` (the behaviour before it existed);
- ``idempotent``: ``idempotent_submit=True`` against a server that honours the key (the
  offline engine's setting: plain retries);
- ``no faults``: defaults, fault rate 0: the baseline request count.

Run from the repository root::

    .venv/bin/python benchmarks/reconcile.py                # 1,000 jobs, prints a table
    .venv/bin/python benchmarks/reconcile.py --jobs 200 --backend trio
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

import audio_highlights as ah

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeserver import serve_fake

KEY = "bench-key-0123456789"


async def run(
    label: str, n: int, *, latency: float, fault_rate: float, idempotency: bool,
    retry: ah.RetrySettings | None,
) -> dict[str, Any]:
    sources = [os.urandom(2040) + i.to_bytes(8, "big") for i in range(n)]
    async with serve_fake(api_key=KEY, complete_after=latency, fault_rate=fault_rate, seed=n,
                          stall_seconds=0.6, idempotency=idempotency) as server:
        options = {} if retry is None else {"retry": retry}
        started = time.monotonic()
        async with ah.AsyncClient(api_key=KEY, base_url=server.base_url, **options) as client:
            results = await client.transcribe_all(sources, concurrency=64)
            stats = client._api.reconcile_stats
        wall = time.monotonic() - started
    urls = Counter(job.request["audio_url"] for job in server.jobs.values())
    return {
        "config": label,
        "completed": sum(r.ok for r in results),
        "failed": n - sum(r.ok for r in results),
        "created": server.created_jobs,
        "duplicates": sum(c - 1 for c in urls.values()),
        # Jobs that exist but no result names: they run (and bill) unseen.
        "orphaned": server.created_jobs - len({r.transcript.id for r in results if r.transcript}),
        "requests": len(server.requests),
        "list": sum(1 for r in server.requests if r.method == "GET" and r.path == "/v2/transcript"),
        "faults": server.faults_injected,
        "ambiguous": stats.ambiguous,
        "adopted": stats.adopted,
        "wall": wall,
    }


async def main(args: argparse.Namespace) -> None:
    n, lat = args.jobs, args.latency
    rows = [
        await run("defaults", n, latency=lat, fault_rate=0.2, idempotency=False, retry=None),
        await run("no reconcile", n, latency=lat, fault_rate=0.2, idempotency=False,
                  retry=ah.RetrySettings(reconcile_submit=False)),
        await run("idempotent", n, latency=lat, fault_rate=0.2, idempotency=True,
                  retry=ah.RetrySettings(idempotent_submit=True)),
        await run("no faults", n, latency=lat, fault_rate=0.0, idempotency=False, retry=None),
    ]
    print(f"\n{n} jobs, 20 % faults, jobs take {lat:g} s, backend {args.backend}\n")
    print("| config | completed | failed | jobs created | duplicates | orphaned | requests "
          "| list requests | faults | ambiguous submits | adopted | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['completed']} | {r['failed']} | {r['created']} "
              f"| {r['duplicates']} | {r['orphaned']} | {r['requests']} | {r['list']} "
              f"| {r['faults']} | {r['ambiguous']} | {r['adopted']} | {r['wall']:.1f} s |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    ns = parser.parse_args()
    anyio.run(main, ns, backend=ns.backend)
