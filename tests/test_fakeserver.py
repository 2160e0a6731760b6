"""Self-tests for the fake AssemblyAI server, on asyncio and trio."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest

from fakeserver import FAILED_JOB_ERROR, Fault, serve_fake

pytestmark = pytest.mark.anyio

AUDIO = b"RIFF" + bytes(range(256)) * 400  # ~100 KB, several socket reads


async def _chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _wait_status(client: httpx2.AsyncClient, tid: str, want: str) -> dict:
    with anyio.fail_after(5):
        while True:
            body = (await client.get(f"/v2/transcript/{tid}")).json()
            if body["status"] == want:
                return body
            await anyio.sleep(0.02)


async def test_upload_content_length_and_chunked() -> None:
    async with serve_fake(api_key="k", keep_uploads=True) as server:
        async with httpx2.AsyncClient(
            base_url=server.base_url, headers={"authorization": "k"}
        ) as c:
            r1 = await c.post("/v2/upload", content=AUDIO)
            r2 = await c.post("/v2/upload", content=_chunks(AUDIO))
            empty = await c.post("/v2/upload", content=b"")
        assert r1.status_code == r2.status_code == 200
        assert r1.headers["x-request-id"]
        assert r1.json()["upload_url"].startswith(f"{server.base_url}/files/")
        assert empty.status_code == 400
        assert "error" in empty.json()
        first, second = server.uploads
        assert first.size == second.size == len(AUDIO)
        assert first.sha256 == second.sha256 == hashlib.sha256(AUDIO).hexdigest()
        assert (first.chunked, first.content_length) == (False, str(len(AUDIO)))
        assert (second.chunked, second.content_length) == (True, None)
        assert second.body == AUDIO
        assert server.connections == 1  # keep-alive reused the one connection


async def test_auth_required() -> None:
    async with serve_fake(api_key="secret") as server:
        async with httpx2.AsyncClient(base_url=server.base_url) as c:
            r = await c.get("/v2/transcript", headers={"authorization": "Bearer secret"})
        assert r.status_code == 401
        assert r.json() == {"error": "Authentication error, API token missing/invalid"}


async def test_create_get_complete_with_highlights() -> None:
    async with serve_fake(complete_after=0.1) as server:
        async with httpx2.AsyncClient(base_url=server.base_url) as c:
            r = await c.post(
                "/v2/transcript",
                json={"audio_url": "https://x/a.mp3", "auto_highlights": True, "custom": 1},
            )
            assert r.status_code == 200
            job = r.json()
            assert job["status"] == "queued"
            assert job["language_code"] == "en_us"
            assert job["custom"] == 1
            done = await _wait_status(c, job["id"], "completed")
            assert done["text"].startswith("Smoke from hundreds")
            assert done["words"][0] == {
                "text": "Smoke",
                "start": 250,
                "end": 650,
                "confidence": 0.98,
                "speaker": None,
            }
            hl = done["auto_highlights_result"]
            assert hl["status"] == "success"
            assert hl["results"][0] == {
                "count": 1,
                "rank": 0.08,
                "text": "air quality alerts",
                "timestamps": [{"start": 3978, "end": 5114}],
            }
            bad = await c.post("/v2/transcript", content=b"{not json")
            missing = await c.post("/v2/transcript", json={"auto_highlights": True})
            assert bad.status_code == missing.status_code == 400
            assert "audio_url" in missing.json()["error"]
            gone = await c.get("/v2/transcript/nope")
            assert gone.status_code == 404
            deleted = (await c.delete(f"/v2/transcript/{job['id']}")).json()
            assert deleted["text"] == "Deleted by user."
            assert deleted["words"] == []
        assert server.created_jobs == 1


async def test_failed_job_and_400_not_found_style() -> None:
    async with (
        serve_fake(complete_after=0.05, not_found_style="400") as server,
        httpx2.AsyncClient(base_url=server.base_url) as c,
    ):
        job = (await c.post("/v2/transcript", json={"audio_url": "https://x/fail.mp3"})).json()
        failed = await _wait_status(c, job["id"], "error")
        assert failed["error"] == FAILED_JOB_ERROR
        r = await c.get("/v2/transcript/nope")
        assert r.status_code == 400
        assert "not found" in r.json()["error"]


async def test_idempotency_key() -> None:
    async with serve_fake() as server:
        async with httpx2.AsyncClient(base_url=server.base_url) as c:
            body = {"audio_url": "https://x/a.mp3"}
            a = await c.post("/v2/transcript", json=body, headers={"Idempotency-Key": "abc"})
            b = await c.post("/v2/transcript", json=body, headers={"Idempotency-Key": "abc"})
            d = await c.post("/v2/transcript", json=body)
        assert a.json()["id"] == b.json()["id"] != d.json()["id"]
        assert server.created_jobs == 2
        assert server.requests[0].headers["idempotency-key"] == "abc"


async def test_list_paging() -> None:
    async with serve_fake() as server, httpx2.AsyncClient(base_url=server.base_url) as c:
        ids = [
            (await c.post("/v2/transcript", json={"audio_url": f"https://x/{i}"})).json()["id"]
            for i in range(5)
        ]
        seen: list[str] = []
        url: str | None = "/v2/transcript?limit=2"
        while url:
            page = (await c.get(url)).json()
            seen += [t["id"] for t in page["transcripts"]]
            url = page["page_details"]["prev_url"]
        assert seen == ids[::-1]  # newest first, walking to older pages
        first = (await c.get("/v2/transcript?limit=2")).json()["page_details"]
        assert first["next_url"] is None
        assert first["result_count"] == 2
        older = (await c.get(f"/v2/transcript?limit=2&before_id={ids[2]}")).json()
        assert [t["id"] for t in older["transcripts"]] == [ids[1], ids[0]]
        newer = (await c.get(older["page_details"]["next_url"])).json()
        assert [t["id"] for t in newer["transcripts"]] == [ids[3], ids[2]]
        assert (await c.get("/v2/transcript?limit=0")).status_code == 400


async def test_faults() -> None:
    async with serve_fake() as server:
        server.faults += [
            Fault(
                method="GET",
                path="/v2/transcript",
                status=429,
                headers={"Retry-After": "1"},
                body={"error": "Too many requests"},
                times=2,
            ),
            Fault(path="/v2/upload", kind="close_mid_body", after_bytes=10_000),
            Fault(method="GET", path="/v2/transcript", status=200, body=b'{"id": "x", "stat'),
            Fault(method="GET", kind="close"),
            Fault(method="GET", kind="stall", seconds=1.0),
        ]
        async with httpx2.AsyncClient(base_url=server.base_url) as c:
            for _ in range(2):
                r = await c.get("/v2/transcript")
                assert r.status_code == 429
                assert r.headers["retry-after"] == "1"
            with pytest.raises(httpx2.TransportError):
                await c.post("/v2/upload", content=_chunks(AUDIO))
            assert (await c.get("/v2/transcript")).content == b'{"id": "x", "stat'
            with pytest.raises(httpx2.TransportError):
                await c.get("/v2/transcript")
            with pytest.raises(httpx2.ReadTimeout):
                await c.get("/v2/transcript", timeout=0.2)
            assert (await c.get("/v2/transcript")).status_code == 200
        assert server.uploads == []
        assert all(f.hits == f.times for f in server.faults)


async def test_many_concurrent_connections() -> None:
    async with serve_fake() as server:
        limits = httpx2.Limits(max_connections=50)
        async with httpx2.AsyncClient(base_url=server.base_url, limits=limits) as c:
            results: list[int] = []

            async def one(i: int) -> None:
                r = await c.post("/v2/transcript", json={"audio_url": f"https://x/{i}"})
                results.append(r.status_code)

            async with anyio.create_task_group() as tg:
                for i in range(100):
                    tg.start_soon(one, i)
        assert results == [200] * 100
        assert server.created_jobs == 100


async def test_body_errors_are_not_wrapped_and_cancellation_passes() -> None:
    with pytest.raises(KeyError):
        async with serve_fake():
            raise KeyError("from the test body")
    with anyio.move_on_after(0.1) as scope:
        async with serve_fake() as server, httpx2.AsyncClient(base_url=server.base_url) as c:
            await c.get("/v2/transcript")
            await anyio.sleep(5)
    assert scope.cancelled_caught
