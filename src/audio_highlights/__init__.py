"""audio-highlights: the key phrases of what was said in audio and video, asynchronously.

Talks the AssemblyAI v2 transcription API (hosted, or the offline engine in
:mod:`audio_highlights.engine`). Start with :class:`AsyncClient`.
"""

from ._batch import (
    BatchEvent,
    BatchEventKind,
    BatchProgress,
    BatchResult,
    BatchResults,
    BatchSources,
)
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
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    SourceError,
    UploadError,
    UsageError,
)
from ._models import (
    AutoHighlightsResult,
    Highlight,
    PageDetails,
    Segment,
    Timestamp,
    Transcript,
    TranscriptStatus,
    Word,
    WordSearchMatch,
)
from ._options import (
    CustomSpelling,
    LanguageDetectionOptions,
    RedactPiiAudioOptions,
    SpeakerOptions,
    TranscriptOptions,
)
from ._polling import StatusCallback
from ._redact import RedactingFilter
from ._settings import (
    DEFAULT,
    ListPollSettings,
    PollSettings,
    RetrySettings,
    Seconds,
    UseDefault,
)
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
    "BatchSources",
    "Client",
    "CustomSpelling",
    "DEFAULT",
    "DEFAULT_BASE_URL",
    "DEFAULT_SPEECH_MODELS",
    "Highlight",
    "JobFailedError",
    "JobTimeoutError",
    "LanguageDetectionOptions",
    "ListPollSettings",
    "NotFoundError",
    "PageDetails",
    "PermissionDeniedError",
    "PollSettings",
    "ProgressCallback",
    "RateLimitError",
    "RedactPiiAudioOptions",
    "RedactingFilter",
    "RedirectError",
    "ResponseTooLargeError",
    "RetrySettings",
    "Seconds",
    "Segment",
    "ServerError",
    "Source",
    "SourceError",
    "SpeakerOptions",
    "StatusCallback",
    "Timestamp",
    "Transcript",
    "TranscriptOptions",
    "TranscriptStatus",
    "UploadError",
    "UsageError",
    "UseDefault",
    "Word",
    "WordSearchMatch",
    "__version__",
]
