"""FastAPI integration: webhook completion for :class:`~audio_highlights.AsyncClient` waits.

Needs the ``fastapi`` extra (``pip install "audio-highlights[fastapi]"``).
A :class:`CompletionHub` is shared by the app; :func:`webhook_router` mounts
the route the API calls when a job finishes, and :meth:`CompletionHub.wait`
returns as soon as that call arrives, with slow polling as the fallback.
:func:`install_exception_handlers` answers the SDK's errors as JSON with a
fitting status (422, 404, 400, 502, 504...) instead of a bare 500.
"""

from ._errors import ERROR_STATUS, error_response, install_exception_handlers
from ._hub import DEFAULT_FALLBACK_POLLING, CompletionHub
from ._router import WEBHOOK_ROUTE_NAME, webhook_router

__all__ = [
    "DEFAULT_FALLBACK_POLLING",
    "ERROR_STATUS",
    "WEBHOOK_ROUTE_NAME",
    "CompletionHub",
    "error_response",
    "install_exception_handlers",
    "webhook_router",
]
