"""The FastAPI route that receives the API's completion webhooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from ._hub import CompletionHub

__all__ = ["WEBHOOK_ROUTE_NAME", "webhook_router"]

#: The route's name, for ``request.url_for(WEBHOOK_ROUTE_NAME)``.
WEBHOOK_ROUTE_NAME = "audio_highlights_webhook"


def webhook_router(hub: CompletionHub, *, path: str = "/webhooks/assemblyai") -> APIRouter:
    """A router with one ``POST`` route that passes webhooks to ``hub``.

    The route answers 401 when the auth header is wrong (the API then stops
    retrying), 400 for a body without ``transcript_id``/``status``, else 200.

    Args:
        hub: The hub whose waiters the webhooks wake.
        path: Where to mount the route.
    """
    router = APIRouter()

    @router.post(path, name=WEBHOOK_ROUTE_NAME, include_in_schema=False)
    async def receive(request: Request) -> dict[str, Any]:
        if not hub.is_authorized(request.headers):
            raise HTTPException(status_code=401, detail="bad webhook credentials")
        try:
            body = await request.json()
        except ValueError:
            body = None
        tid = body.get("transcript_id") if isinstance(body, dict) else None
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(tid, str) or not tid or not isinstance(status, str):
            raise HTTPException(status_code=400, detail="expected transcript_id and status")
        return {"ok": True, "woken": hub.notify(tid, status)}

    return router
