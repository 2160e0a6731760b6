"""The blocking facade ``ah.Client`` against the fake API running on its own event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

import audio_highlights as ah
from fakeserver import FakeServer, serve_fake_in_thread

KEY = "sync-test-key"
FAST = ah.PollSettings(initial=0.02, multiplier=1.5, max_interval=0.1, timeout=30)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    # The fake is async: it gets an event loop of its own in a background thread.
    with serve_fake_in_thread(api_key=KEY, complete_after=0.05) as server:
        yield server


@pytest.fixture
def client(fake: FakeServer) -> Iterator[ah.Client]:
    with ah.Client(api_key=KEY, base_url=fake.base_url, polling=FAST) as c:
        yield c


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    path = tmp_path / "a.mp3"
    path.write_bytes(b"ID3" + bytes(range(256)) * 40)
    return path


def test_transcribe_get_wait_delete(client: ah.Client, audio: Path) -> None:
    sent: list[int] = []
    t = client.transcribe(audio, on_progress=lambda n, total: sent.append(n))
    assert t.status is ah.TranscriptStatus.COMPLETED
    assert [h.text for h in t.highlights][:1] == ["air quality alerts"]
    assert sent[-1] == audio.stat().st_size
    assert client.get(t.id).id == t.id
    assert client.wait(t.id).status is ah.TranscriptStatus.COMPLETED
    assert client.delete(t.id).id == t.id


def test_upload_submit_and_list_iterator(client: ah.Client, audio: Path) -> None:
    url = client.upload(audio)
    jobs = [client.submit(url) for _ in range(3)]
    listed = client.list(page_size=2)  # two per page: the iterator follows pages
    ids = {t.id for t in listed}
    assert {j.id for j in jobs} <= ids
    # stopping early closes the underlying async generator
    first = next(iter(client.list(limit=1)))
    assert first.id in ids


def test_transcribe_many_context_and_transcribe_all(client: ah.Client, audio: Path) -> None:
    events: list[ah.BatchEventKind] = []
    with client.transcribe_many(
        [audio, audio, b""], concurrency=2, on_event=lambda e: events.append(e.kind)
    ) as results:
        got = list(results)
    assert sorted(r.index for r in got) == [0, 1, 2]
    assert [r.ok for r in sorted(got, key=lambda r: r.index)] == [True, True, False]
    assert ah.BatchEventKind.COMPLETED in events
    ordered = client.transcribe_all([audio, audio])
    assert [r.index for r in ordered] == [0, 1] and all(r.ok for r in ordered)


def test_errors_are_the_sdk_errors_and_key_stays_secret(fake: FakeServer) -> None:
    with ah.Client(api_key="wrong-" + KEY, base_url=fake.base_url) as c:
        assert KEY not in repr(c) and repr(c).startswith("<Client ")
        with pytest.raises(ah.AuthenticationError) as info:
            c.get("abc")
        assert KEY not in str(info.value)
    with ah.Client(api_key=KEY, base_url=fake.base_url) as c, pytest.raises(ah.NotFoundError):
        c.get("0" * 32)


def test_usage_errors_surface_from_the_constructor() -> None:
    with pytest.raises(ah.UsageError):
        ah.Client(base_url="ftp://example.com")


def test_trio_backend(fake: FakeServer, audio: Path) -> None:
    with ah.Client(api_key=KEY, base_url=fake.base_url, polling=FAST, backend="trio") as c:
        assert c.transcribe(audio).status is ah.TranscriptStatus.COMPLETED


def test_usable_from_threads(client: ah.Client, audio: Path) -> None:
    out: list[str] = []

    def work() -> None:
        out.append(client.transcribe(audio).id)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(out)) == 3


@pytest.mark.anyio
async def test_refused_inside_an_event_loop_but_fine_in_a_worker_thread(
    tmp_path: Path, anyio_backend: str
) -> None:
    with pytest.raises(ah.UsageError, match="AsyncClient"):
        ah.Client(api_key=KEY, base_url="http://127.0.0.1:9")

    def in_thread() -> str:
        with ah.Client(api_key=KEY, base_url="http://127.0.0.1:9") as c:
            return c.base_url

    assert await anyio.to_thread.run_sync(in_thread) == "http://127.0.0.1:9"


def test_abandoned_iterators_and_early_exit(fake: FakeServer, audio: Path) -> None:
    with ah.Client(api_key=KEY, base_url=fake.base_url, polling=FAST) as c:
        c.submit(c.upload(audio))
        pages = c.list(limit=1)
        assert next(pages).id
        with c.transcribe_many([audio] * 6, concurrency=2) as results:
            first = next(results)
        assert first.index in range(6)
        assert c.get(first.transcript.id if first.transcript else "x").id  # still usable
    del pages  # collected after its client closed: nothing to do, nothing raised


@pytest.mark.slow
def test_embedded(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("starlette")
    sample = Path(__file__).parent.parent / "examples" / "audio" / "wildfires.mp3"
    with ah.Client.embedded(data_dir=tmp_path, workers=1) as client:
        assert client.base_url.startswith("http://embedded")
        t = client.transcribe(sample)
        assert any("air quality" in h.text.lower() for h in t.highlights)
        assert [x.id for x in client.list()] == [t.id]
