"""audio_highlights.fastapi: the completion hub, its webhook route and the FastAPI recipe.

The hub is tested against the fake API on asyncio and Trio; the recipe app runs under
uvicorn against the real engine (in-process, served over real HTTP), whose webhooks
wake the app's waits.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import audio_highlights as ah
from fakeserver import FakeServer, serve_fake

pytest.importorskip("fastapi")
from audio_highlights.fastapi import (
    ERROR_STATUS,
    CompletionHub,
    error_response,
    install_exception_handlers,
    webhook_router,
)

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


# ---------------------------------------------------------------- the SDK's errors as answers


@pytest.fixture(scope="module")
def recipe_offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The recipe app under FastAPI's test client, on the embedded engine (nothing configured).

    One app (one engine, its models loaded once) serves every test of this module.
    """
    pytest.importorskip("faster_whisper")
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ASSEMBLYAI_API_KEY", raising=False)
        mp.delenv("ASSEMBLYAI_BASE_URL", raising=False)
        mp.setenv("AUDIO_HIGHLIGHTS_DATA_DIR", str(tmp_path_factory.mktemp("engine")))
        # One recognition worker (the default is one per core): the test processes
        # already take the cores, and a second model load would only wait for them.
        one_worker = functools.partial(ah.AsyncClient.embedded, workers=1)
        mp.setattr(ah.AsyncClient, "embedded", one_worker)
        with TestClient(load_recipe().app) as client:
            yield client


