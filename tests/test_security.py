"""The API key never shows: not in a repr, a log line (even at DEBUG, with httpx2's and
httpcore2's loggers on), an exception message, or the command line's output."""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import audio_highlights as ah
from audio_highlights._http import KeyAuth
from fakeserver import FakeServer, Fault, serve_fake

KEY = "sk-secret-4f9a2c7e1b3d5a8c"
QUICK = ah.RetrySettings(initial=0.01, max_backoff=0.02, max_retry_after=0.05, max_retries=3,
                         idempotent_submit=True)
POLL = ah.PollSettings(initial=0.02, max_interval=0.05, timeout=5)
LOGGERS = ("audio_highlights", "httpx2", "httpcore2", "h11", "hpack")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything at DEBUG from the SDK and the HTTP stack beneath it."""
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def texts_of(exc: BaseException) -> str:
    """Everything an exception could show: str, repr, attributes, and its causes'."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def test_reprs_hide_the_key() -> None:
    client = ah.AsyncClient(api_key=KEY, base_url="http://127.0.0.1:9")
    assert KEY not in repr(client) and KEY not in str(client)
    assert KEY not in repr(KeyAuth(KEY))
    assert KEY not in repr(vars(client))  # the key lives only inside KeyAuth, name-mangled
    from audio_highlights.engine import EngineSettings

    assert KEY not in repr(EngineSettings(api_key=KEY))


