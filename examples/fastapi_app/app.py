"""A FastAPI service that returns highlights, woken by the API's webhooks.

Run it (the API is the hosted one with ASSEMBLYAI_API_KEY, or any engine at
ASSEMBLYAI_BASE_URL, e.g. ``audio-highlights serve``):

    WEBHOOK_SECRET=$(python -c "import secrets; print(secrets.token_urlsafe(32))") \
    PUBLIC_URL=https://my-service.example \
    uvicorn app:app --app-dir examples/fastapi_app

``PUBLIC_URL`` is how the API reaches this service (defaults to the URL the
request came in on, right for a local engine). With neither variable set, the
app runs the offline engine in its own process (the ``engine`` extra) and
polls it, as no webhook is needed there.

The SDK's errors are answered as JSON with a fitting status (422 for audio
that cannot be transcribed, 400 for a URL the API refuses, 404 for an unknown
id, 502/504 when the API fails or times out) by ``install_exception_handlers``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, UploadFile
from pydantic import BaseModel

import audio_highlights as ah
from audio_highlights.fastapi import (
    WEBHOOK_ROUTE_NAME,
    CompletionHub,
    install_exception_handlers,
    webhook_router,
)

# One hub per app: the webhook route wakes the waiters registered here.
hub = CompletionHub(
    auth_header_name="X-Webhook-Secret",
    auth_header_value=os.environ.get("WEBHOOK_SECRET") or secrets.token_urlsafe(32),
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client (one connection pool) for the whole app, closed on shutdown.
    opened: AbstractAsyncContextManager[ah.AsyncClient]
    if os.environ.get("ASSEMBLYAI_API_KEY") or os.environ.get("ASSEMBLYAI_BASE_URL"):
        opened = ah.AsyncClient()
        app.state.webhooks = True
    else:
        # Nothing configured: the offline engine, in this process. Polling it
        # costs no request over the network, so no webhook is needed.
        opened = ah.AsyncClient.embedded()
        app.state.webhooks = False
    async with opened as client:
        app.state.client = client
        yield


app = FastAPI(title="audio-highlights service", lifespan=lifespan)
app.include_router(webhook_router(hub))
# JobFailedError -> 422, NotFoundError -> 404, BadRequestError -> 400, ... as JSON.
install_exception_handlers(app)


def get_client(request: Request) -> ah.AsyncClient:
    """The app's shared client, as a dependency."""
    client: ah.AsyncClient = request.app.state.client
    return client


Client = Annotated[ah.AsyncClient, Depends(get_client)]


def webhook_url(request: Request) -> str:
    """Where the API should post completions."""
    public = os.environ.get("PUBLIC_URL")
    path = request.app.url_path_for(WEBHOOK_ROUTE_NAME)
    return public.rstrip("/") + path if public else str(request.url_for(WEBHOOK_ROUTE_NAME))


def completion_fields(request: Request) -> dict[str, Any]:
    """Submit fields that make the API call our webhook (none for the in-process engine)."""
    return hub.webhook_fields(webhook_url(request)) if request.app.state.webhooks else {}


async def finished(request: Request, client: ah.AsyncClient, job: str) -> ah.Transcript:
    """Wait for a job: woken by its webhook, or by polling the in-process engine."""
    if request.app.state.webhooks:
        return await hub.wait(client, job, timeout=3600)
    return await client.wait(job, timeout=3600)


def summary(t: ah.Transcript) -> dict[str, Any]:
    """The response body: the transcript id and its key phrases."""
    return {
        "id": t.id,
        "audio_duration": t.audio_duration,
        "highlights": [h.to_dict() for h in t.highlights],
    }


@app.post("/highlights")
async def highlights(file: UploadFile, request: Request, client: Client) -> dict[str, Any]:
    """Upload one file, wait (woken by the webhook) and return its key phrases."""
    # The spooled temporary file is seekable, so a retried upload restarts at byte 0.
    upload_url = await client.upload(file.file)
    job = await client.submit(upload_url, **completion_fields(request))
    return summary(await finished(request, client, job.id))


class Batch(BaseModel):
    """A batch of audio URLs to transcribe."""

    audio_urls: list[str]


@app.post("/batch")
async def batch(body: Batch, request: Request, client: Client) -> dict[str, list[str]]:
    """Submit many URLs and return their job ids at once (completion comes by webhook)."""
    fields = completion_fields(request)
    ids = []
    for url in body.audio_urls:
        job = await client.submit(url, **fields)
        ids.append(job.id)
    return {"ids": ids}


@app.get("/transcripts/{transcript_id}/highlights")
async def transcript_highlights(
    transcript_id: str, request: Request, client: Client
) -> dict[str, Any]:
    """Wait for a job submitted by ``/batch`` and return its key phrases."""
    return summary(await finished(request, client, transcript_id))
