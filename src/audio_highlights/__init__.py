"""audio-highlights: the key phrases of what was said in audio and video, asynchronously.

Talks the AssemblyAI v2 transcription API (hosted, or the offline engine in
:mod:`audio_highlights.engine`). Start with :class:`AsyncClient`.
"""

from ._errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AudioHighlightsError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SourceError,
    UploadError,
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
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AudioHighlightsError",
    "AuthenticationError",
    "AutoHighlightsResult",
    "BadRequestError",
    "ConfigurationError",
    "Highlight",
    "JobFailedError",
    "JobTimeoutError",
    "NotFoundError",
    "PageDetails",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "SourceError",
    "Timestamp",
    "Transcript",
    "TranscriptStatus",
    "UploadError",
    "Word",
    "__version__",
]
