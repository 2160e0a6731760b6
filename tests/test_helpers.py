"""The everyday helpers against the fake API over real HTTP: views, typed options, errors."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import pytest

import audio_highlights as ah
from fakeserver import FakeServer, serve_fake, serve_fake_in_thread

pytestmark = pytest.mark.anyio

KEY = "sk-test-helpers"
FAST = ah.PollSettings(initial=0.02, multiplier=1.5, max_interval=0.1, timeout=10)


def client_for(server: FakeServer, **kw: Any) -> ah.AsyncClient:
    kw.setdefault("polling", FAST)
    return ah.AsyncClient(api_key=KEY, base_url=server.base_url, **kw)


# ---------------------------------------------------------------- transcript views


async def test_sentences_paragraphs_subtitles_and_word_search() -> None:
    async with serve_fake(api_key=KEY, complete_after=0.05) as server, client_for(server) as client:
        t = await client.transcribe("https://example.com/a.mp3")
        sentences = await client.sentences(t)
        assert [s.text for s in sentences] == [t.text]
        first = sentences[0]
        assert (first.start, first.end) == (t.words[0].start, t.words[-1].end)
        assert [w.text for w in first.words] == [w.text for w in t.words]
        assert first.speaker is None and first.confidence == pytest.approx(0.98)
        paragraphs = await client.paragraphs(t.id)
        assert len(paragraphs) == 1 and paragraphs[0].words == first.words

        srt = await client.subtitles(t.id, "srt", chars_per_caption=20)
        assert srt.startswith("1\n00:00:00,250 --> ")
        assert all(len(line) <= 20 for line in srt.splitlines()[2::4])
        vtt = await client.subtitles(t.id, "vtt")
        assert vtt.startswith("WEBVTT\n\n00:00:00.250 --> ")
        query = [r.query for r in server.requests if r.path.endswith("/srt")]
        assert query == [{"chars_per_caption": "20"}]

        matches = await client.word_search(t, ["air quality", "Canada", "nowhere"])
        assert [(m.text, m.count) for m in matches] == [
            ("air quality", 1),
            ("Canada", 1),
            ("nowhere", 0),
        ]
        air = matches[0]
        assert (air.timestamps[0].start, air.timestamps[0].end) == (3978, 4558)
        assert t.words[air.indexes[0]].text == "air"
        (search,) = [r for r in server.requests if r.path.endswith("/word-search")]
        assert search.query == {"words": "air quality,Canada,nowhere"}
        assert (await client.word_search(t, "wildfires"))[0].count == 1
        assert server.errors == []


async def test_views_of_unfinished_or_unknown_jobs_and_bad_arguments() -> None:
    async with serve_fake(api_key=KEY, complete_after=30) as server, client_for(server) as client:
        job = await client.submit("https://example.com/a.mp3")
        with pytest.raises(ah.BadRequestError, match="not completed"):
            await client.sentences(job)
        with pytest.raises(ah.NotFoundError):
            await client.paragraphs("no-such-id")
        before = len(server.requests)
        for call, message in [
            (client.subtitles(job, "txt"), "srt"),  # type: ignore[arg-type]
            (client.subtitles(job, "srt", chars_per_caption=0), "at least 1"),
            (client.word_search(job, []), "non-empty"),
            (client.word_search(job, ["a,b"]), "comma"),
            (client.word_search(job, ["ok", " "]), "non-empty"),
        ]:
            with pytest.raises(ah.UsageError, match=message):
                await call
        assert len(server.requests) == before  # refused before any request


def test_blocking_client_has_the_views() -> None:
    with (
        serve_fake_in_thread(api_key=KEY, complete_after=0.0) as server,
        ah.Client(api_key=KEY, base_url=server.base_url, polling=FAST) as client,
    ):
        t = client.transcribe("https://example.com/a.mp3")
        assert client.sentences(t)[0].text == t.text
        assert client.word_search(t.id, ["smoke"])[0].count == 1
        assert client.subtitles(t, "vtt").startswith("WEBVTT")
        assert client.audio_url_for("https://example.com/x.mp3") == "https://example.com/x.mp3"
        assert client.audio_url_for(b"abc").startswith(server.base_url)


def test_utterances_parse_and_round_trip() -> None:
    data = {
        "id": "t1",
        "status": "completed",
        "utterances": [
            {
                "confidence": 0.9,
                "start": 10,
                "end": 900,
                "text": "Hello there.",
                "speaker": "A",
                "words": [{"text": "Hello", "start": 10, "end": 400, "speaker": "A"}],
                "translated_texts": {"es": "Hola."},
            },
            "not an utterance",
        ],
    }
    t = ah.Transcript.from_dict(data)
    (u,) = t.utterances
    assert (u.speaker, u.start, u.end, u.text) == ("A", 10, 900, "Hello there.")
    assert u.words[0].speaker == "A" and u.translated_texts == {"es": "Hola."}
    assert ah.Transcript.from_dict(t.to_dict()) == t
    assert ah.Transcript.from_dict({"id": "x", "status": "queued"}).utterances == []


# ---------------------------------------------------------------- typed request options


async def test_typed_options_are_sent_and_fields_lay_over_them() -> None:
    options = ah.TranscriptOptions(
        speaker_labels=True,
        speakers_expected=2,
        speaker_options=ah.SpeakerOptions(min_speakers_expected=1, max_speakers_expected=3),
        custom_spelling=[{"from": ["dicarlo"], "to": "Decarlo"}],
        redact_pii_policies=["person_name"],
        language_detection_options={"expected_languages": ["en"]},
        extra={"brand_new_field": {"on": True}},
    )
    async with serve_fake(api_key=KEY) as server, client_for(server) as client:
        job = await client.submit("https://example.com/a.mp3", options=options, punctuate=False)
        request = server.jobs[job.id].request
        assert request["speaker_labels"] is True and request["speakers_expected"] == 2
        speakers = {"min_speakers_expected": 1, "max_speakers_expected": 3}
        assert request["speaker_options"] == speakers
        assert request["custom_spelling"] == [{"from": ["dicarlo"], "to": "Decarlo"}]
        assert request["redact_pii_policies"] == ["person_name"]
        assert request["language_detection_options"] == {"expected_languages": ["en"]}
        assert request["brand_new_field"] == {"on": True}
        assert request["punctuate"] is False
        assert request["auto_highlights"] is True  # the SDK's default
        assert request["speech_models"] == list(ah.DEFAULT_SPEECH_MODELS)
        assert "language_code" not in request  # unset fields are not sent
        off = ah.TranscriptOptions(auto_highlights=False, speech_models=["universal-2"])
        got = await client.transcribe_all(["https://example.com/b.mp3"], options=off)
        assert got[0].transcript is not None and not got[0].transcript.highlights
        request = next(j.request for j in server.jobs.values() if j.id == got[0].transcript.id)
        assert request["auto_highlights"] is False and request["speech_models"] == ["universal-2"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"auto_highlight": False}, "did you mean 'auto_highlights'"),
        ({"speeker_labels": True}, "did you mean 'speaker_labels'"),
        ({"punctuate": "yes"}, "punctuate must be a bool"),
        ({"speakers_expected": True}, "speakers_expected must be an int"),
        ({"keyterms_prompt": "one string"}, "keyterms_prompt must be a list of strings"),
        ({"redact_pii_sub": "stars"}, "redact_pii_sub must be one of"),
        ({"speaker_options": 3}, "SpeakerOptions or a mapping"),
        ({"extra": {"audio_url": "x"}}, "audio_url"),
        ({"options": {"punctuate": True}}, "TranscriptOptions"),
    ],
)
async def test_wrong_fields_are_usage_errors_before_any_request(
    fields: dict[str, Any], message: str
) -> None:
    async with serve_fake(api_key=KEY) as server, client_for(server) as client:
        for call in (
            lambda: client.submit("https://example.com/a.mp3", **fields),
            lambda: client.transcribe(b"audio", **fields),
            lambda: client.transcribe_all([b"audio"], **fields),
        ):
            with pytest.raises(ah.UsageError, match=message):
                await call()
        assert server.requests == []


async def test_a_misspelt_batch_option_names_the_option() -> None:
    async with serve_fake(api_key=KEY) as server, client_for(server) as client:
        with pytest.raises(ah.UsageError, match="did you mean 'concurrency'"):
            await client.transcribe_all([b"audio"], concurency=4)
        assert server.requests == []


def test_transcript_options_cover_the_spec() -> None:
    import json
    from pathlib import Path

    spec_path = Path(__file__).parents[2] / "shared" / "reference" / "assemblyai-openapi.json"
    if not spec_path.exists():
        pytest.skip("the API spec is not beside the checkout")
    spec = json.loads(spec_path.read_text())
    wanted = set(spec["components"]["schemas"]["TranscriptOptionalParams"]["properties"])
    fields = {f.name for f in ah.TranscriptOptions.__attrs_attrs__} - {"extra"}
    assert fields == wanted
    doc = ah.TranscriptOptions.__doc__ or ""
    assert all(f"        {name}:" in doc for name in fields)  # every field documented


# ---------------------------------------------------------------- errors and setup


async def test_status_errors_name_the_request_that_failed() -> None:
    async with serve_fake(api_key=KEY) as server, client_for(server) as client:
        with pytest.raises(ah.NotFoundError) as info:
            await client.get("abc")
        err = info.value
        assert (err.method, err.url) == ("GET", f"{server.base_url}/v2/transcript/abc")
        assert str(err).startswith(f"GET {server.base_url}/v2/transcript/abc -> 404: ")
        assert err.request_id and err.request_id in str(err)


def test_an_httpx_client_is_a_usage_error_saying_what_is_needed() -> None:
    class NotHttpx2:  # what an httpx.AsyncClient is to this SDK
        pass

    for name in ("http_client", "transport"):
        with pytest.raises(ah.UsageError, match=rf"{name} must be an httpx2\.") as info:
            ah.AsyncClient(api_key="k", base_url="http://h", **{name: NotHttpx2()})
        assert "pip install httpx2" in str(info.value)


# ---------------------------------------------------------------- notebooks


@pytest.fixture
def fake_thread() -> Iterator[FakeServer]:
    with serve_fake_in_thread(api_key=KEY, complete_after=0.0) as server:
        yield server


async def test_blocking_client_runs_in_a_notebook_cell(fake_thread: FakeServer) -> None:
    # Jupyter runs a cell's code from a coroutine of its own event loop, with exec():
    # the cell's top level is no coroutine, and that is allowed.
    cell = (
        "with ah.Client(api_key=KEY, base_url=URL, polling=FAST) as c:\n"
        "    result = c.transcribe('https://example.com/a.mp3').status\n"
    )
    namespace: dict[str, Any] = {"ah": ah, "KEY": KEY, "URL": fake_thread.base_url, "FAST": FAST}
    exec(compile(cell, "<cell>", "exec"), namespace)
    assert namespace["result"] is ah.TranscriptStatus.COMPLETED


async def test_blocking_client_refused_in_an_async_cell_and_in_coroutines(
    fake_thread: FakeServer,
) -> None:
    # A cell that uses top-level await is compiled as a coroutine: blocking there would
    # freeze the notebook's loop, so the message points at AsyncClient and await.
    cell = "await anyio.sleep(0)\nah.Client(api_key=KEY, base_url=URL)\n"
    code = compile(cell, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    import anyio

    namespace = {"ah": ah, "anyio": anyio, "KEY": KEY, "URL": fake_thread.base_url}
    with pytest.raises(ah.UsageError, match=r"AsyncClient.*top-level `await"):
        await eval(code, namespace)

    def helper() -> None:  # a plain function called from a coroutine is still inside it
        ah.Client(api_key=KEY, base_url=fake_thread.base_url)

    with pytest.raises(ah.UsageError, match="coroutine"):
        helper()
