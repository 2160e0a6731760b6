"""audio_highlights.fastapi: the completion hub, its webhook route and the FastAPI recipe.

The hub is tested against the fake API on asyncio and Trio; the recipe app runs under
uvicorn against the real engine (in-process, served over real HTTP), whose webhooks
wake the app's waits.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import audio_highlights as ah
from fakeserver import FakeServer, serve_fake

pytest.importorskip("fastapi")
from audio_highlights.fastapi import CompletionHub, webhook_router

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "audio" / "wildfires.mp3"
KEY = "hub-key"
NEVER = ah.PollSettings(initial=600, max_interval=600, timeout=900)  # fallback that never fires
FAST = ah.PollSettings(initial=0.05, multiplier=1.2, max_interval=0.1, timeout=30)


def transcript_gets(server: FakeServer, tid: str) -> int:
    return sum(r.method == "GET" and r.path == f"/v2/transcript/{tid}" for r in server.requests)


@asynccontextmanager
async def fake_client(**options: Any) -> AsyncIterator[tuple[FakeServer, ah.AsyncClient]]:
    async with (
        serve_fake(api_key=KEY, **options) as server,
        ah.AsyncClient(api_key=KEY, base_url=server.base_url) as client,
    ):
        yield server, client


# A webhook waking two waiters, with nothing polled meanwhile: test_timing.py (virtual clock).


async def test_webhook_before_wait_and_unknown_ids() -> None:
    hub = CompletionHub(fallback_polling=NEVER)
    async with fake_client(complete_after=0.0) as (_, client):
        job = await client.submit("https://example.com/a.mp3")
        assert not hub.notify(job.id, "completed")  # nobody waits yet: remembered
        assert not hub.notify(job.id + "x", "processing")
        with anyio.fail_after(5):
            assert (await hub.wait(client, job)).status is ah.TranscriptStatus.COMPLETED


async def test_fallback_polling_without_webhook_and_job_errors() -> None:
    hub = CompletionHub(fallback_polling=FAST)
    async with fake_client(complete_after=0.2) as (_, client):
        job = await client.submit("https://example.com/a.mp3")
        assert (await hub.wait(client, job.id)).status is ah.TranscriptStatus.COMPLETED
    async with fake_client(complete_after=0.2, fail_jobs=True) as (_, client):
        job = await client.submit("https://example.com/a.mp3")
        with pytest.raises(ah.JobFailedError):
            await hub.wait(client, job.id)
        job = await client.submit("https://example.com/b.mp3")
        hub2 = CompletionHub(fallback_polling=NEVER)
        async with anyio.create_task_group() as tg:

            async def wake() -> None:
                await anyio.sleep(0.4)
                hub2.notify(job.id, "error")

            tg.start_soon(wake)
            with pytest.raises(ah.JobFailedError):
                await hub2.wait(client, job.id)
    async with fake_client(complete_after=5) as (_, client):
        job = await client.submit("https://example.com/a.mp3")
        with pytest.raises(ah.JobTimeoutError):
            await hub.wait(client, job.id, timeout=0.3)


def test_auth_and_fields() -> None:
    hub = CompletionHub(auth_header_name="X-Hook", auth_header_value="s3cret")
    assert hub.is_authorized({"x-hook": "s3cret"})
    assert not hub.is_authorized({"x-hook": "s3cre"}) and not hub.is_authorized({})
    assert hub.webhook_fields("http://127.0.0.1:1/h") == {
        "webhook_url": "http://127.0.0.1:1/h",
        "webhook_auth_header_name": "X-Hook",
        "webhook_auth_header_value": "s3cret",
    }
    assert "s3cret" not in repr(hub)
    assert CompletionHub().is_authorized({})
    with pytest.raises(ah.UsageError):
        hub.webhook_fields("not a url")
    with pytest.raises(ah.UsageError):
        CompletionHub(auth_header_value="")


# ---------------------------------------------------------------- real HTTP, real engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto")
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(30):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, no event
                await anyio.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


def load_recipe() -> Any:
    spec = importlib.util.spec_from_file_location(
        "fastapi_recipe_app", ROOT / "examples" / "fastapi_app" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs on asyncio
async def test_recipe_app_end_to_end_woken_by_engine_webhooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("faster_whisper")
    requests = pytest.importorskip("requests")
    from audio_highlights.engine import open_engine

    seen: list[tuple[str, str]] = []

    def counting(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                seen.append((scope["method"], scope["path"]))
            await app(scope, receive, send)

        return wrapped

    async with (
        open_engine(data_dir=tmp_path / "engine", workers=1, webhook_allow_loopback=True) as engine,
        serve(counting(engine.app)) as engine_url,
    ):
        monkeypatch.setenv("ASSEMBLYAI_BASE_URL", engine_url)
        monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
        recipe = load_recipe()
        # The fallback poll would come only after 10 minutes: completion must come by webhook.
        recipe.hub._fallback = NEVER
        async with serve(recipe.app) as app_url:

            def post_file() -> Any:
                with SAMPLE.open("rb") as f:
                    r = requests.post(f"{app_url}/highlights", files={"file": f}, timeout=120)
                r.raise_for_status()
                return r.json()

            with anyio.fail_after(120):
                body = await anyio.to_thread.run_sync(post_file)
            assert any("air quality" in h["text"].lower() for h in body["highlights"])
            gets = [p for m, p in seen if m == "GET" and p == f"/v2/transcript/{body['id']}"]
            assert 1 <= len(gets) <= 2, seen  # the first look and the fetch after the webhook
            assert recipe.hub.webhooks_received >= 1

            # batch: ids at once, then each wait is woken by its webhook
            async with ah.AsyncClient(base_url=engine_url) as client:
                upload_url = await client.upload(SAMPLE)

            def batch_then_wait() -> list[Any]:
                r = requests.post(
                    f"{app_url}/batch", json={"audio_urls": [upload_url, upload_url]}, timeout=30
                )
                r.raise_for_status()
                ids = r.json()["ids"]
                assert len(ids) == 2 and len(set(ids)) == 2
                return [
                    requests.get(f"{app_url}/transcripts/{i}/highlights", timeout=120).json()
                    for i in ids
                ]

            with anyio.fail_after(180):
                results = await anyio.to_thread.run_sync(batch_then_wait)
            assert all(r["highlights"] for r in results)

            # the webhook route refuses a wrong secret and a bad body
            def bad_calls() -> tuple[int, int]:
                url = f"{app_url}/webhooks/assemblyai"
                wrong = requests.post(
                    url,
                    json={"transcript_id": "x", "status": "completed"},
                    headers={"X-Webhook-Secret": "nope"},
                    timeout=10,
                )
                secret = recipe.hub._header_value
                bad = requests.post(
                    url, json={"nope": 1}, headers={"X-Webhook-Secret": secret}, timeout=10
                )
                return wrong.status_code, bad.status_code

            assert await anyio.to_thread.run_sync(bad_calls) == (401, 400)


def test_router_is_an_api_router() -> None:
    from fastapi import APIRouter

    router = webhook_router(CompletionHub(), path="/hooks")
    assert isinstance(router, APIRouter)
    assert [getattr(r, "path", None) for r in router.routes] == ["/hooks"]
