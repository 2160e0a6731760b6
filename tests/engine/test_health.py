"""``GET /health`` and ``GET /ready``: what a load balancer asks, without the API key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("starlette")
pytest.importorskip("pocketsphinx")
httpx2 = pytest.importorskip("httpx2")

from audio_highlights.engine import open_engine  # noqa: E402

pytestmark = pytest.mark.anyio
KEY = "health-check-key-1234"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Any]:
    async with (
        open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx", api_key=KEY) as eng,
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=eng.app), base_url="http://engine", timeout=30
        ) as c,
    ):
        yield c


async def ready(client: Any) -> Any:
    with anyio.fail_after(60):
        while (r := await client.get("/ready")).status_code != 200:
            assert r.status_code == 503 and r.json()["model"] == "loading", r.text
            await anyio.sleep(0.1)
    return r


async def test_liveness_needs_no_key_and_the_api_still_does(client: Any) -> None:
    for path in ("/health", "/"):
        r = await client.get(path)
        assert r.status_code == 200 and r.json()["status"] == "ok"
    assert (await client.get("/v2/transcript")).status_code == 401


async def test_ready_once_the_model_is_loaded_and_the_store_writable(client: Any) -> None:
    body = (await ready(client)).json()
    assert body["status"] == "ready" and body["model"] == "loaded"
    assert body["store"] == "writable" and body["workers"] == {"ready": 1, "total": 1}
    assert body["recognizer"] == "pocketsphinx"


async def test_not_ready_when_the_job_store_is_gone(client: Any, tmp_path: Path) -> None:
    await ready(client)
    (tmp_path / "engine.sqlite3").unlink()  # a cache cleaner, under the running engine
    r = await client.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["store"] == "gone" and "job store is gone" in body["error"]
    assert str(tmp_path) not in r.text  # no server path for an unauthenticated caller
    assert (await client.get("/health")).status_code == 200  # alive all the same
