"""Engine security: loopback by default, no public bind without a key, constant-time key
checks, capped bodies, and no id or file name that escapes the data directory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("starlette")
pytest.importorskip("pocketsphinx")
httpx2 = pytest.importorskip("httpx2")

from audio_highlights.cli import main  # noqa: E402
from audio_highlights.cli._serve import serve  # noqa: E402
from audio_highlights.engine import (  # noqa: E402
    EngineSettings,
    _app,
    _serve,
    open_engine,
)

BASE = "http://embedded.audio-highlights"
KEY = "engine-secret-9d8c7b6a"


def client_for(app: Any, **headers: str) -> Any:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE,
                              headers=headers, timeout=30)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_engine(data_dir=tmp_path / "data", workers=1, recognizer="pocketsphinx",
                           api_key=KEY, max_upload_bytes=50_000, max_json_bytes=5_000) as eng:
        yield eng


def test_binds_loopback_by_default() -> None:
    assert serve.make_context("serve", []).params["host"] == "127.0.0.1"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com",
                                  "127.0.0.1.nip.io"])
def test_public_bind_refused_without_key(
    host: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUDIO_HIGHLIGHTS_API_KEY", raising=False)
    assert main(["serve", "--host", host]) == 2
    assert "api key" in capsys.readouterr().err.lower()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_count_as_loopback(host: str) -> None:
    assert _serve.is_loopback(host)


def test_settings_repr_hides_key(tmp_path: Path) -> None:
    assert KEY not in repr(EngineSettings(data_dir=tmp_path, api_key=KEY))


@pytest.mark.anyio
async def test_key_compared_in_constant_time(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = _app.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(_app.hmac, "compare_digest", spy)
    async with client_for(engine.app) as c:
        for given, status in [(KEY, 200), (KEY[:-1], 401), (KEY + "x", 401), ("", 401),
                              ("Bearer " + KEY, 401), (KEY.upper(), 401)]:
            headers = {"authorization": given} if given else {}
            r = await c.get("/v2/transcript", headers=headers)
            assert r.status_code == status, given
            if status == 401:
                assert KEY not in r.text
    assert len(calls) == 5  # every non-empty key went through compare_digest


@pytest.mark.anyio
async def test_json_body_cap_without_content_length(engine: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"audio_url": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    async with client_for(engine.app, authorization=KEY) as c:
        r = await c.post("/v2/transcript", content=chunks(),
                         headers={"content-type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_user_cannot_name_the_upload_file() -> None:
    params = _app._check_params({"audio_url": "http://127.0.0.1/x",
                                 "_upload": "../../../etc/passwd"})
    assert "_upload" not in params


@pytest.mark.anyio
async def test_nothing_escapes_the_data_dir(engine: Any, tmp_path: Path) -> None:
    data_dir = engine.settings.data_dir
    before_outside = sorted(p.name for p in tmp_path.iterdir())
    async with client_for(engine.app, authorization=KEY) as c:
        with anyio.fail_after(30):
            # File names a client might try to slip in are ignored: the engine names uploads.
            r = await c.post("/v2/upload", content=b"not audio", headers={
                "content-disposition": 'attachment; filename="../../escape.mp3"',
                "x-filename": "../../escape.mp3",
            })
            assert r.status_code == 200
            upload_url = r.json()["upload_url"]
            name = upload_url.rsplit("/", 1)[1]
            assert len(name) == 32 and all(ch in "0123456789abcdef" for ch in name)
            # Ids and upload paths that try to climb out are refused or simply not found.
            for path in ("/v2/transcript/..%2F..%2Fjobs.sqlite3", "/v2/transcript/../upload",
                         "/v2/transcript/%2e%2e%2f%2e%2e%2fetc%2fpasswd/srt",
                         "/v2/upload/" + name):
                r = await c.get(path)
                assert r.status_code in (404, 405), (path, r.status_code)
            for audio_url in (f"{BASE}/v2/upload/../../../../etc/passwd",
                              f"{BASE}/v2/upload/..%2F..%2Fetc%2Fpasswd",
                              f"{BASE}/v2/upload/{name}/../../jobs.sqlite3",
                              f"{BASE}/v2/upload/{'0' * 32}"):
                r = await c.post("/v2/transcript", json={"audio_url": audio_url})
                assert r.status_code == 400, (audio_url, r.text)
            r = await c.post("/v2/transcript", json={"audio_url": upload_url,
                                                     "_upload": "../../../etc/passwd"})
            assert r.status_code == 200
            tid = r.json()["id"]
            while True:
                body = (await c.get(f"/v2/transcript/{tid}")).json()
                if body["status"] in ("completed", "error"):
                    break
                await anyio.sleep(0.1)
    # It read its own upload ("not audio"), not /etc/passwd, which it would not decode either.
    assert body["status"] == "error"
    assert sorted(p.name for p in tmp_path.iterdir()) == before_outside
    for root, _dirs, files in os.walk(data_dir):
        for f in files:
            assert Path(root, f).resolve().is_relative_to(data_dir.resolve())
