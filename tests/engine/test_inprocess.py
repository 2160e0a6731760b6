"""The engine in-process via ``open_engine`` and httpx2's ASGI transport."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("starlette")
pytest.importorskip("av")
pytest.importorskip("pocketsphinx")
httpx2 = pytest.importorskip("httpx2")

from audio_highlights.cli import main  # noqa: E402
from audio_highlights.engine import EngineSettings, open_engine  # noqa: E402

from .conftest import AUDIO  # noqa: E402

BASE = "http://embedded.audio-highlights"


def asgi_client(app: Any, **headers: str) -> Any:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=BASE, headers=headers, timeout=60
    )


async def wait_all(client: Any, ids: list[str], timeout: float = 120) -> list[dict[str, Any]]:
    out = []
    with anyio.fail_after(timeout):
        for tid in ids:
            while True:
                body = (await client.get(f"/v2/transcript/{tid}")).json()
                if body["status"] in ("completed", "error"):
                    out.append(body)
                    break
                await anyio.sleep(0.2)
    return out


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_engine(
        data_dir=tmp_path,
        workers=1,
        recognizer="pocketsphinx",
        max_upload_bytes=10_000,
        allow_url_hosts=["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3", "::1"],
    ) as eng:
        yield eng


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datetime as dt

    monkeypatch.setenv("AUDIO_HIGHLIGHTS_DATA_DIR", str(tmp_path / "d"))
    s = EngineSettings(webhook_initial_backoff=dt.timedelta(milliseconds=500))
    assert s.data_dir == tmp_path / "d"
    assert s.webhook_initial_backoff == 0.5
    assert s.recognizer == "whisper"
    assert s.workers >= 1
    assert s.max_upload_bytes == 2_200_000_000
    with pytest.raises(ValueError, match="recognizer"):
        EngineSettings(recognizer="nope")
    with pytest.raises(TypeError):
        EngineSettings("positional")  # type: ignore[misc]


@pytest.mark.anyio
async def test_upload_is_streamed_and_atomic(engine: Any) -> None:
    data = (AUDIO / "river_cleanup.mp3").read_bytes()[:9_000]

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    async with asgi_client(engine.app) as c:
        r = await c.post("/v2/upload", content=chunks())
        assert r.status_code == 200
        url = r.json()["upload_url"]
        assert url.startswith(f"{BASE}/v2/upload/")
    stored = engine.settings.uploads_dir / url.rsplit("/", 1)[1]
    assert stored.read_bytes() == data
    assert list(engine.settings.tmp_dir.iterdir()) == []


@pytest.mark.anyio
async def test_upload_too_large_is_413(engine: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield b"x" * 1000

    async with asgi_client(engine.app) as c:
        r = await c.post("/v2/upload", content=b"x" * 20_000)
        assert r.status_code == 413
        assert "error" in r.json()
        r = await c.post("/v2/upload", content=chunks())  # no Content-Length
        assert r.status_code == 413
    assert list(engine.settings.uploads_dir.iterdir()) == []
    assert list(engine.settings.tmp_dir.iterdir()) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "audio_url"),
        ({"audio_url": 5}, "audio_url"),
        ({"audio_url": "UPLOAD", "auto_highlights": "yes"}, "auto_highlights"),
        ({"audio_url": "UPLOAD", "speaker_labels": "yes"}, "speaker_labels"),
        ({"audio_url": "UPLOAD", "speakers_expected": 0}, "speakers_expected"),
        ({"audio_url": "UPLOAD", "speaker_options": {"max_speakers_expected": 0}}, "max_speakers"),
        ({"audio_url": "UPLOAD", "content_safety": True}, "content_safety"),
        ({"audio_url": "UPLOAD", "summarization": True}, "summarization"),
        ({"audio_url": "UPLOAD", "redact_pii": True}, "redact_pii"),
        ({"audio_url": "UPLOAD", "language_code": "xx"}, "language_code"),
        ({"audio_url": "UPLOAD", "webhook_url": 3}, "webhook_url"),
        ([1, 2], "JSON object"),
    ],
)
async def test_bad_requests_are_400(engine: Any, body: Any, field: str) -> None:
    async with asgi_client(engine.app) as c:
        url = (await c.post("/v2/upload", content=b"abc")).json()["upload_url"]
        if isinstance(body, dict) and body.get("audio_url") == "UPLOAD":
            body = {**body, "audio_url": url}
        r = await c.post("/v2/transcript", json=body)
        assert r.status_code == 400, r.text
        assert field in r.json()["error"]
        r = await c.post(
            "/v2/transcript", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        assert "JSON" in r.json()["error"]
        ok = await c.post(
            "/v2/transcript",
            json={"audio_url": url, "speaker_labels": False, "unknown_thing": {"x": 1}},
        )
        assert ok.status_code == 200
        assert ok.json()["ignored_fields"] == ["unknown_thing"]
        assert ok.headers["x-ignored-fields"] == "unknown_thing"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1/a.mp3",
        "http://localhost:8000/a.mp3",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/a.mp3",
        "http://[::1]/a.mp3",
        "https://example.com/a.mp3",
        "ftp://example.com/a.mp3",
        "http://user:pw@127.0.0.1/a.mp3",
    ],
)
async def test_ssrf_refused(engine: Any, url: str) -> None:
    async with asgi_client(engine.app) as c:
        r = await c.post("/v2/transcript", json={"audio_url": url})
        assert r.status_code == 400, r.text
        assert "audio_url" in r.json()["error"]


@pytest.mark.anyio
async def test_own_upload_of_other_host_is_not_trusted(engine: Any) -> None:
    async with asgi_client(engine.app) as c:
        r = await c.post(
            "/v2/transcript", json={"audio_url": "http://10.9.9.9/v2/upload/" + "0" * 32}
        )
        assert r.status_code == 400


@pytest.mark.anyio
async def test_api_key_required(tmp_path: Path) -> None:
    async with open_engine(
        data_dir=tmp_path, workers=1, api_key="s3cret", recognizer="pocketsphinx"
    ) as eng:
        async with asgi_client(eng.app) as c:
            assert (await c.get("/v2/transcript")).status_code == 401
            assert (
                await c.get("/v2/transcript", headers={"authorization": "wrong"})
            ).status_code == 401
            r = await c.post("/v2/upload", content=b"x", headers={"authorization": "Bearer s3cret"})
            assert r.status_code == 401
        async with asgi_client(eng.app, authorization="s3cret") as c:
            assert (await c.get("/v2/transcript")).status_code == 200


@pytest.mark.slow
@pytest.mark.anyio
async def test_restart_recovers_jobs(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    data = (AUDIO / "river_cleanup.mp3").read_bytes()
    async with open_engine(data_dir=tmp_path, workers=1) as eng, asgi_client(eng.app) as c:
        url = (await c.post("/v2/upload", content=data)).json()["upload_url"]
        ids = [
            (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"] for _ in range(3)
        ]
        with anyio.fail_after(30):
            while True:
                status = (await c.get(f"/v2/transcript/{ids[0]}")).json()["status"]
                if status != "queued":
                    break
                await anyio.sleep(0.05)
    # Stopped mid-way: the first job was processing, the others queued.
    async with open_engine(data_dir=tmp_path, workers=1) as eng, asgi_client(eng.app) as c:
        bodies = await wait_all(c, ids)
    assert [b["status"] for b in bodies] == ["completed"] * 3
    assert all("river" in b["text"].lower() for b in bodies)


@pytest.mark.slow
@pytest.mark.anyio
async def test_pocketsphinx_recognizer(engine: Any) -> None:
    async with asgi_client(engine.app) as c:
        url = (
            await c.post("/v2/upload", content=(AUDIO / "river_cleanup.mp3").read_bytes()[:9_000])
        ).json()["upload_url"]
        tid = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
        [body] = await wait_all(c, [tid])
    assert body["status"] == "completed", body["error"]
    assert body["speech_model_used"] == "pocketsphinx"
    assert isinstance(body["words"], list)


def test_serve_refuses_public_bind_without_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUDIO_HIGHLIGHTS_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "api key" in capsys.readouterr().err.lower()


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_serve_on_a_port_in_use_says_so_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with taken_port() as port:
        code = main(["serve", "--port", str(port), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"127.0.0.1:{port}" in err and "in use" in err and "--port" in err
    assert not (tmp_path / "engine.sqlite3").exists()  # no engine was started


@pytest.mark.slow  # starts the engine (a worker loads its model) before uvicorn binds
def test_a_port_taken_after_the_check_is_a_message_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audio_highlights.engine import _serve

    monkeypatch.setattr(_serve, "check_bindable", lambda host, port: None)
    with taken_port() as port:
        args = ["serve", "--port", str(port), "--data-dir", str(tmp_path)]
        code = main([*args, "--workers", "1", "--recognizer", "pocketsphinx"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "could not start" in err


@pytest.mark.anyio
async def test_falls_back_to_pocketsphinx_with_warning(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    empty = tmp_path / "no-model"
    empty.mkdir()
    with pytest.warns(RuntimeWarning, match="pocketsphinx"):
        async with open_engine(data_dir=tmp_path / "d", workers=1, model_dir=empty) as eng:
            assert eng.recognizer == "pocketsphinx"


def test_core_import_does_not_pull_server() -> None:
    import subprocess
    import sys

    code = (
        "import sys, audio_highlights, audio_highlights.engine as e; "
        "assert 'starlette' not in sys.modules and 'faster_whisper' not in sys.modules; "
        "print(sorted(e.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "open_engine" in out.stdout


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_runs_under_trio(tmp_path: Path, anyio_backend: str) -> None:
    pytest.importorskip("trio")
    async with (
        open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx") as eng,
        asgi_client(eng.app) as c,
    ):
        data = (AUDIO / "river_cleanup.mp3").read_bytes()[:9_000]
        url = (await c.post("/v2/upload", content=data)).json()["upload_url"]
        tid = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
        [body] = await wait_all(c, [tid])
        assert body["status"] == "completed", body["error"]
        assert (
            await c.get("/v2/transcript/" + "1" * 8 + "-0000-0000-0000-" + "0" * 12)
        ).status_code == 404


@contextlib.contextmanager
def serve_samples() -> Iterator[str]:
    """Serve examples/audio over plain HTTP on a free loopback port; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(AUDIO))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        thread.join()


