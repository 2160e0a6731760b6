"""Fan-out benchmark: many transcriptions at hosted-like latency, with real-size transcripts.

A fake hosted API (``tests/fakeserver.py``) runs in a process of its own: every
job completes a set time after its submit (the *latency*: fixed, or drawn per
job), every ``GET`` of a completed job returns a real-size transcript
(AssemblyAI's 861-word wildfires response from ``../shared/reference/examples/``,
about 80 KB, or a 9,000-word one built by repeating its words, about an hour of
speech), and it counts the requests it receives by kind. Each client runs in a
process of its own too, so the CPU time and peak RSS it reports are the
client's alone (the server's work is not in them).

Clients:

- ``ours``: ``await client.transcribe_all(sources, concurrency=N)`` with a
  default ``AsyncClient`` (concurrency is the batch size: the one setting
  given); variants say what they change;
- ``assemblyai``: the official SDK's ``AsyncTranscriber.transcribe_group``, at
  its defaults (``max_concurrency=8``: run on 16 jobs, two waves, and scaled to
  the batch, since 1,000 jobs would take half an hour or more) and at its best
  settings (``max_concurrency`` 100 and 250; at 1,000 its CPU use explodes);
- ``bare``: a lower bound, not a client: bare httpx2 that reads each job's
  completion time from the benchmark server's submit answer, so it sends
  exactly an upload, a submit and one ``GET`` per job, at the moment the job is
  done, and checks and parses nothing it does not need.

Suites (``--suite``):

- ``goals``: 1,000 jobs, 10 s latency, 861-word responses (the issue's goals);
- ``spread``: 1,000 jobs, latency uniform in 10-45 s; reports how long after
  the last job completed (server time) each client finished;
- ``scale``: 1,000 and 10,000 jobs at 10 s with ``transcribe_many`` and a caller
  that keeps only the highlights (every job in flight, or 1,000 at a time), one
  that keeps nothing, and 1,000 with ``transcribe_all`` (which keeps every
  transcript); then 1,000 jobs of 9,000 words, and 10,000 of them 1,000 at a
  time: CPU per job and peak RSS against the batch size and against what the
  caller keeps.

``--baseline REF`` adds the ``ours`` rows of the suite for the SDK at git
``REF`` (checked out in a temporary worktree), in the same run.

Needs ``assemblyai`` (and ``trio`` for the Trio row) in the benchmark
environment only, never as a dependency of the SDK::

    python3 -m venv .venv-bench
    .venv-bench/bin/python -m pip install -e . assemblyai trio
    .venv-bench/bin/python benchmarks/fanout.py --suite goals
    .venv-bench/bin/python benchmarks/fanout.py --suite goals --baseline main~5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
SIZE = 10 * 1024


def source(i: int) -> bytes:
    # Distinct contents, so nothing could be deduplicated by hash.
    return os.urandom(SIZE - 8) + i.to_bytes(8, "big")


def sources(n: int) -> list[bytes]:
    return [source(i) for i in range(n)]


# --------------------------------------------------------------------------- server


def completed_body(words: int) -> dict[str, Any]:
    """A completed transcript as the hosted API returns it, ``words`` words long."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from parse import wildfires

    return wildfires(words)


