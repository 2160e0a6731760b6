"""The engine over real HTTP: httpx2, the raw ``requests`` recipe and the official SDK."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("av")
httpx2 = pytest.importorskip("httpx2")

from audio_highlights import Transcript, TranscriptStatus  # noqa: E402

from .conftest import AUDIO, Server, free_port, start_serve, stop_serve  # noqa: E402

# Real recognition (whisper, a ``serve`` process per session): the quick selection keeps
# only the first test, which starts ``serve`` with the light recognizer.
slow = pytest.mark.slow


def test_serve_as_a_user_starts_it(tmp_path: Any) -> None:
    """``audio-highlights serve`` answers a load balancer without the key, and the API with it."""
    port = free_port()
    proc = start_serve(tmp_path, port, "--recognizer", "pocketsphinx", "--api-key", "serve-key")
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            health = c.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            deadline = time.monotonic() + 60
            while (ready := c.get("/ready")).status_code != 200:
                assert ready.status_code == 503 and time.monotonic() < deadline, ready.text
                time.sleep(0.1)
            assert ready.json()["model"] == "loaded" and ready.json()["store"] == "writable"
            assert c.get("/v2/transcript").status_code == 401
            missing = c.get("/v2/transcript/not-an-id", headers={"authorization": "serve-key"})
            assert missing.status_code == 404 and "error" in missing.json()
    finally:
        stop_serve(proc)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Any]:
    with httpx2.Client(base_url=server.url, timeout=60) as c:
        yield c


def upload(client: Any, data: bytes) -> str:
    r = client.post(
        "/v2/upload", content=data, headers={"content-type": "application/octet-stream"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["upload_url"])


def wait(client: Any, transcript_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v2/transcript/{transcript_id}").json()
        if body["status"] in ("completed", "error"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.25)


@pytest.fixture(scope="module")
def wildfires(client: Any) -> dict[str, Any]:
    url = upload(client, (AUDIO / "wildfires.mp3").read_bytes())
    r = client.post(
        "/v2/transcript",
        json={
            "audio_url": url,
            "auto_highlights": True,
            "speech_models": ["universal-3-pro", "universal-2"],
            "some_future_field": 1,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("queued", "processing")
    return wait(client, r.json()["id"])


@slow
def test_job_completes_with_words_and_highlights(
    wildfires: dict[str, Any], references: dict[str, Any]
) -> None:
    t = Transcript.from_dict(wildfires)
    assert t.status is TranscriptStatus.COMPLETED, t.error
    assert "wildfires" in (t.text or "").lower()
    assert "air quality" in (t.text or "").lower()
    assert len(t.words) > 40
    starts = [w.start for w in t.words]
    assert starts == sorted(starts)
    assert all(isinstance(w.start, int) and w.end >= w.start for w in t.words)
    assert all(0 <= (w.confidence or 0) <= 1 for w in t.words)
    assert t.language_code == "en_us"
    assert wildfires["audio_duration"] == round(references["wildfires.mp3"]["duration_s"])
    assert 0 < (t.confidence or 0) <= 1
    assert wildfires["created"] and wildfires["completed"]
    for key in (
        "speech_model",
        "language_model",
        "acoustic_model",
        "webhook_auth",
        "redact_pii",
        "summarization",
        "language_confidence_threshold",
        "language_confidence",
    ):
        assert key in wildfires
    # Key phrases are computed in the worker, on spaCy (part of the engine extra).
    assert t.auto_highlights_result is not None
    assert t.auto_highlights_result.status == "success"
    texts = [h.text.lower() for h in t.highlights]
    assert any("air quality" in x for x in texts), texts
    for h in t.highlights:
        assert len(h.timestamps) == h.count


@slow
def test_sentences_paragraphs_captions_word_search(client: Any, wildfires: dict[str, Any]) -> None:
    tid = wildfires["id"]
    sentences = client.get(f"/v2/transcript/{tid}/sentences").json()
    assert len(sentences["sentences"]) == 4
    assert sentences["sentences"][1]["text"].startswith("Health officials")
    assert all(s["words"] for s in sentences["sentences"])
    paragraphs = client.get(f"/v2/transcript/{tid}/paragraphs").json()["paragraphs"]
    assert " ".join(p["text"] for p in paragraphs) == wildfires["text"]
    srt = client.get(f"/v2/transcript/{tid}/srt", params={"chars_per_caption": 40}).text
    assert srt.startswith("1\n00:00:00,")
    assert all(len(line) <= 40 for line in srt.splitlines())
    assert client.get(f"/v2/transcript/{tid}/vtt").text.startswith("WEBVTT")
    found = client.get(
        f"/v2/transcript/{tid}/word-search", params={"words": "air quality,smoke"}
    ).json()
    counts = {m["text"]: m["count"] for m in found["matches"]}
    assert counts == {"air quality": 2, "smoke": 2}
    assert found["total_count"] == 4
    assert client.get(f"/v2/transcript/{tid}/word-search").status_code == 400
    assert client.get(f"/v2/transcript/{tid}/docx").status_code == 404


@slow
def test_list_item_and_paging(client: Any, wildfires: dict[str, Any]) -> None:
    url = upload(client, b"not audio at all")
    ids = [client.post("/v2/transcript", json={"audio_url": url}).json()["id"] for _ in range(3)]
    page = client.get("/v2/transcript", params={"limit": 2}).json()
    assert [t["id"] for t in page["transcripts"]] == ids[::-1][:2]
    item = page["transcripts"][0]
    assert set(item) == {
        "id",
        "resource_url",
        "status",
        "created",
        "completed",
        "audio_url",
        "error",
    }
    assert item["resource_url"].endswith(f"/v2/transcript/{ids[2]}")
    details = page["page_details"]
    assert details["limit"] == 2 and details["result_count"] == 2
    assert details["next_url"] is None
    older = client.get(details["prev_url"]).json()
    assert [t["id"] for t in older["transcripts"]][:1] == [ids[0]]
    newer = client.get(older["page_details"]["next_url"]).json()
    assert [t["id"] for t in newer["transcripts"]] == ids[::-1][:2]
    for i in ids:
        wait(client, i)
    done = client.get("/v2/transcript", params={"status": "completed", "limit": 200}).json()
    assert wildfires["id"] in {t["id"] for t in done["transcripts"]}
    assert client.get("/v2/transcript", params={"limit": 0}).status_code == 400
    assert client.get("/v2/transcript", params={"limit": 201}).status_code == 400
    assert client.get("/v2/transcript", params={"status": "nope"}).status_code == 400


@slow
def test_undecodable_upload_is_a_job_error(client: Any) -> None:
    url = upload(client, b"\x00\x01 definitely not a media file " * 100)
    body = wait(client, client.post("/v2/transcript", json={"audio_url": url}).json()["id"])
    assert body["status"] == "error"
    assert "decod" in body["error"]


@slow
def test_empty_upload_is_a_job_error(client: Any) -> None:
    url = upload(client, b"")
    body = wait(client, client.post("/v2/transcript", json={"audio_url": url}).json()["id"])
    assert body["status"] == "error"
    assert "empty" in body["error"]


@slow
def test_silence_completes_empty(client: Any, silence_wav: Any) -> None:
    url = upload(client, silence_wav.read_bytes())
    body = wait(
        client,
        client.post("/v2/transcript", json={"audio_url": url, "auto_highlights": True}).json()[
            "id"
        ],
    )
    assert body["status"] == "completed", body["error"]
    assert body["text"] == ""
    assert body["words"] == []


@slow
def test_idempotency_key(client: Any) -> None:
    url = upload(client, (AUDIO / "river_cleanup.mp3").read_bytes())
    headers = {"Idempotency-Key": "key-123"}
    first = client.post("/v2/transcript", json={"audio_url": url}, headers=headers).json()
    second = client.post("/v2/transcript", json={"audio_url": url}, headers=headers).json()
    third = client.post("/v2/transcript", json={"audio_url": url}).json()
    assert first["id"] == second["id"] != third["id"]
    wait(client, first["id"])
    wait(client, third["id"])


@slow
def test_delete(client: Any) -> None:
    url = upload(client, (AUDIO / "river_cleanup.mp3").read_bytes())
    tid = client.post("/v2/transcript", json={"audio_url": url}).json()["id"]
    assert wait(client, tid)["status"] == "completed"
    deleted = client.delete(f"/v2/transcript/{tid}")
    assert deleted.status_code == 200
    assert deleted.json()["text"] == "Deleted by user."
    again = client.get(f"/v2/transcript/{tid}").json()
    assert again["text"] == "Deleted by user."
    assert again["words"] is None


@slow
@pytest.mark.parametrize(
    "path",
    [
        "/v2/transcript/00000000-0000-0000-0000-000000000000",
        "/v2/transcript/..%2F..%2Fetc%2Fpasswd",
        "/v2/transcript/not-an-id",
    ],
)
def test_unknown_id_is_404(client: Any, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert "error" in r.json()
    assert client.delete(path).status_code == 404


@slow
def test_requests_recipe(server: Server) -> None:
    # AssemblyAI's own "Identify highlights" recipe, unchanged but for the base URL.
    requests = pytest.importorskip("requests")
    with (AUDIO / "river_cleanup.mp3").open("rb") as f:
        upload_url = requests.post(f"{server.url}/v2/upload", data=f, timeout=30).json()[
            "upload_url"
        ]
    data = {
        "audio_url": upload_url,
        "speech_models": ["universal-3-pro", "universal-2"],
        "language_detection": True,
        "auto_highlights": True,
    }
    tid = requests.post(f"{server.url}/v2/transcript", json=data, timeout=30).json()["id"]
    deadline = time.monotonic() + 90
    while True:
        body = requests.get(f"{server.url}/v2/transcript/{tid}", timeout=30).json()
        if body["status"] in ("completed", "error"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.5)  # the recipe polls every 3 s; tests are impatient
    assert body["status"] == "completed", body["error"]
    assert "river" in body["text"].lower()
    assert body["language_code"] == "en"
    assert 0.5 < body["language_confidence"] <= 1
    highlights = body["auto_highlights_result"]["results"]
    assert any("plastic" in h["text"] for h in highlights), highlights


@slow
def test_official_sdk_everyday_config(server: Server) -> None:
    aai = pytest.importorskip("assemblyai")
    aai.settings.base_url = server.url
    aai.settings.api_key = "unused-locally"
    config = aai.TranscriptionConfig(
        language_detection=True,
        speaker_labels=True,
        audio_start_from=4800,
        word_boost=["river cleanup"],
        boost_param="high",
        filter_profanity=True,
        auto_highlights=True,
    )
    t = aai.Transcriber().transcribe(str(AUDIO / "river_cleanup.mp3"), config=config)
    assert t.status == aai.TranscriptStatus.completed, t.error
    assert t.json_response["language_code"] == "en"
    assert "river cleanup" in (t.text or "").lower()
    assert "volunteers" not in (t.text or "").lower()
    assert t.words and all(w.start >= 4800 for w in t.words)
    assert t.auto_highlights is not None
    assert any("plastic" in h.text for h in t.auto_highlights.results)


@slow
def test_official_sdk(server: Server) -> None:
    aai = pytest.importorskip("assemblyai")
    aai.settings.base_url = server.url
    aai.settings.api_key = "unused-locally"
    t = aai.Transcriber().transcribe(
        str(AUDIO / "heatwave.m4a"), config=aai.TranscriptionConfig(auto_highlights=True)
    )
    assert t.status == aai.TranscriptStatus.completed, t.error
    assert "europe" in (t.text or "").lower()
    assert t.words
    assert t.auto_highlights is not None
    sentences = t.get_sentences()
    assert len(sentences) == 3
    assert sentences[0].text.startswith("The")
    assert t.get_paragraphs()
    assert "-->" in t.export_subtitles_srt()
    assert t.export_subtitles_vtt().startswith("WEBVTT")
    [match] = t.word_search(["southern Europe"])
    assert match.count == 1


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []
    replies: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length))
        type(self).received.append((dict(self.headers), body))
        code = type(self).replies.pop(0) if type(self).replies else 200
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@slow
def test_webhook_delivered_with_auth_header(client: Any) -> None:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        _Hook.replies[:] = [503]  # first attempt fails, the retry succeeds
        url = upload(client, (AUDIO / "river_cleanup.mp3").read_bytes())
        tid = client.post(
            "/v2/transcript",
            json={
                "audio_url": url,
                "webhook_url": f"http://127.0.0.1:{hook.server_address[1]}/hook",
                "webhook_auth_header_name": "X-Secret",
                "webhook_auth_header_value": "s3cr3t",
            },
        ).json()["id"]
        wait(client, tid)
        deadline = time.monotonic() + 30
        while len(_Hook.received) < 2:
            assert time.monotonic() < deadline, _Hook.received
            time.sleep(0.1)
        headers, body = _Hook.received[-1]
        assert body == {"transcript_id": tid, "status": "completed"}
        assert headers.get("X-Secret") == "s3cr3t"
        deadline = time.monotonic() + 10
        while client.get(f"/v2/transcript/{tid}").json()["webhook_status_code"] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.get(f"/v2/transcript/{tid}").json()["webhook_auth"] is True
    finally:
        hook.shutdown()
        thread.join()


@slow
def test_kill_9_and_restart_finishes_every_job(tmp_path: Any) -> None:
    import os
    import signal

    from .conftest import free_port, start_serve

    port = free_port()
    proc = start_serve(tmp_path, port)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            url = upload(c, (AUDIO / "river_cleanup.mp3").read_bytes())
            ids = [c.post("/v2/transcript", json={"audio_url": url}).json()["id"] for _ in range(3)]
            deadline = time.monotonic() + 30
            while c.get(f"/v2/transcript/{ids[0]}").json()["status"] == "queued":
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        # kill -9 the whole session: server and its worker process.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = start_serve(tmp_path, port)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            bodies = [wait(c, i) for i in ids]
            assert [b["status"] for b in bodies] == ["completed"] * 3
            assert c.get(f"/v2/transcript/{ids[0]}").json()["words"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
