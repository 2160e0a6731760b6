"""audio-highlights: the key phrases of what was said in audio and video, asynchronously.

Talks the AssemblyAI v2 transcription API (hosted, or the offline engine in
:mod:`audio_highlights.engine`). Start with :class:`AsyncClient`.
"""

from ._batch import BatchEvent, BatchEventKind, BatchProgress, BatchResult, BatchResults
from ._client import DEFAULT_BASE_URL, DEFAULT_SPEECH_MODELS, AsyncClient
from ._errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AudioHighlightsError,
    AuthenticationError,
    BadRequestError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SourceError,
    UploadError,
    UsageError,
)
from ._models import (
    AutoHighlightsResult,
    Highlight,
    PageDetails,
    Timestamp,
    Transcript,
    TranscriptStatus,
    Word,
)
from ._settings import PollSettings, RetrySettings
from ._sources import ProgressCallback, Source
from ._sync import Client
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AudioHighlightsError",
    "AuthenticationError",
    "AutoHighlightsResult",
    "BadRequestError",
    "BatchEvent",
    "BatchEventKind",
    "BatchProgress",
    "BatchResult",
    "BatchResults",
    "Client",
    "DEFAULT_BASE_URL",
    "DEFAULT_SPEECH_MODELS",
    "Highlight",
    "JobFailedError",
    "JobTimeoutError",
    "NotFoundError",
    "PageDetails",
    "PermissionDeniedError",
    "PollSettings",
    "ProgressCallback",
    "RateLimitError",
    "RetrySettings",
    "ServerError",
    "Source",
    "SourceError",
    "Timestamp",
    "Transcript",
    "TranscriptStatus",
    "UploadError",
    "UsageError",
    "Word",
    "__version__",
]