@pytest.mark.anyio
async def test_key_absent_from_logs_and_errors_under_faults(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    errors: list[BaseException] = []
    async with serve_fake(api_key=KEY, complete_after=0.05, fault_rate=0.3, seed=9,
                          stall_seconds=0.5) as server:
        client = ah.AsyncClient(api_key=KEY, base_url=server.base_url, retry=QUICK,
                                polling=POLL, timeout=0.2)
        async with client:
            with anyio.fail_after(30):
                results = await client.transcribe_all([b"abc" * 100] * 20)
            errors += [r.error for r in results if r.error is not None]
            for call in (client.get("no-such-id"), client.wait("no-such-id"),
                         client.transcribe("https://example.com/fail.mp3")):
                try:
                    await call
                except ah.AudioHighlightsError as exc:
                    errors.append(exc)
        # The wrong key is refused without echoing either key. Faults off, so
        # the 401 is what comes back, whatever the random draws were so far.
        server.fault_rate = 0.0
        async with ah.AsyncClient(api_key=KEY + "-wrong", base_url=server.base_url,
                                  retry=QUICK) as wrong:
            with pytest.raises(ah.AuthenticationError) as info:
                await wrong.get("x")
            errors.append(info.value)
        assert any(r.headers.get("authorization") == KEY for r in server.requests)
    # Nothing to connect to: a connection error.
    async with ah.AsyncClient(api_key=KEY, base_url="http://127.0.0.1:9", retry=QUICK) as gone:
        with pytest.raises(ah.APIConnectionError) as conn_info:
            await gone.get("x")
        errors.append(conn_info.value)
    assert len(errors) >= 5
    for exc in errors:
        assert KEY not in texts_of(exc), texts_of(exc)
    assert debug_logs.records, "DEBUG logging was not captured"
    assert {r.name.split(".")[0] for r in debug_logs.records} >= {"audio_highlights", "httpcore2"}
    assert KEY not in debug_logs.text
    for record in debug_logs.records:
        assert KEY not in record.getMessage() and KEY not in repr(record.args)


def shown_by(exc: BaseException) -> str:
    """What an error can show: :func:`texts_of`, plus its string attributes and causes'."""
    parts = [texts_of(exc)]
    current: BaseException | None = exc
    while current is not None:
        parts += [repr(v) for v in vars(current).values() if isinstance(v, (str, dict, list))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@pytest.mark.anyio
async def test_key_echoed_by_the_server_never_shows(debug_logs: pytest.LogCaptureFixture) -> None:
    """A server that repeats the key everywhere: headers, request ids, error messages, HTML
    pages, garbled bodies, upload URLs and the errors of failed jobs. The key is masked in
    every exception (message, repr, attributes, causes) and every log record at DEBUG."""
    errors: list[BaseException] = []
    async with serve_fake(api_key=KEY, complete_after=0.05, fault_rate=0.3, seed=21,
                          stall_seconds=0.3, echo_key=True) as server:
        no_retry = ah.RetrySettings(max_retries=0)
        client = ah.AsyncClient(api_key=KEY, base_url=server.base_url, retry=no_retry,
                                polling=POLL, timeout=0.2)
        async with client:
            with anyio.fail_after(60):
                results = await client.transcribe_all([b"abc" * 100 + bytes([i])
                                                       for i in range(40)])
            errors += [r.error for r in results if r.error is not None]
            server.fault_rate = 0.0
            server.faults = [
                Fault(method="GET", path="/v2/transcript/redirect", status=302,
                      headers={"location": f"https://elsewhere.example/?key={KEY}"}),
                Fault(method="GET", path="/v2/transcript/html", status=503,
                      body=f"<html>upstream said {KEY}</html>"),
                Fault(method="GET", path="/v2/transcript/garbage", status=200,
                      body=f"not json {KEY}"),
            ]
            server.fail_jobs = True  # "unable to download <upload_url with the key>"
            for call in (client.get("no-such-id"), client.wait("no-such-id"),
                         client.get("redirect"), client.get("html"), client.get("garbage"),
                         client.transcribe(b"will fail")):
                try:
                    await call
                except ah.AudioHighlightsError as exc:
                    errors.append(exc)
        # A server that refuses the key and quotes it back.
        async with ah.AsyncClient(api_key=KEY + "-wrong", base_url=server.base_url,
                                  retry=no_retry) as wrong:
            with pytest.raises(ah.AuthenticationError) as info:
                await wrong.get("x")
            errors.append(info.value)
    kinds = {type(e).__name__ for e in errors}
    assert {"NotFoundError", "RedirectError", "ServerError",
            "APIResponseError", "JobFailedError", "AuthenticationError"} <= kinds, kinds
    for exc in errors:
        text = shown_by(exc)
        assert KEY not in text, text
        assert "***" in text or isinstance(exc, (ah.APIConnectionError, ah.JobTimeoutError)), text
    # The HTTP stack logged the echoed headers; the filter masked them.
    headers_logged = [r.getMessage() for r in debug_logs.records
                      if "x-echo-authorization" in r.getMessage()]
    assert headers_logged and all("***" in m for m in headers_logged)
    for record in debug_logs.records:
        assert KEY not in record.getMessage() and KEY not in repr(record.args)
    assert KEY not in debug_logs.text


class _ServerThread:
    """The fake API on its own thread and event loop, for a CLI that runs its own loop."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.server: FakeServer | None = None
        self._ready = threading.Event()
        self._stop: anyio.Event | None = None
        self._token: Any = None
        self._thread = threading.Thread(target=anyio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        async with serve_fake(**self.options) as server:
            self.server = server
            self._stop = anyio.Event()
            self._token = anyio.lowlevel.current_token()
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> FakeServer:
        self._thread.start()
        assert self._ready.wait(10)
        assert self.server is not None
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        anyio.from_thread.run_sync(self._stop.set, token=self._token)
        self._thread.join(10)


@pytest.mark.slow
@pytest.mark.parametrize("server_key", [KEY, "another-key"])
def test_cli_output_never_shows_the_key(
    server_key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    debug_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("click")
    pytest.importorskip("rich")
    from audio_highlights.cli import main

    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"\x00" * 2048)
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    # The server echoes the key it gets in headers, errors and upload URLs.
    with _ServerThread(api_key=server_key, complete_after=0.05, echo_key=True) as server:
        outputs = []
        for extra in ([], ["--json"], ["--jsonl"], ["--csv"]):
            code = main([str(audio), str(tmp_path / "missing.mp3"), "--api-key", KEY,
                         "--base-url", server.base_url, "--no-progress", "--timeout", "5",
                         *extra])
            out, err = capsys.readouterr()
            outputs.append(out + err)
            assert code == 1  # the missing file fails in any case
        if server_key == KEY:
            # The key from the environment, and a server that is not there (retried
            # quickly here: the default backoff gives a dead server about 30 s).
            monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
            monkeypatch.setattr(
                "audio_highlights._client.RetrySettings",
                functools.partial(ah.RetrySettings, initial=0.01, max_backoff=0.02),
            )
            code = main([str(audio), "--base-url", "http://127.0.0.1:9", "--no-progress"])
            out, err = capsys.readouterr()
            outputs.append(out + err)
            assert code != 0
    text = "\n".join(outputs)
    assert "missing.mp3" in text
    if server_key != KEY:
        assert "API token" in text or "401" in text or "uthentication" in text, text
    assert KEY not in text
    assert KEY not in debug_logs.text
