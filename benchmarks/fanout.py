"""Fan-out benchmark: N concurrent transcriptions against a loopback AssemblyAI-compatible server.

The server is ``tests/fakeserver.py`` run in its own process: every job completes
``--latency`` seconds (default 2) after its submit, uploads are accepted at full
speed, and it counts the requests it receives. Each client runs in its own
process too, so its CPU time and peak RSS are its own:

1. ``ours``: ``AsyncClient.transcribe_all`` over distinct 10 KB in-memory sources
   (on asyncio, and once on Trio);
2. ``assemblyai``: the official SDK's ``AsyncTranscriber.transcribe_group``;
3. ``requests``: the seed's sequential recipe (upload, submit, poll every 3 s);
4. ``bare``: a lower bound, not a client: bare httpx2 that knows the latency and
   so sends exactly upload, submit and one GET per job, when the job is done.

Run from the repository root with the benchmark venv (it has ``assemblyai``)::

    .venv-bench/bin/python benchmarks/fanout.py            # prints a markdown table
    .venv-bench/bin/python benchmarks/fanout.py --jobs 200 --sequential-jobs 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
SIZE = 10 * 1024


def sources(n: int) -> list[bytes]:
    # Distinct contents, so nothing could be deduplicated by hash.
    return [os.urandom(SIZE - 8) + i.to_bytes(8, "big") for i in range(n)]


# --------------------------------------------------------------------------- server


def serve(latency: float) -> None:
    import anyio

    sys.path.insert(0, str(ROOT / "tests"))
    from fakeserver import FakeServer, serve_fake

    class Stats(FakeServer):
        cpu_mark = 0.0

        def _route(self, method: str, path: str, *args: Any) -> tuple[int, dict[str, Any]]:
            if path == "/_stats":
                kinds: Counter[str] = Counter()
                for r in self.requests:
                    if r.path.startswith("/_"):
                        continue
                    if r.path == "/v2/upload":
                        kinds["upload"] += 1
                    elif r.path == "/v2/transcript":
                        kinds["submit" if r.method == "POST" else "list"] += 1
                    else:
                        kinds["get"] += 1
                usage = resource.getrusage(resource.RUSAGE_SELF)
                cpu = usage.ru_utime + usage.ru_stime - self.cpu_mark
                return 200, {"requests": dict(kinds), "jobs": self.created_jobs, "cpu": cpu}
            if path == "/_reset":
                self.requests.clear()
                self.uploads.clear()
                self.jobs.clear()
                self.idempotency.clear()
                self.created_jobs = 0
                usage = resource.getrusage(resource.RUSAGE_SELF)
                self.cpu_mark = usage.ru_utime + usage.ru_stime
                return 200, {}
            return super()._route(method, path, *args)

    async def main() -> None:
        import fakeserver

        # serve_fake builds a FakeServer; make it build ours.
        fakeserver.FakeServer = Stats  # type: ignore[misc]
        async with serve_fake(complete_after=latency, processing_after=0.0) as server:
            # A failed job is one whose URL says "fail"; our upload URLs never do.
            print(server.base_url, flush=True)
            await anyio.sleep_forever()

    anyio.run(main)


def call(base_url: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url + path, timeout=30) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- clients


def measure(fn: Any) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    extra = fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rss_mb": after.ru_maxrss / 1024, **(extra or {})}


def run_ours(base_url: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    import anyio

    import audio_highlights as ah

    data = sources(jobs)
    poll = opts.get("poll")
    polling = ah.PollSettings(**poll) if poll else None

    async def main() -> dict[str, Any]:
        async with ah.AsyncClient(api_key=KEY, base_url=base_url, **opts.get("client", {})) as c:
            results = await c.transcribe_all(
                data,
                concurrency=opts.get("concurrency", jobs),
                polling=polling,
                list_polling=opts.get("list", False),
            )
        failed = sum(1 for r in results if not r.ok)
        return {"failed": failed}

    return measure(lambda: anyio.run(main, backend=opts.get("backend", "asyncio")))


def run_assemblyai(base_url: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import assemblyai as aai

    aai.settings.base_url = base_url
    aai.settings.api_key = KEY
    aai.settings.polling_interval = opts.get("interval", 3.0)
    data = sources(jobs)
    config = aai.TranscriptionConfig(auto_highlights=True)

    async def main() -> dict[str, Any]:
        async with aai.AsyncTranscriber(config=config) as t:
            done, failures = await t.transcribe_group(
                data, return_failures=True, max_concurrency=opts.get("concurrency", jobs)
            )
        failed = len(failures) + sum(1 for x in done if x.status != "completed")
        return {"failed": failed}

    return measure(lambda: asyncio.run(main()))


def run_requests(base_url: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    import requests

    data = sources(jobs)
    headers = {"authorization": KEY}

    def main() -> dict[str, Any]:
        failed = 0
        for blob in data:
            url = requests.post(f"{base_url}/v2/upload", headers=headers, data=blob).json()
            job = requests.post(
                f"{base_url}/v2/transcript",
                headers=headers,
                json={"audio_url": url["upload_url"], "auto_highlights": True},
            ).json()
            while True:
                t = requests.get(f"{base_url}/v2/transcript/{job['id']}", headers=headers).json()
                if t["status"] in ("completed", "error"):
                    failed += t["status"] == "error"
                    break
                time.sleep(3)
        return {"failed": failed}

    return measure(main)


def run_bare(base_url: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    """A lower bound, not a usable client: bare httpx2 with an oracle's schedule.

    It knows the server's latency, so it sends exactly one GET per job, at the
    moment the job completes, and does no checking, retrying or parsing beyond
    what it needs. No client that uses httpx2 on this machine can finish sooner.
    """
    import anyio
    import httpx2

    data = sources(jobs)
    latency = opts["latency"]
    conns = opts.get("connections", 8)

    async def main() -> dict[str, Any]:
        limits = httpx2.Limits(max_connections=conns, max_keepalive_connections=conns)
        headers = {"authorization": KEY}
        async with httpx2.AsyncClient(base_url=base_url, limits=limits, headers=headers) as c:
            gate = anyio.Semaphore(conns)
            failed = 0

            async def one(blob: bytes) -> None:
                nonlocal failed
                async with gate:
                    url = (await c.post("/v2/upload", content=blob)).json()["upload_url"]
                    body = {"audio_url": url, "auto_highlights": True}
                    job = (await c.post("/v2/transcript", json=body)).json()
                due = anyio.current_time() + latency
                await anyio.sleep_until(due)
                async with gate:
                    t = (await c.get(f"/v2/transcript/{job['id']}")).json()
                failed += t["status"] != "completed"

            async with anyio.create_task_group() as tg:
                for blob in data:
                    tg.start_soon(one, blob)
        return {"failed": failed}

    return measure(lambda: anyio.run(main))


RUNNERS = {
    "ours": run_ours,
    "assemblyai": run_assemblyai,
    "requests": run_requests,
    "bare": run_bare,
}


# --------------------------------------------------------------------------- driver


def one(base_url: str, kind: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    call(base_url, "/_reset")
    cmd = [sys.executable, __file__, "client", kind, base_url, str(jobs), json.dumps(opts)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    stats = call(base_url, "/_stats")
    result["requests"] = stats["requests"]
    result["server_cpu"] = stats["cpu"]
    result["jobs"] = jobs
    return result


def row(label: str, r: dict[str, Any], latency: float, scale_to: int | None = None) -> str:
    total = sum(r["requests"].values())
    per_job = total / r["jobs"]
    split = "/".join(str(r["requests"].get(k, 0)) for k in ("upload", "submit", "get", "list"))
    wall, note = r["wall"], ""
    if scale_to and scale_to != r["jobs"]:
        wall = wall * scale_to / r["jobs"]
        note = f" (measured {r['wall']:.1f} s for {r['jobs']}, x{scale_to // r['jobs']})"
    return (
        f"| {label} | {r['jobs']} | {wall:.2f}{note} | {wall / latency:.2f}x | {r['cpu']:.2f} | "
        f"{r['server_cpu']:.2f} | "
        f"{r['rss_mb']:.0f} | {per_job:.2f} ({split}) | {r['failed']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--sequential-jobs", type=int, default=20)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--only", nargs="*", help="labels of the scenarios to run")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, __file__, "serve", str(args.latency)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        n = args.jobs
        aai = "assemblyai 1.8.2 AsyncTranscriber.transcribe_group"
        scenarios: list[tuple[str, str, int, dict[str, Any]]] = [
            ("audio-highlights, per-job polls (default PollSettings)", "ours", n, {}),
            ("audio-highlights, list_polling=True (sweeps from 0.5 s)", "ours", n, {"list": 1}),
            (
                "audio-highlights, list_polling=True, PollSettings(initial=0.25)",
                "ours",
                n,
                {"list": 1, "poll": {"initial": 0.25}},
            ),
            (
                "audio-highlights on Trio, list_polling=True, PollSettings(initial=0.25)",
                "ours",
                n,
                {"list": 1, "poll": {"initial": 0.25}, "backend": "trio"},
            ),
            (
                "lower bound: bare httpx2, 8 connections, one GET per job at exactly +latency",
                "bare",
                n,
                {"latency": args.latency},
            ),
            (
                f"{aai}, polling_interval=3.0, max_concurrency=100",
                "assemblyai",
                n,
                {"interval": 3.0, "concurrency": 100},
            ),
            (
                f"{aai}, polling_interval=2.0, max_concurrency=250",
                "assemblyai",
                n,
                {"interval": 2.0, "concurrency": 250},
            ),
            (
                f"{aai}, polling_interval=1.0, max_concurrency=250",
                "assemblyai",
                n,
                {"interval": 1.0, "concurrency": 250},
            ),
            (
                f"{aai}, polling_interval=0.25, max_concurrency=100",
                "assemblyai",
                n,
                {"interval": 0.25, "concurrency": 100},
            ),
            ("requests, sequential, poll every 3 s", "requests", args.sequential_jobs, {}),
        ]
        lines = [
            f"Floor: every job completes {args.latency:g} s after its submit; "
            f"{n} jobs of {SIZE // 1024} KB distinct in-memory sources.",
            "",
            "| client | jobs | wall s | x floor | client CPU s | server CPU s | peak RSS MB "
            "| requests/job (upload/submit/get/list) | failed |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, kind, jobs, opts in scenarios:
            if args.only and not any(o in label for o in args.only):
                continue
            r = one(base_url, kind, jobs, opts)
            print(f"{label}: {json.dumps(r)}", file=sys.stderr, flush=True)
            lines.append(row(label, r, args.latency, scale_to=n if kind == "requests" else None))
        print("\n".join(lines))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(float(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        kind, base, jobs, opts = sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
        print(json.dumps(RUNNERS[kind](base, jobs, opts)))
    else:
        main()
