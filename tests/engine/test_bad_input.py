"""Bad input to the engine, one table: a 4xx with a message, or a job error with one.

Never a 500, never a hang: every case runs in-process (httpx2's ASGI transport, as
tests/engine/test_inprocess.py does) inside ``anyio.fail_after``.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("starlette")
pytest.importorskip("av")
pytest.importorskip("pocketsphinx")
httpx2 = pytest.importorskip("httpx2")

from audio_highlights.engine import open_engine  # noqa: E402

from .conftest import AUDIO  # noqa: E402

BASE = "http://embedded.audio-highlights"
MAX_UPLOAD = 60_000
MAX_JSON = 20_000


def wav(seconds: float, amplitude: int = 0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<h", int(amplitude * math.sin(i / 8)))
                               for i in range(int(16000 * seconds))))
    return buf.getvalue()


@dataclass
class Req:
    """One bad request and the 4xx it must get, with text its ``error`` must hold."""

    id: str
    method: str
    path: str
    status: int
    match: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


UPLOAD = "{upload}"  # replaced by a real upload URL of this engine

REQUESTS: list[Req] = [
    Req("malformed-json", "POST", "/v2/transcript", 400, "JSON", content=b"{not json"),
    Req("not-utf8-json", "POST", "/v2/transcript", 400, "JSON", content=b'{"a": "\xff"}'),
    Req("empty-body", "POST", "/v2/transcript", 400, "JSON", content=b""),
    Req("json-array", "POST", "/v2/transcript", 400, "JSON object", json=[1, 2]),
    Req("json-string", "POST", "/v2/transcript", 400, "JSON object", json="audio"),
    Req("deeply-nested-json", "POST", "/v2/transcript", 400, "JSON",
        content=b"[" * 5000 + b"]" * 5000),
    Req("json-over-limit", "POST", "/v2/transcript", 413, "too large",
        json={"audio_url": UPLOAD, "pad": "x" * MAX_JSON}),
    Req("missing-audio-url", "POST", "/v2/transcript", 400, "audio_url", json={}),
    Req("audio-url-number", "POST", "/v2/transcript", 400, "audio_url", json={"audio_url": 5}),
    Req("audio-url-blank", "POST", "/v2/transcript", 400, "audio_url", json={"audio_url": " "}),
    Req("flag-wrong-type", "POST", "/v2/transcript", 400, "auto_highlights",
        json={"audio_url": UPLOAD, "auto_highlights": "yes"}),
    Req("speech-models-wrong-type", "POST", "/v2/transcript", 400, "speech_models",
        json={"audio_url": UPLOAD, "speech_models": "best"}),
    Req("language-code-wrong-type", "POST", "/v2/transcript", 400, "language_code",
        json={"audio_url": UPLOAD, "language_code": 7}),
    Req("language-unsupported", "POST", "/v2/transcript", 400, "language_code",
        json={"audio_url": UPLOAD, "language_code": "xx_klingon"}),
    Req("english-only-feature", "POST", "/v2/transcript", 400, "auto_highlights",
        json={"audio_url": UPLOAD, "language_code": "de", "auto_highlights": True}),
    Req("unsupported-feature", "POST", "/v2/transcript", 400, "redact_pii",
        json={"audio_url": UPLOAD, "redact_pii": True}),
    Req("unsupported-feature-2", "POST", "/v2/transcript", 400, "sentiment_analysis",
        json={"audio_url": UPLOAD, "sentiment_analysis": True}),
    Req("speakers-expected-not-int", "POST", "/v2/transcript", 400, "speakers_expected",
        json={"audio_url": UPLOAD, "speaker_labels": True, "speakers_expected": "two"}),
    Req("speaker-options-min-over-max", "POST", "/v2/transcript", 400, "min_speakers_expected",
        json={"audio_url": UPLOAD, "speaker_labels": True,
              "speaker_options": {"min_speakers_expected": 3, "max_speakers_expected": 2}}),
    Req("webhook-not-http", "POST", "/v2/transcript", 400, "webhook_url",
        json={"audio_url": UPLOAD, "webhook_url": "ftp://x/y"}),
    Req("webhook-unparsable", "POST", "/v2/transcript", 400, "webhook_url",
        json={"audio_url": UPLOAD, "webhook_url": "http://[::1"}),
    Req("idempotency-key-too-long", "POST", "/v2/transcript", 400, "Idempotency-Key",
        json={"audio_url": UPLOAD}, headers={"idempotency-key": "k" * 300}),
    # SSRF: the engine fetches nothing but its own uploads unless told otherwise.
    Req("file-url", "POST", "/v2/transcript", 400, "scheme",
        json={"audio_url": "file:///etc/passwd"}),
    Req("loopback-url", "POST", "/v2/transcript", 400, "not allowed",
        json={"audio_url": "http://127.0.0.1:8000/a.mp3"}),
    Req("metadata-url", "POST", "/v2/transcript", 400, "not allowed",
        json={"audio_url": "http://169.254.169.254/latest/meta-data"}),
    Req("private-range-url", "POST", "/v2/transcript", 400, "not allowed",
        json={"audio_url": "http://192.168.1.10/a.mp3"}),
    Req("decimal-ip-url", "POST", "/v2/transcript", 400, "not allowed",
        json={"audio_url": "http://2130706433/a.mp3"}),
    Req("credentials-url", "POST", "/v2/transcript", 400, "audio_url",
        json={"audio_url": "http://user:pw@example.com/a.mp3"}),
    Req("unparsable-url", "POST", "/v2/transcript", 400, "audio_url",
        json={"audio_url": "http://[::1/a.mp3"}),
    Req("bad-port-url", "POST", "/v2/transcript", 400, "audio_url",
        json={"audio_url": "http://example.com:99999/a.mp3"}),
    Req("forged-upload-other-host", "POST", "/v2/transcript", 400, "audio_url",
        json={"audio_url": "http://10.9.9.9/v2/upload/" + "0" * 32}),
    Req("upload-over-limit", "POST", "/v2/upload", 413, "limit", content=b"x" * (MAX_UPLOAD + 1)),
    Req("unknown-id", "GET", "/v2/transcript/no-such-id", 404, "not found"),
    Req("unicode-id", "GET", "/v2/transcript/%E2%98%83" * 3, 404, "not found"),
    Req("very-long-id", "GET", "/v2/transcript/" + "a" * 5000, 404, "not found"),
    Req("traversal-id", "GET", "/v2/transcript/..%2F..%2Fetc%2Fpasswd", 404, "not found"),
    Req("delete-unknown", "DELETE", "/v2/transcript/nope", 404, "not found"),
    Req("list-bad-limit", "GET", "/v2/transcript?limit=abc", 400, "limit"),
    Req("list-limit-zero", "GET", "/v2/transcript?limit=0", 400, "limit"),
    Req("list-bad-status", "GET", "/v2/transcript?status=done", 400, "status"),
    Req("list-bad-date", "GET", "/v2/transcript?created_on=yesterday", 400, "created_on"),
    Req("list-unknown-cursor", "GET", "/v2/transcript?before_id=nope", 400, "before_id"),
    Req("sentences-unknown", "GET", "/v2/transcript/nope/sentences", 404, "not found"),
    Req("srt-unknown", "GET", "/v2/transcript/nope/srt", 404, "not found"),
]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx",
                           max_upload_bytes=MAX_UPLOAD, max_json_bytes=MAX_JSON) as eng:
        yield eng


def client_for(engine: Any) -> Any:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=engine.app), base_url=BASE,
                              timeout=30)


def fill(value: Any, upload_url: str) -> Any:
    if isinstance(value, dict):
        return {k: fill(v, upload_url) for k, v in value.items()}
    return upload_url if value == UPLOAD else value


@pytest.mark.anyio
@pytest.mark.parametrize("req", REQUESTS, ids=[r.id for r in REQUESTS])
async def test_bad_request_is_4xx_with_message(engine: Any, req: Req) -> None:
    async with client_for(engine) as c:
        with anyio.fail_after(20):
            upload_url = (await c.post("/v2/upload", content=b"abc")).json()["upload_url"]
            headers = dict(req.headers)
            if req.content is not None:
                headers.setdefault("content-type", "application/json")
            r = await c.request(req.method, req.path, json=fill(req.json, upload_url)
                                if req.content is None and req.json is not None else None,
                                content=req.content, headers=headers)
    assert r.status_code == req.status, r.text
    message = r.json()["error"]
    assert req.match.lower() in message.lower(), message
    # Nothing half-written is left behind by a refused upload.
    assert list(engine.settings.tmp_dir.iterdir()) == []


async def _chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 1000):
        yield b"x" * 1000


@pytest.mark.anyio
async def test_streamed_upload_over_limit_is_413(engine: Any) -> None:
    async with client_for(engine) as c:
        with anyio.fail_after(20):
            r = await c.post("/v2/upload", content=_chunks(MAX_UPLOAD + 5000))
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert list(engine.settings.uploads_dir.iterdir()) == []
    assert list(engine.settings.tmp_dir.iterdir()) == []


# Uploads the engine accepts but cannot transcribe: the job ends in ``error`` with a message
# (the API's contract), or, for silence, completes with no words.
JOB_INPUTS: list[tuple[str, bytes, str]] = [
    ("not-audio", b"this is a text file, not audio\n" * 20, "error"),
    ("zero-byte-upload", b"", "error"),
    ("truncated-mp3", (AUDIO / "river_cleanup.mp3").read_bytes()[:600], "any"),
    ("mp3-header-only", (AUDIO / "river_cleanup.mp3").read_bytes()[:40], "error"),
    ("zero-second-wav", wav(0), "any"),
    ("silence", wav(1.5), "completed"),
    ("random-bytes", bytes(range(256)) * 40, "error"),
]


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(("data", "expect"), [(d, e) for _, d, e in JOB_INPUTS],
                         ids=[i for i, _, _ in JOB_INPUTS])
async def test_unusable_audio_ends_in_a_clear_state(engine: Any, data: bytes, expect: str) -> None:
    async with client_for(engine) as c:
        with anyio.fail_after(60):
            r = await c.post("/v2/upload", content=data)
            assert r.status_code == 200, r.text
            r = await c.post("/v2/transcript", json={"audio_url": r.json()["upload_url"],
                                                     "auto_highlights": True})
            assert r.status_code == 200, r.text
            tid = r.json()["id"]
            while True:
                body = (await c.get(f"/v2/transcript/{tid}")).json()
                if body["status"] in ("completed", "error"):
                    break
                await anyio.sleep(0.1)
    if expect != "any":
        assert body["status"] == expect, body
    if body["status"] == "error":
        assert isinstance(body["error"], str) and len(body["error"]) > 10, body
    else:
        assert body["error"] is None
        assert isinstance(body["words"], list)
        # (Pocketsphinx may still "hear" a word in digital silence; whisper hears none, see
        # test_http.py::test_silence_completes_empty. What matters here: no error, no hang.)


def test_at_least_25_cases() -> None:
    assert len(REQUESTS) + len(JOB_INPUTS) >= 25