@contextlib.asynccontextmanager
async def fetching_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, answers: list[str], public: str
) -> AsyncIterator[tuple[httpx2.AsyncClient, str]]:
    """An engine allowed to fetch from ``samples.test``, a loopback sample server.

    Only public addresses pass the address policy, so DNS is stubbed: each lookup
    of ``samples.test`` answers the next of ``answers`` (the last one repeats),
    and the address ``public`` counts as public. Yields (client, base URL).
    """
    from audio_highlights.engine import _outbound

    real_public = _outbound.is_public_address

    async def resolve(host: str, port: int) -> set[str]:
        assert host == "samples.test"
        return {answers.pop(0) if len(answers) > 1 else answers[0]}

    monkeypatch.setattr(_outbound, "_resolve", resolve)
    monkeypatch.setattr(
        _outbound, "is_public_address", lambda a: a == public or real_public(a)
    )
    with serve_samples() as base:
        async with (
            open_engine(
                data_dir=tmp_path,
                workers=1,
                recognizer="pocketsphinx",
                allow_url_hosts=["samples.test"],
            ) as eng,
            asgi_client(eng.app) as c,
        ):
            yield c, base.replace("127.0.0.1", "samples.test")


async def submit_url(c: httpx2.AsyncClient, url: str) -> str:
    job_id: str = (await c.post("/v2/transcript", json={"audio_url": url})).json()["id"]
    return job_id


