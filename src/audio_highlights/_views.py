"""The views the API derives from a completed transcript: a facet of :class:`AsyncClient`.

Sentences, paragraphs, SRT/WebVTT subtitles and word search, each one request
through the request layer (``/v2/transcript/{id}/...``). The transcript must be
completed: otherwise the API answers 400 (:class:`BadRequestError`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._api import Requester, SubtitleFormat
from ._models import Segment, Transcript, WordSearchMatch

__all__ = ["TranscriptViews"]


class TranscriptViews:
    """The transcript views of :class:`AsyncClient` (documented there)."""

    # Set by AsyncClient.__init__.
    _api: Requester

    async def sentences(self, transcript_id: str | Transcript) -> list[Segment]:
        """The completed transcript split into sentences, each with its words and timings.

        Raises:
            BadRequestError: The transcript is not completed.
            NotFoundError: No such transcript.
        """
        return await self._api.segments(transcript_id, "sentences")

    async def paragraphs(self, transcript_id: str | Transcript) -> list[Segment]:
        """The completed transcript split into paragraphs, each with its words and timings.

        Raises:
            BadRequestError: The transcript is not completed.
            NotFoundError: No such transcript.
        """
        return await self._api.segments(transcript_id, "paragraphs")

    async def subtitles(
        self,
        transcript_id: str | Transcript,
        fmt: SubtitleFormat = "srt",
        *,
        chars_per_caption: int | None = None,
    ) -> str:
        """Subtitles of the completed transcript, as SRT or WebVTT text.

        Args:
            transcript_id: The transcript.
            fmt: ``"srt"`` or ``"vtt"``.
            chars_per_caption: Longest caption in characters (the server's
                default when ``None``).

        Raises:
            UsageError: ``fmt`` or ``chars_per_caption`` is wrong (before any request).
            BadRequestError: The transcript is not completed.
        """
        return await self._api.subtitles(transcript_id, fmt, chars_per_caption)

    async def word_search(
        self, transcript_id: str | Transcript, words: Sequence[str]
    ) -> list[WordSearchMatch]:
        """Where each word or phrase occurs in the completed transcript (case-insensitive).

        Args:
            transcript_id: The transcript.
            words: Words or phrases to look for (a single string is one term).

        Raises:
            UsageError: ``words`` is empty, or a term contains a comma.
            BadRequestError: The transcript is not completed.
        """
        return await self._api.word_search(transcript_id, words)