def serve(latency: str, words: int) -> None:
    import anyio

    sys.path.insert(0, str(ROOT / "tests"))
    import fakeserver
    from fakeserver import FakeServer, serve_fake

    low, _, high = latency.partition("-")
    lo, hi = float(low), float(high or low)
    rng = random.Random(16)
    body = completed_body(words)
    # The body after "id", "status" and "audio_url", encoded once: every GET of
    # a completed job then costs the server a concatenation, not a dumps.
    rest = json.dumps({k: v for k, v in body.items() if k not in ("id", "status", "audio_url")})

    class Encoded(dict):  # type: ignore[type-arg]
        raw = b""

    real_respond_json = fakeserver._respond_json

    async def respond_json(conn: Any, stream: Any, status: int, payload: Any, **kw: Any) -> None:
        if isinstance(payload, Encoded):
            await fakeserver._respond(conn, stream, status, payload.raw, **kw)
        else:
            await real_respond_json(conn, stream, status, payload, **kw)

    fakeserver._respond_json = respond_json

    class Hosted(FakeServer):
        cpu_mark = 0.0

        def _create(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
            status, payload = super()._create(headers, raw)
            job = self.jobs.get(payload.get("id", ""))
            if job is not None:
                job.complete_after = rng.uniform(lo, hi) if hi > lo else lo
                # Read by the lower bound only.
                payload["bench_completes_at"] = job.created + job.complete_after
            return status, payload

        def transcript_json(self, job: Any, status: str | None = None) -> dict[str, Any]:
            if (status or job.status) != "completed" or job.deleted:
                return super().transcript_json(job, status)
            head = {"id": job.id, "status": "completed", "audio_url": job.request["audio_url"]}
            out = Encoded(head)
            out.raw = (json.dumps(head)[:-1] + ", " + rest[1:]).encode()
            return out

        def _route(self, method: str, path: str, *args: Any) -> tuple[int, dict[str, Any] | str]:
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
                done = [j.created + j.complete_after for j in self.jobs.values()]
                return 200, {
                    "requests": dict(kinds),
                    "jobs": self.created_jobs,
                    "cpu": usage.ru_utime + usage.ru_stime - self.cpu_mark,
                    "last_completed": max(done, default=0.0),
                }
            if path == "/_reset":
                self.requests.clear()
                self.uploads.clear()
                self.jobs.clear()
                self.idempotency_keys.clear()
                self.created_jobs = 0
                usage = resource.getrusage(resource.RUSAGE_SELF)
                self.cpu_mark = usage.ru_utime + usage.ru_stime
                return 200, {}
            return super()._route(method, path, *args)

    async def main() -> None:
        fakeserver.FakeServer = Hosted  # type: ignore[misc]  # serve_fake builds ours
        async with serve_fake(complete_after=lo, processing_after=0.0) as server:
            print(server.base_url, flush=True)
            await anyio.sleep_forever()

    anyio.run(main)


def call(base_url: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url + path, timeout=60) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- clients


def measure(fn: Any) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    extra = fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_mb": after.ru_maxrss / 1024,
        "end": time.monotonic(),
        **(extra or {}),
    }