@pytest.mark.slow
@pytest.mark.anyio
async def test_allowed_remote_url_is_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fetching_engine(
        tmp_path, monkeypatch, answers=["127.0.0.1"], public="127.0.0.1"
    ) as (c, base):
        ok = await submit_url(c, f"{base}/river_cleanup.mp3")
        missing = await submit_url(c, f"{base}/nope.mp3")
        good, bad = await wait_all(c, [ok, missing])
    assert good["status"] == "completed", good["error"]
    assert good["words"]
    assert bad["status"] == "error"
    assert "404" in bad["error"]
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.anyio
async def test_dns_rebinding_is_refused_at_connect_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name passes at submit; when the job runs it resolves to loopback: refused
    # before connecting (the download never reaches the sample server).
    async with fetching_engine(
        tmp_path, monkeypatch, answers=["127.0.0.2", "127.0.0.1"], public="127.0.0.2"
    ) as (c, base):
        (body,) = await wait_all(c, [await submit_url(c, f"{base}/river_cleanup.mp3")])
    assert body["status"] == "error"
    assert "non-public address" in body["error"]
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.slow  # a job with a second spaCy pipeline loaded in the worker
@pytest.mark.anyio
async def test_user_given_spacy_model_reaches_the_worker(tmp_path: Path) -> None:
    from audio_highlights.engine._language import resolve_model_dir

    directory, _ = resolve_model_dir()
    settings = EngineSettings(
        data_dir=tmp_path, workers=1, recognizer="pocketsphinx", spacy_model=directory
    )
    assert settings.spacy_model == str(directory)
    async with open_engine(settings) as eng, asgi_client(eng.app) as c:
        data = (AUDIO / "river_cleanup.mp3").read_bytes()
        url = (await c.post("/v2/upload", content=data)).json()["upload_url"]
        body = {"audio_url": url, "auto_highlights": True}
        tid = (await c.post("/v2/transcript", json=body)).json()["id"]
        [done] = await wait_all(c, [tid])
    assert done["status"] == "completed", done["error"]
    assert done["auto_highlights_result"]["status"] == "success"
    assert done["auto_highlights_result"]["results"]


@pytest.mark.anyio
async def test_unusable_spacy_model_is_refused_at_start(tmp_path: Path) -> None:
    from audio_highlights.engine import LanguageModelUnavailable

    with pytest.raises(LanguageModelUnavailable, match="en_core_web_typo"):
        async with open_engine(
            data_dir=tmp_path, workers=1, recognizer="pocketsphinx", spacy_model="en_core_web_typo"
        ):
            pass


def test_serve_refuses_an_unusable_spacy_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data-dir", str(tmp_path), "--recognizer", "pocketsphinx"]
    assert main(["serve", *argv, "--spacy-model", "en_core_web_typo", "--port", "0"]) == 2
    assert "no spaCy model named 'en_core_web_typo'" in capsys.readouterr().err


@pytest.mark.anyio
async def test_missing_bundled_spacy_model_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audio_highlights.engine import _language

    monkeypatch.setattr(_language, "MODEL_PACKAGE", "en_core_web_sm_not_installed")
    with pytest.warns(RuntimeWarning, match="key phrases will be unavailable"):
        async with open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx") as eng:
            assert eng.recognizer == "pocketsphinx"
