"""Engine hardening (issue 14): one bad request, a full disk, a second engine, slow clients
or a deleted database never take the server down or lose its data.

Each ``test_N_...`` is the numbered case of the issue. Traffic goes to 127.0.0.1 only; an
address the policy refuses is refused at submit, so nothing is ever sent to it. The cases
that run recognition jobs are marked ``slow``; the quick selection keeps those that check
the refusals, the store and the limits without transcribing.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import logging
import math
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

pytest.importorskip("starlette")
pytest.importorskip("av")
pytest.importorskip("pocketsphinx")
httpx2 = pytest.importorskip("httpx2")

from audio_highlights.engine import EngineSettings  # noqa: E402
from audio_highlights.engine import open_engine as _open_engine  # noqa: E402

from .conftest import AUDIO, free_port, start_serve, stop_serve  # noqa: E402

BASE = "http://embedded.audio-highlights"


def open_engine(**options: Any) -> Any:
    """``open_engine`` without the options this engine does not know.

    So every case also runs (and fails for what it tests) against the engine as it was
    before issue 14, which had none of the new settings.
    """
    import attrs

    known = attrs.fields_dict(EngineSettings)
    return _open_engine(**{k: v for k, v in options.items() if k in known})


def serve(data_dir: Path, port: int, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
    """``start_serve`` without the flags this engine does not know (see ``open_engine``)."""
    from audio_highlights.cli._serve import serve as command

    known = {opt for param in command.params for opt in param.opts}
    kept: list[str] = []
    for arg in args:
        if arg.startswith("--") and arg not in known:
            kept.append("DROP")
        elif kept and kept[-1] == "DROP" and not arg.startswith("--"):
            continue
        else:
            kept.append(arg)
    return start_serve(data_dir, port, *[a for a in kept if a != "DROP"], **popen)
RIVER = (AUDIO / "river_cleanup.mp3").read_bytes()[:9_000]  # ~1.5 s: quick to recognise


def noise_wav(seconds: float) -> bytes:
    """A WAV of a wobbling tone (pocketsphinx works through it at a steady pace)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(3000 * math.sin(i / (7 + (i // 4000) % 5))))
                for i in range(int(16000 * seconds))
            )
        )
    return buf.getvalue()


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver on 127.0.0.1 that records what it gets."""

    received: ClassVar[list[tuple[dict[str, str], Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], Any]]]]:
    received: list[tuple[dict[str, str], Any]] = []
    handler = type("HookCopy", (Hook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        thread.join()


def client_for(app: Any) -> Any:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE, timeout=60)


async def wait_done(c: Any, tid: str, timeout: float = 60) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            body: dict[str, Any] = (await c.get(f"/v2/transcript/{tid}")).json()
            if body["status"] in ("completed", "error"):
                return body
            await anyio.sleep(0.1)


async def wait_status(c: Any, tid: str, status: str, timeout: float = 30) -> None:
    with anyio.fail_after(timeout):
        while (await c.get(f"/v2/transcript/{tid}")).json()["status"] != status:  # noqa: ASYNC110
            await anyio.sleep(0.02)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_engine(
        data_dir=tmp_path / "data", workers=1, recognizer="pocketsphinx",
        webhook_allow_loopback=True,
    ) as eng:
        yield eng


def http_client(port: int) -> Any:
    return httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)


def wait_sync(c: Any, tid: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = c.get(f"/v2/transcript/{tid}").json()
        if body["status"] in ("completed", "error"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


# ------------------------------------------------------------------ 1. one submit stops it


BAD_WEBHOOK_FIELDS = [
    ("non-ascii-value", {"webhook_auth_header_name": "X-Key",
                         "webhook_auth_header_value": "café-☃"}, "webhook_auth_header_value"),
    ("newline-in-value", {"webhook_auth_header_name": "X-Key",
                          "webhook_auth_header_value": "a\r\nHost: evil"},
     "webhook_auth_header_value"),
    ("space-in-name", {"webhook_auth_header_name": "X Key",
                       "webhook_auth_header_value": "v"}, "webhook_auth_header_name"),
    ("framing-header", {"webhook_auth_header_name": "Content-Length",
                        "webhook_auth_header_value": "0"}, "webhook_auth_header_name"),
    ("name-without-value", {"webhook_auth_header_name": "X-Key"}, "webhook_auth_header"),
    ("port-99999", {"webhook_url": "http://127.0.0.1:99999/hook"}, "webhook_url"),
]


@pytest.mark.slow
def test_1_a_bad_webhook_field_is_a_400_and_the_server_lives(tmp_path: Path) -> None:
    """Today these were accepted, and the finished job's webhook raised out of ``serve``."""
    port = free_port()
    proc = serve(tmp_path, port, "--recognizer", "pocketsphinx", "--webhook-allow-loopback")
    try:
        with http_client(port) as c, webhook_receiver() as (hook_url, received):
            url = c.post("/v2/upload", content=RIVER).json()["upload_url"]
            for name, fields, field in BAD_WEBHOOK_FIELDS:
                body = {"audio_url": url, "webhook_url": hook_url, **fields}
                r = c.post("/v2/transcript", json=body)
                assert r.status_code == 400, (name, r.text)
                assert field in r.json()["error"], (name, r.text)
            # The server is still up, and a good webhook is delivered.
            r = c.post("/v2/transcript", json={
                "audio_url": url, "webhook_url": hook_url,
                "webhook_auth_header_name": "X-Key", "webhook_auth_header_value": "s3cret"})
            assert r.status_code == 200, r.text
            assert wait_sync(c, r.json()["id"])["status"] == "completed"
            deadline = time.monotonic() + 20
            while not received:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert received[0][0]["X-Key"] == "s3cret"
            assert proc.poll() is None
    finally:
        stop_serve(proc)


@pytest.mark.slow
@pytest.mark.anyio
async def test_1_a_webhook_that_raises_is_recorded_not_fatal(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audio_highlights.engine import _runner

    async def explode(*args: Any, **kwargs: Any) -> int:
        raise OverflowError("port must be 0-65535.")  # what port 99999 raised before

    monkeypatch.setattr(_runner, "deliver_webhook", explode)
    async with client_for(engine.app) as c:
        url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
        ids = [(await c.post("/v2/transcript", json={
            "audio_url": url, "webhook_url": "http://127.0.0.1:9/hook"})).json()["id"]
            for _ in range(2)]
        bodies = [await wait_done(c, tid) for tid in ids]
    assert [b["status"] for b in bodies] == ["completed", "completed"]


# ------------------------------------------------------------------ 2. a full disk


def _set_file_size_limit(pid: int, limit: int | None) -> None:
    """Set the soft limit (``None``: back to the hard one); needs no privilege."""
    import resource

    hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)[1]
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard if limit is None else limit, hard))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux prlimit")
def test_2_a_disk_that_refuses_writes_gets_507_and_the_server_lives(tmp_path: Path) -> None:
    """The kernel refuses every write of the server process (RLIMIT_FSIZE set to 1 byte).

    That is a real failed ``write(2)`` at every layer (SQLite, uploads), with no root and
    no real disk to fill. Before: the job store's error escaped and ``serve`` exited.
    """
    port = free_port()
    proc = serve(tmp_path, port, "--recognizer", "pocketsphinx",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with http_client(port) as c:
            url = c.post("/v2/upload", content=RIVER).json()["upload_url"]
            tid = c.post("/v2/transcript", json={"audio_url": url}).json()["id"]
            _set_file_size_limit(proc.pid, 1)
            r = c.post("/v2/upload", content=RIVER)
            assert r.status_code == 507, r.text
            assert "storage" in r.json()["error"].lower()
            r = c.post("/v2/transcript", json={"audio_url": url})
            assert r.status_code == 507, r.text
            time.sleep(2)  # the job finishes (or is claimed) while nothing can be written
            assert proc.poll() is None
            assert c.get(f"/v2/transcript/{tid}").status_code == 200
            _set_file_size_limit(proc.pid, None)
            assert wait_sync(c, tid, timeout=60)["status"] == "completed"
            assert c.post("/v2/upload", content=RIVER).status_code == 200
            assert proc.poll() is None
    finally:
        stop_serve(proc)
    assert not list((tmp_path / "tmp").iterdir())  # the refused upload left nothing


# ------------------------------------------------------------------ 4. two engines, one data dir


@pytest.mark.chaos
@pytest.mark.anyio
async def test_4_a_second_engine_on_the_data_dir_does_not_take_running_jobs(
    tmp_path: Path,
) -> None:
    options: dict[str, Any] = {"data_dir": tmp_path, "workers": 1,
                               "recognizer": "pocketsphinx", "webhook_allow_loopback": True}
    with webhook_receiver() as (hook_url, received):
        async with open_engine(**options) as first, client_for(first.app) as c:
            url = (await c.post("/v2/upload", content=noise_wav(5))).json()["upload_url"]
            tid = (await c.post("/v2/transcript", json={
                "audio_url": url, "webhook_url": hook_url})).json()["id"]
            await wait_status(c, tid, "processing")
            began = time.monotonic()
            async with open_engine(**options):
                await anyio.sleep(0.5)
                # The second engine left the first one's job alone.
                assert (await c.get(f"/v2/transcript/{tid}")).json()["status"] == "processing"
                body = await wait_done(c, tid, timeout=120)
                took = time.monotonic() - began
                # Had it been taken, its second run would end within as long again.
                await anyio.sleep(min(took * 1.5, 30))
        assert body["status"] == "completed"
        assert [b for _, b in received] == [{"transcript_id": tid, "status": "completed"}]


@pytest.mark.anyio
async def test_4_jobs_of_a_stopped_engine_are_requeued_by_another(tmp_path: Path) -> None:
    from audio_highlights.engine._owners import OwnerLock
    from audio_highlights.engine._store import Store

    store = Store(tmp_path / "engine.sqlite3")
    mine, other = OwnerLock(tmp_path), OwnerLock(tmp_path)
    try:
        for i in range(2):
            store.create(f"job-{i}", "u", {}, None)
        assert store.claim_next(other.id) is not None
        assert store.requeue_orphans(mine.is_alive) == 0  # its engine still runs
        other.close()
        assert store.requeue_orphans(mine.is_alive) == 1  # now it has stopped
    finally:
        mine.close()
        store.close()


# ------------------------------------------------------------------ 5. webhook address policy


REFUSED_WEBHOOKS = [
    "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
    "http://10.1.2.3/hook",  # private
    "http://192.168.1.10/hook",
    "http://[fd00::1]/hook",  # unique local
    "http://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
    "http://0.0.0.0/hook",
    "http://user:pw@127.0.0.1/hook",
    "ftp://127.0.0.1/hook",
]


@pytest.mark.anyio
async def test_5_non_public_webhooks_are_refused_at_submit(tmp_path: Path) -> None:
    loopback = ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook",
                "http://[::ffff:127.0.0.1]:9/hook", "http://2130706433:9/hook"]
    for opt_in, refused in ((False, REFUSED_WEBHOOKS + loopback), (True, REFUSED_WEBHOOKS)):
        async with (
            open_engine(data_dir=tmp_path / str(opt_in), workers=1, recognizer="pocketsphinx",
                        webhook_allow_loopback=opt_in) as eng,
            client_for(eng.app) as c,
        ):
            url = (await c.post("/v2/upload", content=b"abc")).json()["upload_url"]
            for webhook_url in refused:
                r = await c.post("/v2/transcript",
                                 json={"audio_url": url, "webhook_url": webhook_url})
                assert r.status_code == 400, (opt_in, webhook_url, r.text)
                assert "webhook_url" in r.json()["error"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_5_loopback_webhooks_need_the_opt_in(tmp_path: Path, engine: Any) -> None:
    with webhook_receiver() as (hook_url, received):
        async with (
            open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx") as eng,
            client_for(eng.app) as c,
        ):
            url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
            for target in (hook_url, hook_url.replace("127.0.0.1", "localhost")):
                r = await c.post("/v2/transcript", json={"audio_url": url, "webhook_url": target})
                assert r.status_code == 400, r.text
                assert "non-public" in r.json()["error"]
        assert received == []  # refused at submit: nothing was ever sent
        # With webhook_allow_loopback (the ``engine`` fixture) it is called.
        async with client_for(engine.app) as c:
            url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
            r = await c.post("/v2/transcript", json={"audio_url": url, "webhook_url": hook_url})
            tid = r.json()["id"]
            await wait_done(c, tid)
            with anyio.fail_after(10):
                while not received:  # noqa: ASYNC110 - filled by the receiver's thread
                    await anyio.sleep(0.05)
        assert received[0][1] == {"transcript_id": tid, "status": "completed"}


@pytest.mark.slow
@pytest.mark.anyio
async def test_5_a_webhook_host_rebound_to_loopback_is_not_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolves to a public address at submit and to loopback at delivery."""
    from audio_highlights.engine import _outbound

    answers = ["93.184.215.14", "127.0.0.1"]

    async def resolve(host: str, port: int) -> set[str]:
        assert host == "hooks.test"
        return {answers.pop(0) if len(answers) > 1 else answers[0]}

    monkeypatch.setattr(_outbound, "_resolve", resolve)
    with webhook_receiver() as (hook_url, received):
        port = hook_url.split(":")[2].split("/")[0]
        async with (
            open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx") as eng,
            client_for(eng.app) as c,
        ):
            url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
            r = await c.post("/v2/transcript", json={
                "audio_url": url, "webhook_url": f"http://hooks.test:{port}/hook"})
            assert r.status_code == 200, r.text
            body = await wait_done(c, r.json()["id"])
            await anyio.sleep(0.5)
        assert body["status"] == "completed"
        assert body["webhook_status_code"] is None
        assert received == []  # refused when connecting: nothing was sent


def test_5_6to4_and_other_embedded_addresses_are_not_public() -> None:
    from audio_highlights.engine._outbound import is_public_address

    for address in ("2002:7f00:1::1", "2002:a00:1::1", "::ffff:10.0.0.1", "64:ff9b::7f00:1",
                    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "127.0.0.1", "169.254.169.254"):
        assert not is_public_address(address), address
    assert is_public_address("2002:5db8:d70e::1")  # 6to4 of a public IPv4 address
    assert is_public_address("93.184.215.14")


# ------------------------------------------------------------------ 6. slow clients


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="sets RLIMIT_NOFILE on the server")
def test_6_slow_and_idle_clients_do_not_exhaust_the_server(tmp_path: Path) -> None:
    import resource

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as err:
        proc = serve(tmp_path / "data", port, "--recognizer", "pocketsphinx",
                           "--header-timeout", "1", preexec_fn=low_fd_limit, stderr=err)
    socks: list[socket.socket] = []
    try:
        for i in range(400):  # 300 idle connections, 100 that send half a request head
            s = socket.socket()
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            if i % 4 == 0:
                s.sendall(b"GET /v2/transcript HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
            socks.append(s)
        # Within a few seconds the server answers again, and the slow ones were closed.
        deadline = time.monotonic() + 10
        while True:
            try:
                with http_client(port) as c:
                    assert c.get("/v2/transcript").status_code == 200
                break
            except (httpx2.TransportError, AssertionError):
                assert time.monotonic() < deadline, "the server stayed unreachable"
                time.sleep(0.2)
        for s in socks[:50]:
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(1) == b""  # closed by the server
        assert proc.poll() is None
    finally:
        for s in socks:
            s.close()
        stop_serve(proc)
    lines = log.read_text(errors="replace").splitlines()
    assert len(lines) < 60, lines[:80]
    assert not any("Traceback" in line for line in lines), lines


@pytest.mark.anyio
async def test_6_a_stalled_request_body_gets_408(tmp_path: Path) -> None:
    async with open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx",
                           body_timeout=0.5) as eng:
        async def stalled() -> AsyncIterator[bytes]:
            yield b"x" * 1000
            await anyio.sleep(5)
            yield b"y"

        async with client_for(eng.app) as c:
            with anyio.fail_after(4):
                r = await c.post("/v2/upload", content=stalled())
        assert r.status_code == 408, r.text
        assert list(eng.settings.tmp_dir.iterdir()) == []


# ------------------------------------------------------------------ 7. DELETE and retention


def stored_row(data_dir: Path, tid: str) -> dict[str, Any]:
    db = sqlite3.connect(str(data_dir / "engine.sqlite3"))
    db.row_factory = sqlite3.Row
    try:
        return dict(db.execute("SELECT * FROM jobs WHERE id=?", (tid,)).fetchone())
    finally:
        db.close()


@pytest.mark.slow
@pytest.mark.anyio
async def test_7_delete_removes_the_audio_and_the_secrets(engine: Any) -> None:
    data_dir = engine.settings.data_dir
    async with client_for(engine.app) as c:
        url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
        upload_file = engine.settings.uploads_dir / url.rsplit("/", 1)[1]
        tid = (await c.post("/v2/transcript", json={
            "audio_url": url, "webhook_url": "http://127.0.0.1:9/hook",
            "webhook_auth_header_name": "X-Key", "webhook_auth_header_value": "s3cret-value",
        })).json()["id"]
        assert (await wait_done(c, tid))["status"] == "completed"
        r = await c.delete(f"/v2/transcript/{tid}")
        assert r.status_code == 200 and r.json()["text"] == "Deleted by user."
        assert r.json()["audio_url"] == "http://deleted_by_user"
        assert not upload_file.exists()
        row = stored_row(data_dir, tid)
        assert "s3cret-value" not in json.dumps(row)
        assert url not in json.dumps(row)
        # The old upload URL cannot be transcribed again.
        r = await c.post("/v2/transcript", json={"audio_url": url})
        assert r.status_code == 400 and "no such upload" in r.json()["error"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_7_delete_cancels_queued_and_processing_jobs(engine: Any) -> None:
    async with client_for(engine.app) as c:
        url = (await c.post("/v2/upload", content=noise_wav(60))).json()["upload_url"]
        running = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
        queued = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
        await wait_status(c, running, "processing")
        with anyio.fail_after(5):
            for tid in (queued, running):
                r = await c.delete(f"/v2/transcript/{tid}")
                assert r.status_code == 200, r.text
                assert r.json()["status"] == "error"
                assert "deleted" in r.json()["error"].lower()
        # The worker is free at once: a new job runs and completes.
        url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
        tid = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
        assert (await wait_done(c, tid, timeout=30))["status"] == "completed"
        for tid in (queued, running):
            body = (await c.get(f"/v2/transcript/{tid}")).json()
            assert body["status"] == "error" and body["words"] is None


@pytest.mark.anyio
async def test_7_old_uploads_expire_unless_a_job_needs_them(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir(parents=True)
    old, fresh = uploads / ("a" * 32), uploads / ("b" * 32)
    for f in (old, fresh):
        f.write_bytes(RIVER)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    async with open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx",
                           upload_retention=3600) as eng:
        await anyio.sleep(0.5)
        assert not old.exists() and fresh.exists()
        assert eng.settings.upload_retention == 3600


def test_7_cache_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from audio_highlights.cli import main

    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / ("c" * 32)).write_bytes(b"x" * 1000)
    (tmp_path / "engine.sqlite3").write_bytes(b"")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "keep").write_bytes(b"m")
    assert main(["cache", "clear", "--data-dir", str(tmp_path)]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (tmp_path / "uploads").exists() and not (tmp_path / "engine.sqlite3").exists()
    assert (tmp_path / "models" / "keep").exists()  # models stay unless --all


@pytest.mark.anyio
async def test_7_cache_clear_refuses_while_an_engine_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from audio_highlights.cli import main

    async with open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx"):
        assert main(["cache", "clear", "--data-dir", str(tmp_path)]) == 1
        assert "running" in capsys.readouterr().err
        assert (tmp_path / "engine.sqlite3").exists()


# ------------------------------------------------------------------ 8. the database vanishes


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_8_a_vanished_database_gets_503_not_work_into_the_void(
    engine: Any, how: str
) -> None:
    db = engine.settings.db_path
    async with client_for(engine.app) as c:
        url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
        tid = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if how == "replaced":
            sqlite3.connect(str(db)).close()
        for method, path, body in [("POST", "/v2/transcript", {"audio_url": url}),
                                   ("GET", f"/v2/transcript/{tid}", None),
                                   ("GET", "/v2/transcript", None)]:
            r = await c.request(method, path, json=body)
            assert r.status_code == 503, (method, path, r.text)
            assert "restart" in r.json()["error"]


# ------------------------------------------------------------------ 9. the small ones


SMALL_CASES = [
    ("GET", "/v2/transcript?limit=%C2%B2", 400, "limit"),  # "²".isdigit() is True
    ("GET", "/v2/transcript?limit=" + "5" * 5000, 400, "limit"),
    ("GET", "/v2/transcript?created_on=2024-13-45", 400, "created_on"),
    ("GET", "/v2/transcript/{tid}/srt?chars_per_caption=%C2%B2", 400, "chars_per_caption"),
    ("GET", "/v2/transcript/{tid}/srt?chars_per_caption=" + "9" * 5000, 400,
     "chars_per_caption"),
]


@pytest.mark.slow
@pytest.mark.anyio
async def test_9_small_ones(engine: Any) -> None:
    async with client_for(engine.app) as c:
        url = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
        tid = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
        await wait_done(c, tid)
        for method, path, status, match in SMALL_CASES:
            r = await c.request(method, path.format(tid=tid))
            assert r.status_code == status, (path[:80], r.text)
            assert match in r.json()["error"]
        # An unknown upload id on our own host is named as such.
        r = await c.post("/v2/transcript", json={"audio_url": f"{BASE}/v2/upload/{'f' * 32}"})
        assert r.status_code == 400 and "no such upload" in r.json()["error"], r.text
        # A reused Idempotency-Key: same body, same job; another body, 422.
        key = {"idempotency-key": "k-1"}
        first = await c.post("/v2/transcript", json={"audio_url": url}, headers=key)
        again = await c.post("/v2/transcript", json={"audio_url": url}, headers=key)
        assert first.json()["id"] == again.json()["id"]
        other = await c.post("/v2/transcript", json={"audio_url": url, "punctuate": False},
                             headers=key)
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["error"]
        # Job errors do not show server paths.
        bad = (await c.post("/v2/upload", content=b"not audio at all" * 10)).json()["upload_url"]
        body = await wait_done(c, (await c.post("/v2/transcript",
                                                json={"audio_url": bad})).json()["id"])
        assert body["status"] == "error"
        assert str(engine.settings.data_dir) not in body["error"], body["error"]
        assert "/uploads/" not in body["error"], body["error"]


@pytest.mark.anyio
async def test_9_an_aborted_upload_is_quiet_and_leaves_nothing(
    engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b"x" * 5000, "more_body": True},
                {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v2/upload", "raw_path": b"/v2/upload",
             "query_string": b"", "headers": [(b"host", b"embedded.audio-highlights")],
             "scheme": "http", "server": ("embedded.audio-highlights", 80), "client": None,
             "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}
    with caplog.at_level(logging.DEBUG):
        await engine.app(scope, receive, send)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert list(engine.settings.tmp_dir.iterdir()) == []
    assert list(engine.settings.uploads_dir.iterdir()) == []


# ------------------------------------------------------------------ 3. huge files, time limits


def lying_mka(seconds: float, declared: float) -> bytes:
    """A Matroska file of ``seconds`` of noise whose header says it lasts ``declared``."""
    import struct as _struct

    import av
    import numpy as np

    buf = io.BytesIO()
    out = av.open(buf, "w", format="matroska")
    stream = out.add_stream("pcm_s16le", rate=16000, layout="mono")
    rng = np.random.default_rng(3)
    for i in range(int(seconds * 10)):
        frame = av.AudioFrame.from_ndarray(
            (rng.standard_normal((1, 1600)) * 300).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = 16000
        frame.pts = i * 1600
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    data = bytearray(buf.getvalue())
    at = data.find(b"\x44\x89\x88")  # Segment Info / Duration, an 8-byte float in ms
    data[at + 3 : at + 11] = _struct.pack(">d", declared * 1000)
    return bytes(data)


def flac_declaring(hours: float) -> bytes:
    """One second of FLAC silence whose STREAMINFO says it lasts ``hours``."""
    import av
    import numpy as np

    buf = io.BytesIO()
    out = av.open(buf, "w", format="flac")
    stream = out.add_stream("flac", rate=16000, layout="mono")
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), dtype=np.int16), format="s16",
                                       layout="mono")
    frame.sample_rate = 16000
    frame.pts = 0
    for packet in [*stream.encode(frame), *stream.encode(None)]:
        out.mux(packet)
    out.close()
    data = bytearray(buf.getvalue())
    # STREAMINFO's total sample count: the low 36 bits of the 8 bytes at offset 18.
    (packed,) = struct.unpack(">Q", data[18:26])
    packed = (packed & ~((1 << 36) - 1)) | int(hours * 3600 * 16000)
    data[18:26] = struct.pack(">Q", packed)
    return bytes(data)


async def job_error(c: Any, data: bytes, **extra: Any) -> dict[str, Any]:
    url = (await c.post("/v2/upload", content=data)).json()["upload_url"]
    r = await c.post("/v2/transcript", json={"audio_url": url, **extra})
    assert r.status_code == 200, r.text
    return await wait_done(c, r.json()["id"])


@pytest.mark.slow
@pytest.mark.anyio
async def test_3_concat_lists_and_playlists_are_refused(engine: Any) -> None:
    """Before: an ffconcat list naming an upload 20,000 times decoded 62 h of audio."""
    async with client_for(engine.app) as c:
        target = (await c.post("/v2/upload", content=RIVER)).json()["upload_url"]
        name = target.rsplit("/", 1)[1]
        listing = b"ffconcat version 1.0\n" + f"file {name}\n".encode() * 20_000
        with webhook_receiver() as (hook_url, received):
            playlist = (b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
                        + hook_url.encode() + b"\n#EXT-X-ENDLIST\n")
            for data in (listing, playlist):
                body = await job_error(c, data)
                assert body["status"] == "error", body
                assert "format" in body["error"], body["error"]
        assert received == []  # the playlist's URL was never fetched


@pytest.mark.slow
@pytest.mark.anyio
async def test_3_audio_over_the_duration_limit_ends_in_error(tmp_path: Path) -> None:
    """From the metadata (a FLAC declaring 24 h), and while decoding (a header that lies)."""
    async with (
        open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx",
                    max_audio_duration=3) as eng,
        client_for(eng.app) as c,
    ):
        declared = await job_error(c, flac_declaring(24))
        assert declared["status"] == "error"
        assert "declared as 24:00:00" in declared["error"], declared["error"]
        lying = await job_error(c, lying_mka(seconds=8, declared=1))
        assert lying["status"] == "error"
        assert "at least" in lying["error"] and "max_audio_duration" in lying["error"]
        ok = await job_error(c, lying_mka(seconds=2, declared=2))
        assert ok["status"] == "completed", ok["error"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_3_a_job_past_its_time_limit_ends_in_error(tmp_path: Path) -> None:
    async with (
        open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx",
                    max_job_time=5) as eng,
        client_for(eng.app) as c,
    ):
        slow = await job_error(c, noise_wav(60))
        assert slow["status"] == "error"
        assert "longer than the 5 s limit" in slow["error"], slow["error"]
        quick = await job_error(c, RIVER[:3000])  # the worker was replaced: this one runs
        assert quick["status"] == "completed", quick["error"]


def test_3_audio_reaches_the_recogniser_in_bounded_chunks(tmp_path: Path) -> None:
    import numpy as np

    from audio_highlights.engine._audio import decode_audio, iter_audio

    path = tmp_path / "long.wav"
    path.write_bytes(noise_wav(31))
    chunks = list(iter_audio(path, chunk_seconds=10))
    assert [len(ch) <= 10 * 16000 for ch in chunks] == [True] * len(chunks)
    assert len(chunks) == 4
    whole = decode_audio(path)
    assert np.array_equal(np.concatenate(chunks), whole)
    assert len(whole) == 31 * 16000


@pytest.mark.slow
def test_3_words_of_later_chunks_keep_their_place_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audio_highlights.engine import _audio, _pipeline

    path = tmp_path / "river.mp3"
    path.write_bytes((AUDIO / "river_cleanup.mp3").read_bytes())
    request = _pipeline.JobRequest(path=str(path), params={}, recognizer="pocketsphinx",
                                   model_dir=None, cpu_threads=1)
    whole = _pipeline.run_job(request)
    monkeypatch.setattr(_audio, "CHUNK_SECONDS", 4.0)
    chunked = _pipeline.run_job(request)
    assert chunked["audio_duration"] == whole["audio_duration"] == 11
    starts = [w["start"] for w in chunked["words"]]
    assert starts == sorted(starts) and starts[-1] > 8000  # words from the third chunk
    assert abs(len(chunked["words"]) - len(whole["words"])) <= len(whole["words"]) // 3


@pytest.mark.chaos
def test_3_decoding_memory_stays_flat_with_duration(tmp_path: Path) -> None:
    """Two hours of audio decode in the worker's chunks at well under the size of the file
    as float32 (the whole-file decode before held 460 MB of samples, and a copy)."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from audio_highlights.engine._audio import iter_audio\n"
        "n = sum(len(c) for c in iter_audio(Path(sys.argv[1])))\n"
        "print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    path = tmp_path / "two-hours.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        second = bytes(range(16)) * 2000
        for _ in range(2 * 3600):
            w.writeframesraw(second)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, timeout=600)
    samples, peak_mib = (int(x) for x in out.stdout.split())
    assert samples == 2 * 3600 * 16000
    assert peak_mib < 300, peak_mib  # float32 of the whole file alone is 439 MiB
