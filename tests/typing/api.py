"""The public API's types, checked by ``mypy --strict`` (see ``[tool.mypy]``); never run.

Each ``assert_type`` pins what a call returns; each ``type: ignore[code]`` pins a mistake
that mypy must catch (under --strict an ignore that is not needed is itself an error).
"""

from __future__ import annotations

from typing_extensions import assert_type

import audio_highlights as ah


async def async_client(client: ah.AsyncClient) -> None:
    options = ah.TranscriptOptions(speaker_labels=True, speaker_options=ah.SpeakerOptions())
    t = await client.transcribe("call.mp3", options=options, on_status=lambda t: None)
    assert_type(t, ah.Transcript)
    assert_type(t.utterances, list[ah.Segment])
    assert_type(await client.upload(b"audio", on_progress=lambda sent, total: None), str)
    assert_type(await client.audio_url_for("https://example.com/a.mp3"), str)
    assert_type(await client.submit("https://example.com/a.mp3", punctuate=False), ah.Transcript)
    assert_type(await client.wait(t, timeout=None, polling=ah.PollSettings()), ah.Transcript)
    assert_type(await client.wait(t.id, timeout=ah.DEFAULT), ah.Transcript)
    assert_type(await client.get(t.id), ah.Transcript)
    assert_type(await client.sentences(t), list[ah.Segment])
    assert_type(await client.paragraphs(t.id), list[ah.Segment])
    assert_type(await client.subtitles(t, "vtt", chars_per_caption=32), str)
    assert_type(await client.word_search(t, ["air quality"]), list[ah.WordSearchMatch])
    async for item in client.list(status=ah.TranscriptStatus.COMPLETED, limit=200):
        assert_type(item, ah.Transcript)
    async with client.transcribe_many(["a.mp3"], concurrency=4, status_events=True) as results:
        async for result in results:
            assert_type(result, ah.BatchResult)
    all_results = await client.transcribe_all(["a.mp3"], list_polling=True, options=options)
    assert_type(all_results, list[ah.BatchResult])

    await client.transcribe_all(["a.mp3"], concurrency="4")  # type: ignore[arg-type]
    # (A misspelt option name type-checks, as **fields takes request fields by name: it is a
    # UsageError at run time, naming the closest option or field.)
    await client.subtitles(t, "txt")  # type: ignore[arg-type]
    await client.get(42)  # type: ignore[arg-type]
    ah.TranscriptOptions(punctuate="yes")  # type: ignore[arg-type]
    ah.TranscriptOptions(speeker_labels=True)  # type: ignore[call-arg]


def blocking_client(client: ah.Client) -> None:
    t = client.transcribe("call.mp3", language_code="en_us")
    assert_type(t, ah.Transcript)
    assert_type(client.sentences(t), list[ah.Segment])
    assert_type(client.transcribe_all(["a.mp3"], concurrency=2), list[ah.BatchResult])
    for item in client.list(limit=2):
        assert_type(item, ah.Transcript)
    with client.transcribe_many(["a.mp3"], fail_fast=True) as results:
        for result in results:
            assert_type(result, ah.BatchResult)

    client.get(42)  # type: ignore[arg-type]
    client.transcribe_all(["a.mp3"], fail_fast=1.5)  # type: ignore[arg-type]


def events(event: ah.BatchEvent) -> None:
    assert_type(event.kind, ah.BatchEventKind)
    assert_type(event.status, ah.TranscriptStatus | None)