def test_recipe_returns_the_highlights_of_real_speech(recipe_offline: Any) -> None:
    """The recipe end to end on the offline engine: real recognition of a five-second clip."""
    clip = (ROOT / "examples" / "audio" / "river_cleanup.mp3").read_bytes()[:30_000]
    r = recipe_offline.post("/highlights", files={"file": ("river.mp3", clip)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] and 4 < body["audio_duration"] < 6
    texts = [h["text"].lower() for h in body["highlights"]]
    assert any("plastic" in t or "river" in t for t in texts), texts
    # The transcript it made is there to fetch again.
    again = recipe_offline.get(f"/transcripts/{body['id']}/highlights")
    assert again.status_code == 200 and again.json()["highlights"] == body["highlights"]


def test_recipe_answers_undecodable_audio_with_422(recipe_offline: Any) -> None:
    r = recipe_offline.post("/highlights", files={"file": ("notes.txt", b"just some notes\n")})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"] == "JobFailedError" and body["transcript_id"]
    assert "not a decodable audio or video file" in body["detail"]
    assert "uploads" not in body["detail"] and "/tmp" not in body["detail"]  # no server path


def test_recipe_answers_an_empty_upload_with_422(recipe_offline: Any) -> None:
    r = recipe_offline.post("/highlights", files={"file": ("empty.mp3", b"")})
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "SourceError"


def test_recipe_answers_a_refused_url_with_400(recipe_offline: Any) -> None:
    # The engine refuses the cloud metadata address at submit, before sending anything to it.
    r = recipe_offline.post("/batch", json={"audio_urls": ["http://169.254.169.254/latest/x"]})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "BadRequestError"
    assert "169.254.169.254" in body["detail"] and "not allowed" in body["detail"]


def test_recipe_answers_an_unknown_transcript_with_404(recipe_offline: Any) -> None:
    r = recipe_offline.get("/transcripts/nope/highlights")
    assert r.status_code == 404, r.text
    assert r.json()["type"] == "NotFoundError"
    # the caller is told what went wrong, not where this service's API lives
    assert r.json()["detail"] == "404: Transcript lookup error, transcript id not found"


def test_the_upstream_request_is_logged_not_answered(caplog: pytest.LogCaptureFixture) -> None:
    upstream = "http://10.0.0.5:8000/v2/transcript"
    failures = [
        ah.ServerError("down", status_code=503, request_id="r-9", method="POST", url=upstream),
        ah.APIConnectionError(f"GET {upstream} failed: ConnectError: refused", method="GET",
                              url=upstream),
    ]
    failures += [
        ah.APIResponseError("the response is not JSON: '<html>'", status_code=200,
                            method="GET", url=upstream),
        ah.ResponseTooLargeError("the body grew past 64 MiB", status_code=200, limit=1,
                                 method="GET", url=upstream),
        ah.APITimeoutError(f"GET {upstream} did not complete within request_timeout (120 s)",
                           method="GET", url=upstream),
    ]
    details = [json.loads(bytes(error_response(e).body))["detail"] for e in failures]
    assert details == [
        "503: down (request id r-9)",
        "ConnectError: refused",
        "the response is not JSON: '<html>'",
        "the body grew past 64 MiB",
        "did not complete within request_timeout (120 s)",
    ]
    assert not any("10.0.0.5" in d for d in details)

    from fastapi.testclient import TestClient

    async def route() -> Any:
        raise failures[0]

    with caplog.at_level("WARNING", logger="audio_highlights.fastapi"):
        assert TestClient(small_app(route)).get("/").status_code == 502
    assert upstream in caplog.text  # the operator still sees which request failed


def small_app(route: Callable[[], Awaitable[Any]]) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    app.get("/")(route)
    install_exception_handlers(app)
    return app


def test_connection_failure_is_502_under_its_public_name() -> None:
    from fastapi.testclient import TestClient

    async def route() -> Any:
        # Nothing listens on a port just freed: the connection is refused.
        url = f"http://127.0.0.1:{free_port()}"
        async with ah.AsyncClient(api_key=KEY, base_url=url, max_retries=0) as client:
            return await client.get("abc")

    r = TestClient(small_app(route)).get("/")
    assert r.status_code == 502
    assert r.json()["type"] == "APIConnectionError"  # never an internal marker class


def test_job_timeout_is_504_with_the_job_id() -> None:
    from fastapi.testclient import TestClient

    api: dict[str, str] = {}

    async def route() -> Any:
        async with ah.AsyncClient(api_key=KEY, base_url=api["url"]) as client:
            job = await client.submit("https://example.com/a.mp3")
            return await client.wait(job.id, timeout=0.2)

    with (
        TestClient(small_app(route)) as tc,
        tc.portal.wrap_async_context_manager(serve_fake(api_key=KEY, complete_after=30)) as server,
    ):
        api["url"] = server.base_url
        r = tc.get("/")
    assert r.status_code == 504
    body = r.json()
    assert body["type"] == "JobTimeoutError" and body["transcript_id"]
    assert "wait() on its id to resume" in body["detail"]


def status_error(cls: type[ah.APIStatusError], status: int, **kw: Any) -> ah.APIStatusError:
    return cls("upstream says no", status_code=status, request_id="req-1", **kw)


@pytest.mark.parametrize(
    ("error", "status", "name"),
    [
        (ah.SourceError("empty"), 422, "SourceError"),
        (status_error(ah.NotFoundError, 404), 404, "NotFoundError"),
        (status_error(ah.BadRequestError, 400), 400, "BadRequestError"),
        (status_error(ah.BadRequestError, 413), 413, "BadRequestError"),
        (status_error(ah.BadRequestError, 409), 400, "BadRequestError"),
        (status_error(ah.AuthenticationError, 401), 502, "AuthenticationError"),
        (status_error(ah.PermissionDeniedError, 403), 502, "PermissionDeniedError"),
        (status_error(ah.ServerError, 503), 502, "ServerError"),
        (ah.APIResponseError("html", status_code=200), 502, "APIResponseError"),
        (ah.APIConnectionError("reset"), 502, "APIConnectionError"),
        (ah.APITimeoutError("read timeout"), 504, "APITimeoutError"),
        (ah.JobTimeoutError("t-1", None, 5), 504, "JobTimeoutError"),
        (ah.UploadError("source broke"), 502, "UploadError"),
        (ah.UsageError("bad option"), 500, "UsageError"),
    ],
)
def test_every_error_class_has_its_status(
    error: ah.AudioHighlightsError, status: int, name: str
) -> None:
    response = error_response(error)
    assert response.status_code == status
    body = json.loads(bytes(response.body))
    assert body["type"] == name and body["detail"] == str(error)
    if isinstance(error, ah.APIStatusError):
        assert body["request_id"] == "req-1"


def test_rate_limit_is_503_with_retry_after_and_the_table_covers_every_error() -> None:
    response = error_response(status_error(ah.RateLimitError, 429, retry_after=2.5))
    assert response.status_code == 503 and response.headers["retry-after"] == "3"
    errors = {getattr(ah, n) for n in ah.__all__ if n.endswith("Error")}
    assert errors == set(ERROR_STATUS)
