"""kill -9 the engine while jobs are uploading, queued and processing; restart on the same
data dir: every job it had accepted (returned an id for) completes, a partial upload is
never served, and SQLite stays consistent.

The first test kills a process holding the job store in the middle of its writes (the
quick selection's case, no server); the ``slow`` one crashes a real ``serve`` once; the
``chaos`` one crashes the engine five times at random moments while an SDK client keeps
submitting. The servers use the pocketsphinx recognizer (quick, and always installed with
the engine extra).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("av")
pytest.importorskip("pocketsphinx")
httpx2 = pytest.importorskip("httpx2")

from .conftest import AUDIO, free_port, start_serve  # noqa: E402

AUDIO_BYTES = (AUDIO / "river_cleanup.mp3").read_bytes()


# Creates jobs and claims one under its own owner lock, then kills itself with SIGKILL
# in the middle of a stream of further writes (no close, no unlock, no atexit).
_CRASHING_ENGINE = """
import os, signal, sys
from pathlib import Path
from audio_highlights.engine._owners import OwnerLock
from audio_highlights.engine._store import Store

data_dir = Path(sys.argv[1])
store = Store(data_dir / "engine.sqlite3")
lock = OwnerLock(data_dir)
for i in range(3):
    store.create(f"job-{i}", "u", {"n": i}, None)
assert store.claim_next(lock.id).id == "job-0"
print(lock.id, flush=True)
for i in range(3, 10_000):
    store.create(f"job-{i}", "u", {"n": i}, None)
    if i == 50:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_store_killed_mid_write_keeps_every_accepted_job(tmp_path: Path) -> None:
    from audio_highlights.engine._owners import OwnerLock
    from audio_highlights.engine._store import Store

    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASHING_ENGINE), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    dead_owner = proc.stdout.strip()
    rows = checked_rows(tmp_path, "SELECT id, status FROM jobs")
    # Every create that returned is there (job-0 .. job-50); the one cut short is not half-made.
    assert {f"job-{i}" for i in range(51)} <= set(rows) <= {f"job-{i}" for i in range(52)}
    assert rows["job-0"] == "processing"
    store, mine = Store(tmp_path / "engine.sqlite3"), OwnerLock(tmp_path)
    try:
        assert not mine.is_alive(dead_owner)  # the killed engine's lock went with it
        assert store.requeue_orphans(mine.is_alive) == 1
        assert store.claim_next(mine.id).id == "job-0"  # its job runs again, first
    finally:
        mine.close()
        store.close()


def start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    return start_serve(data_dir, port, "--recognizer", "pocketsphinx")


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def running(data_dir: Path, port: int) -> Iterator[Any]:
    proc = start(data_dir, port)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            yield c
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill9(proc)


def half_upload(port: int, data: bytes) -> socket.socket:
    """Start an upload and send only half its body: the server is mid-upload."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v2/upload HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/octet-stream\r\n"
        + f"content-length: {len(data)}\r\n\r\n".encode()
        + data[: len(data) // 2]
    )
    return sock


def submit(c: Any, url: str) -> str:
    r = c.post("/v2/transcript", json={"audio_url": url, "auto_highlights": True})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def wait_all(c: Any, ids: list[str], timeout: float = 240) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    out: dict[str, dict[str, Any]] = {}
    for tid in ids:
        while True:
            r = c.get(f"/v2/transcript/{tid}")
            assert r.status_code == 200, (tid, r.text)
            body = r.json()
            if body["status"] in ("completed", "error"):
                out[tid] = body
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
    return out


def checked_rows(data_dir: Path, query: str) -> dict[Any, Any]:
    """The store passes SQLite's integrity_check; ``query``'s two-column rows as a dict."""
    db = sqlite3.connect(str(data_dir / "engine.sqlite3"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return dict(db.execute(query).fetchall())
    finally:
        db.close()


def check_consistent(data_dir: Path, upload_sizes: set[int]) -> None:
    """SQLite passes integrity_check; no partial upload is under its final name."""
    statuses = checked_rows(data_dir, "SELECT status, count(*) FROM jobs GROUP BY status")
    assert set(statuses) <= {"queued", "processing", "completed", "error"}
    for f in (data_dir / "uploads").iterdir():
        assert f.stat().st_size in upload_sizes, f
    # Unfinished uploads stay in tmp/ as .part files (swept once stale) and never get a
    # name under uploads/, so no URL can reach them.
    assert all(f.name.endswith(".part") for f in (data_dir / "tmp").iterdir())


@pytest.mark.slow
def test_kill_9_while_uploading_queued_and_processing(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            r = c.post("/v2/upload", content=AUDIO_BYTES)
            url = r.json()["upload_url"]
            ids = [submit(c, url) for _ in range(4)]
            deadline = time.monotonic() + 30
            while c.get(f"/v2/transcript/{ids[0]}").json()["status"] == "queued":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            uploading = half_upload(port, AUDIO_BYTES + b"tail")
            time.sleep(0.3)  # the server has the half body in a .part file
            statuses = [c.get(f"/v2/transcript/{i}").json()["status"] for i in ids]
        assert "processing" in statuses and "queued" in statuses, statuses
        assert list((tmp_path / "tmp").iterdir()), "the half upload is not in progress"
    finally:
        kill9(proc)
    uploading.close()
    with running(tmp_path, port) as c:
        bodies = wait_all(c, ids)
        assert {b["status"] for b in bodies.values()} == {"completed"}, bodies
        assert all(b["words"] for b in bodies.values())
    check_consistent(tmp_path, {len(AUDIO_BYTES)})


@pytest.mark.slow
@pytest.mark.chaos
def test_repeated_kill_9_under_sdk_load(tmp_path: Path) -> None:
    """Five crashes at random moments while a client uploads and submits; nothing is lost."""
    import anyio

    import audio_highlights as ah

    rnd = random.Random(17)
    port = free_port()
    accepted: list[str] = []
    sizes = {len(AUDIO_BYTES)}

    async def load(base_url: str, seconds: float) -> None:
        """Upload and submit (6 jobs at most) for a while; remember every id returned."""
        async with ah.AsyncClient(base_url=base_url, max_retries=0, timeout=5) as client:
            with anyio.move_on_after(seconds):
                for _ in range(6):
                    try:
                        url = await client.upload(AUDIO_BYTES)
                        job = await client.submit(url)
                    except ah.AudioHighlightsError:
                        await anyio.sleep(0.05)  # refused or cut short: go on
                        continue
                    accepted.append(job.id)
                    await anyio.sleep(rnd.uniform(0, 0.3))

    for crash in range(5):
        proc = start(tmp_path, port)
        try:
            anyio.run(load, f"http://127.0.0.1:{port}", rnd.uniform(0.3, 2.0))
            sock = half_upload(port, AUDIO_BYTES + b"tail")
            time.sleep(rnd.uniform(0.05, 0.3))
        finally:
            kill9(proc)
        sock.close()
        print(f"\n[durability] crash {crash + 1}: {len(accepted)} jobs accepted so far")
    with running(tmp_path, port) as c:
        bodies = wait_all(c, accepted, timeout=600)
    check_consistent(tmp_path, sizes)
    statuses = {b["status"] for b in bodies.values()}
    print(f"[durability] 5 crashes, {len(accepted)} accepted jobs, statuses {statuses}")
    assert statuses == {"completed"}