def run_ours(base_url: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    import anyio

    import audio_highlights as ah

    # Made as the batch pulls them, so that 10,000 sources do not weigh on the RSS.
    data = (source(i) for i in range(jobs))
    batch: dict[str, Any] = {"concurrency": jobs, **opts.get("batch", {})}
    settings: dict[str, Any] = opts.get("client", {})

    async def keep_all() -> dict[str, Any]:
        async with ah.AsyncClient(api_key=KEY, base_url=base_url, **settings) as client:
            results = await client.transcribe_all(data, **batch)
            phrases = sum(len(r.transcript.highlights) for r in results if r.transcript)
        return {"failed": sum(1 for r in results if not r.ok), "phrases": phrases}

    async def keep_highlights() -> dict[str, Any]:
        kept: list[list[Any]] = []
        failed = phrases = 0
        async with (
            ah.AsyncClient(api_key=KEY, base_url=base_url, **settings) as client,
            client.transcribe_many(data, **batch) as results,
        ):
            async for r in results:
                if r.transcript is None:
                    failed += 1
                elif opts.get("keep") == "nothing":
                    phrases += len(r.transcript.highlights)
                else:
                    kept.append(r.transcript.highlights)
        return {"failed": failed, "phrases": phrases + sum(map(len, kept))}

    main = keep_all if opts.get("keep", "all") == "all" else keep_highlights
    out = profiled(opts, lambda: anyio.run(main, backend=opts.get("backend", "asyncio")))
    out["sdk"] = str(Path(ah.__file__).parent)
    return out


def run_assemblyai(base_url: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import assemblyai as aai

    aai.settings.base_url = base_url
    aai.settings.api_key = KEY
    data = sources(jobs)
    config = aai.TranscriptionConfig(auto_highlights=True)
    extra = {"max_concurrency": opts["concurrency"]} if "concurrency" in opts else {}

    async def main() -> dict[str, Any]:
        async with aai.AsyncTranscriber(config=config) as t:
            done, failures = await t.transcribe_group(data, return_failures=True, **extra)
        failed = len(failures) + sum(1 for x in done if x.status != "completed")
        return {"failed": failed}

    return measure(lambda: asyncio.run(main()))


def run_bare(base_url: str, jobs: int, opts: dict[str, Any]) -> dict[str, Any]:
    """A lower bound, not a usable client: bare httpx2 with an oracle's schedule."""
    import anyio
    import httpx2

    data = sources(jobs)
    conns = 8

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
                # The server's monotonic clock is this machine's.
                await anyio.sleep(max(0.0, job["bench_completes_at"] - time.monotonic()))
                async with gate:
                    t = (await c.get(f"/v2/transcript/{job['id']}")).json()
                failed += t["status"] != "completed"

            async with anyio.create_task_group() as tg:
                for blob in data:
                    tg.start_soon(one, blob)
        return {"failed": failed}

    return profiled(opts, lambda: anyio.run(main))


def profiled(opts: dict[str, Any], run: Any) -> dict[str, Any]:
    """``measure(run)``, under cProfile when ``opts["profile"]`` names a file to write."""
    if not opts.get("profile"):
        return measure(run)
    import cProfile

    profiler = cProfile.Profile()
    out = measure(lambda: profiler.runcall(run))
    profiler.dump_stats(opts["profile"])
    return out


RUNNERS = {"ours": run_ours, "assemblyai": run_assemblyai, "bare": run_bare}


# --------------------------------------------------------------------------- driver


class Server:
    """The fake hosted API in a process of its own."""

    def __init__(self, latency: str, words: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve", latency, str(words)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        self.latency, self.words = latency, words

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def one(
    server: Server, kind: str, jobs: int, opts: dict[str, Any], pythonpath: str | None = None
) -> dict[str, Any]:
    call(server.base_url, "/_reset")
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, __file__, "client", kind, server.base_url, str(jobs), json.dumps(opts)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=3600, env=env)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    stats = call(server.base_url, "/_stats")
    result.update(
        requests=stats["requests"],
        server_cpu=stats["cpu"],
        jobs=jobs,
        lag=result["end"] - stats["last_completed"],
    )
    return result


HEADER = (
    "| client | jobs | words | wall s | x floor | after last job s | client CPU ms/job "
    "| peak RSS MB | requests/job (upload/submit/get/list) | failed |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
)


def row(label: str, r: dict[str, Any], floor: float, words: int, scale_to: int | None) -> str:
    total = sum(r["requests"].values())
    per_job = total / r["jobs"]
    split = "/".join(str(r["requests"].get(k, 0)) for k in ("upload", "submit", "get", "list"))
    wall, lag, note = r["wall"], f"{r['lag']:.2f}", ""
    if scale_to and scale_to != r["jobs"]:
        factor = scale_to / r["jobs"]
        wall *= factor
        lag = "-"
        note = f" (scaled: {r['wall']:.1f} s for {r['jobs']} jobs, x{factor:g})"
    return (
        f"| {label} | {scale_to or r['jobs']:,} | {words:,} | {wall:.2f}{note} | "
        f"{wall / floor:.2f}x | {lag} | {r['cpu'] / r['jobs'] * 1000:.2f} | "
        f"{r['rss_mb']:.0f} | {per_job:.2f} ({split}) | {r['failed']} |"
    )


# (label, kind, jobs, opts, scale_to); ``jobs`` None: the suite's batch size.
Scenario = tuple[str, str, int | None, dict[str, Any], int | None]


def suites(n: int) -> dict[str, list[tuple[str, int, list[Scenario]]]]:
    ours = "audio-highlights, transcribe_all"
    aai = "assemblyai 1.8.2 transcribe_group"
    # Its default runs 8 jobs at a time: two waves, scaled to n.
    default_jobs = min(16, n)
    head_to_head: list[Scenario] = [
        (f"{ours} (defaults)", "ours", None, {}, None),
        (f"{ours}, Trio", "ours", None, {"backend": "trio"}, None),
        (
            f"{ours}, list_polling=False (per-job polls)",
            "ours",
            None,
            {"batch": {"list_polling": False}},
            None,
        ),
        (
            "lower bound: bare httpx2, 8 connections, one GET at each job's completion",
            "bare",
            None,
            {},
            None,
        ),
        (f"{aai}, defaults (max_concurrency=8)", "assemblyai", default_jobs, {}, n),
        (f"{aai}, max_concurrency=250", "assemblyai", None, {"concurrency": 250}, None),
        (f"{aai}, max_concurrency=100", "assemblyai", None, {"concurrency": 100}, None),
    ]
    highlights = {"keep": "highlights"}
    narrow = {"keep": "highlights", "batch": {"concurrency": 1000}}
    nothing = {"keep": "nothing", "batch": {"concurrency": 1000}}
    many = "audio-highlights, transcribe_many keeping highlights only"
    scale: list[Scenario] = [
        (many, "ours", 1000, highlights, None),
        (many, "ours", 10000, highlights, None),
        (f"{many}, concurrency=1000", "ours", 10000, narrow, None),
        (
            "audio-highlights, transcribe_many keeping nothing, concurrency=1000",
            "ours",
            10000,
            nothing,
            None,
        ),
        (f"{ours} (keeps every transcript)", "ours", 1000, {}, None),
    ]
    return {
        "goals": [("10", 861, head_to_head)],
        "spread": [("10-45", 861, head_to_head)],
        "scale": [("10", 861, scale), ("10", 9000, [scale[0], scale[2]])],
    }


def baseline_tree(ref: str, tmp: str) -> Path:
    tree = Path(tmp) / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
        check=True,
        capture_output=True,
    )
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("goals", "spread", "scale"), default="goals")
    parser.add_argument("--jobs", type=int, default=1000, help="batch size of goals/spread")
    parser.add_argument("--only", nargs="*", help="run only rows whose label has one of these")
    parser.add_argument("--baseline", metavar="REF", help="also run our rows with the SDK at REF")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tree = baseline_tree(args.baseline, tmp) if args.baseline else None
        try:
            for latency, words, scenarios in suites(args.jobs)[args.suite]:
                server = Server(latency, words)
                floor = float(latency.partition("-")[2] or latency)
                print(
                    f"\nLatency {latency} s after submit; every completed GET returns a "
                    f"{words:,}-word transcript; floor {floor:g} s; "
                    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
                    f"load {os.getloadavg()[0]:.2f}\n"
                )
                print(HEADER, flush=True)
                try:
                    for label, kind, jobs, opts, scale_to in scenarios:
                        if args.only and not any(o in label for o in args.only):
                            continue
                        runs = [(label, None)]
                        if tree is not None and kind == "ours":
                            runs.append((f"{label} [SDK at {args.baseline}]", str(tree / "src")))
                        for shown, path in runs:
                            r = one(server, kind, jobs or args.jobs, opts, path)
                            print(f"{shown}: {json.dumps(r)}", file=sys.stderr, flush=True)
                            print(row(shown, r, floor, words, scale_to), flush=True)
                finally:
                    server.close()
        finally:
            if tree is not None:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                    check=False,
                    capture_output=True,
                )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        kind, base, jobs, opts = sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
        print(json.dumps(RUNNERS[kind](base, jobs, opts)))
    else:
        main()
