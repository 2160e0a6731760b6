"""The ``audio-highlights`` command against the fake API (remote mode) and without extras."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import audio_highlights as ah
from audio_highlights.cli import main
from fakeserver import FakeServer, serve_fake_in_thread

pytest.importorskip("click")
pytest.importorskip("rich")

KEY = "cli-secret-key-0123456789"
ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "examples" / "audio"


@pytest.fixture(autouse=True)
def quick_client_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's clients poll and retry on a test's time scale (same logic, shorter waits).

    With the defaults a first poll comes after 0.5 s and a dead port is retried nine
    times, for about half a minute.
    """
    from audio_highlights import _client

    monkeypatch.setattr(
        _client,
        "PollSettings",
        functools.partial(ah.PollSettings, initial=0.02, multiplier=1.5, max_interval=0.1),
    )
    quick_retry = functools.partial(ah.RetrySettings, initial=0.01, max_backoff=0.02)
    monkeypatch.setattr(_client, "RetrySettings", quick_retry)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with serve_fake_in_thread(api_key=KEY, complete_after=0.05) as server:
        monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
        monkeypatch.setenv("ASSEMBLYAI_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    d = tmp_path / "calls"
    d.mkdir()
    for name in ("a.mp3", "b.mp3"):
        (d / name).write_bytes(b"ID3" + bytes(range(256)) * 8)
    return d


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert KEY not in out and KEY not in err
    return code, out, err


def test_table_per_file(
    fake: FakeServer, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, str(audio_dir / "a.mp3"))
    assert code == 0, err
    assert "air quality alerts" in out and "phrase" in out and "count" in out
    assert "00:03" in out  # first timestamp as mm:ss
    assert "embedded" not in err


def test_glob_expanded_and_json_array(
    fake: FakeServer, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(audio_dir / "*.mp3"), "--json")
    assert code == 0
    records = json.loads(out)
    assert [Path(r["source"]).name for r in records] == ["a.mp3", "b.mp3"]
    t = ah.Transcript.from_dict(records[0])
    assert t.highlights[0].text == "air quality alerts"


def test_json_is_an_array_even_for_one_input(
    fake: FakeServer, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(audio_dir / "a.mp3"), "--json")
    assert code == 0
    [only] = json.loads(out)
    assert Path(only["source"]).name == "a.mp3" and only["status"] == "completed"


def test_recursive_glob_jsonl_and_out_dir(
    fake: FakeServer, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys,
        str(tmp_path / "**" / "*.mp3"),
        "--jsonl",
        "--out",
        str(out_dir),
        "--concurrency",
        "1",
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and all(line["status"] == "completed" for line in lines)
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.mp3.json", "b.mp3.json"]
    saved = json.loads((out_dir / "a.mp3.json").read_text())
    assert saved["auto_highlights_result"]["results"]
    assert "wrote" in err


def test_csv(fake: FakeServer, audio_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(audio_dir / "a.mp3"), "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["phrase"] == "air quality alerts"
    assert rows[0]["count"] == "1" and rows[0]["timestamps_ms"].count("-") == 1


def test_failures_exit_1_with_reasons(
    fake: FakeServer, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        str(audio_dir / "a.mp3"),
        str(tmp_path / "missing.mp3"),
        str(tmp_path / "nothing-*.wav"),
        "--json",
    )
    assert code == 1
    assert "missing.mp3" in err and "SourceError" in err
    assert "no file matches" in err
    records = json.loads(out)
    assert [bool(r.get("error")) for r in records] == [False, True, True]
    # errors are objects, with the error class apart from the message
    assert records[1]["error"] == {"type": "SourceError", "message": "no such file"}
    assert records[2]["error"]["type"] == "SourceError"
    assert "2 of 3 inputs failed" in err


def test_failed_job_and_api_key_never_printed(
    fake: FakeServer, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_jobs = True
    code, _, err = run(capsys, str(audio_dir / "a.mp3"), "--api-key", KEY)
    assert code == 1 and "JobFailedError" in err


def test_wrong_key_is_reported_without_either_key(
    fake: FakeServer, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, str(audio_dir / "a.mp3"), "--api-key", "other-" + KEY)
    assert code == 1 and "AuthenticationError" in err and "other-" not in err


def test_usage_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    monkeypatch.delenv("ASSEMBLYAI_BASE_URL", raising=False)
    assert run(capsys)[0] == 2
    assert run(capsys, "x.mp3", "--bogus")[0] == 2
    assert run(capsys, "x.mp3", "--concurrency", "0")[0] == 2
    code, _, err = run(capsys, str(audio_dir / "a.mp3"), "--engine", "remote")
    assert code == 2 and "API key" in err
    # in the command's terms: its options and variables, not the SDK's parameters
    assert "--api-key" in err and "ASSEMBLYAI_API_KEY" in err and "--engine embedded" in err
    assert "api_key=" not in err and "AsyncClient" not in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and ah.__version__ in out
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--jsonl" in out and "serve" in out


def test_one_library_one_look_and_serve_is_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    import click

    from audio_highlights.cli._main import cli

    code, main_help, _ = run(capsys, "--help")
    assert code == 0
    assert main_help.startswith("Usage: audio-highlights [OPTIONS] FILE|DIR|URL|GLOB...")
    commands = main_help.split("Commands:")[1]
    assert "serve " in commands and "cache " in commands  # listed, not a footnote
    code, serve_help, _ = run(capsys, "serve", "--help")
    assert code == 0
    assert serve_help.startswith("Usage: audio-highlights serve [OPTIONS]")
    assert "--port INTEGER RANGE" in serve_help and "[default: 8000" in serve_help
    # the same formatter: click's options table and defaults in both
    assert "Options:" in main_help and "Options:" in serve_help
    assert "[default: 8;" in main_help
    ctx = click.Context(cli)
    assert isinstance(cli.get_command(ctx, "serve"), click.Command)
    assert isinstance(cli.get_command(ctx, "cache"), click.Group)
    # --version too, on every command
    for command in ([], ["serve"], ["cache"]):
        code, out, _ = run(capsys, *command, "--version")
        assert code == 0 and out == f"audio-highlights, version {ah.__version__}\n", command
    # a typo in a subcommand's option is click's usage error, exit 2
    code, _, err = run(capsys, "serve", "--prot", "1")
    assert code == 2 and "No such option '--prot'" in err and "--port" in err


def test_serve_without_the_engine_extra_is_a_message_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # as if numpy were not installed
    code, _, err = run(capsys, "serve", "--port", "0")
    assert code == 2
    assert 'pip install "audio-highlights[engine]"' in err and "numpy" in err
    assert "Traceback" not in err


def test_cache_info_lists_what_a_data_dir_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / ("a" * 32)).write_bytes(b"x" * 1234)
    code, out, _ = run(capsys, "cache", "info", "--data-dir", str(tmp_path))
    assert code == 0
    assert "1,234 bytes" in out and str(tmp_path / "uploads") in out


def test_missing_extra_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith("audio_highlights.cli._")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    code, _, err = run(capsys, "x.mp3")
    assert code == 2 and 'pip install "audio-highlights[cli]"' in err


def test_connection_failure_names_the_option_not_an_internal_class(
    monkeypatch: pytest.MonkeyPatch, audio_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, out, err = run(
        capsys, str(audio_dir / "a.mp3"), "--base-url", closed, "--api-key", KEY, "--jsonl"
    )
    assert code == 1
    assert "NotSent" not in err and "NotSent" not in out
    assert "APIConnectionError" in err and closed in err and "--base-url" in err
    assert json.loads(out)["error"]["type"] == "APIConnectionError"


# ---------------------------------------------------------------- inputs


def test_missing_file_is_reported_before_anything_is_sent(
    fake: FakeServer, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.mp3").write_bytes(b"")
    code, out, _ = run(
        capsys,
        str(audio_dir / "a.mp3"),
        str(tmp_path / "typo.mp3"),
        str(tmp_path / "empty.mp3"),
        "--jsonl",
    )
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    # the bad inputs are known at once, before the good one has even been uploaded
    assert [Path(r["source"]).name for r in lines] == ["typo.mp3", "empty.mp3", "a.mp3"]
    assert lines[0]["error"]["message"] == "no such file"
    assert "empty" in lines[1]["error"]["message"]
    assert len(fake.uploads) == 1
    # nothing to do at all: no request is made
    fake.requests.clear()
    code, _, _ = run(capsys, str(tmp_path / "typo.mp3"))
    assert code == 1 and fake.requests == []


@pytest.fixture
def mixed_dir(tmp_path: Path) -> Path:
    d = tmp_path / "mixed"
    (d / "sub").mkdir(parents=True)
    (d / ".git").mkdir()
    for name in ("a.mp3", "b.WAV", "sub/c.m4a", ".git/d.mp3"):
        (d / name).write_bytes(b"ID3" + name.encode() * 100)
    for name in ("README.md", "make.py", "refs.json"):
        (d / name).write_text("not audio")
    return d


def test_directory_is_walked_for_audio_and_video(
    fake: FakeServer, mixed_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, str(mixed_dir), "--jsonl")
    assert code == 0, err
    sources = sorted(
        Path(json.loads(line)["source"]).relative_to(mixed_dir).as_posix()
        for line in out.splitlines()
    )
    assert sources == ["a.mp3", "b.WAV", "sub/c.m4a"]
    assert len(fake.uploads) == 3
    assert "skipped 3 files that are not audio or video (README.md, make.py, refs.json)" in err


def test_glob_skips_files_that_are_not_audio_with_one_line(
    fake: FakeServer, mixed_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, str(mixed_dir / "*"), "--json")
    assert code == 0, err
    assert [Path(r["source"]).name for r in json.loads(out)] == ["a.mp3", "b.WAV"]
    assert len(fake.uploads) == 2
    assert err.count("skipped") == 1 and "skipped 3 files" in err
    # a pattern that finds only other files is a failed input, not a silent no-op
    code, out, err = run(capsys, str(mixed_dir / "*.md"), "--json")
    assert code == 1
    [failed] = json.loads(out)
    assert "no audio or video file matches" in failed["error"]["message"]


def test_the_skip_line_of_docs_cli_md_is_what_the_command_prints(
    fake: FakeServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    [shown] = re.findall(r'\$ audio-highlights "examples/audio/\*"\n\s*(.+)\n', docs)
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "examples/audio/*", "--jsonl")
    assert code == 0, err
    assert shown in err.splitlines()
    assert len(out.splitlines()) == len(fake.uploads) == 5  # the recordings, nothing else


def test_file_named_explicitly_is_sent_whatever_its_extension(
    fake: FakeServer, mixed_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, str(mixed_dir / "make.py"))
    assert code == 0, err
    assert len(fake.uploads) == 1 and "skipped" not in err


# ---------------------------------------------------------------- output


def write_result(fmt: str | None, width: int = 100) -> tuple[Any, io.StringIO]:
    from rich.console import Console

    from audio_highlights.cli._output import ResultWriter

    buf = io.StringIO()
    sources = ["a.mp3", "calls/2024/very-long-directory-name/customer-call-recording-0001.mp3"]
    writer = ResultWriter(
        sources,
        fmt=fmt,
        console=Console(file=buf, width=width, highlight=False),
        stream=buf,
        out_dir=None,
        emit=lambda write: write(),
        on_saved=lambda path: None,
    )
    return writer, buf


def completed(tid: str) -> ah.Transcript:
    return ah.Transcript.from_dict(
        {
            "id": tid,
            "status": "completed",
            "audio_duration": 62.5,
            "auto_highlights_result": {
                "status": "success",
                "results": [
                    {
                        "text": "air quality",
                        "count": 2,
                        "rank": 0.08,
                        "timestamps": [
                            {"start": 3000, "end": 3500},
                            {"start": 19000, "end": 19400},
                        ],
                    }
                ],
            },
        }
    )


def test_csv_rows_keep_the_input_order_whatever_finishes_first() -> None:
    from audio_highlights.cli._output import CSV_HEADER, Failure

    writer, buf = write_result("csv")
    writer.add(1, completed("t-1"))
    # input 0 is not done: only the header may be written yet
    assert buf.getvalue() == ",".join(CSV_HEADER) + "\n"
    writer.add(0, Failure(type="JobFailedError", message="not audio"))
    writer.finish()
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["source"] for r in rows] == [
        "a.mp3",
        "calls/2024/very-long-directory-name/customer-call-recording-0001.mp3",
    ]
    assert rows[0]["error_type"] == "JobFailedError" and rows[0]["error"] == "not audio"
    assert (
        rows[1]["phrase"] == "air quality" and rows[1]["timestamps_ms"] == "3000-3500;19000-19400"
    )


def test_csv_has_a_row_for_a_transcript_without_key_phrases() -> None:
    writer, buf = write_result("csv")
    silent = ah.Transcript.from_dict({"id": "t-0", "status": "completed", "text": ""})
    writer.add(0, silent)
    writer.add(1, completed("t-1"))
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [(r["transcript_id"], r["phrase"], r["count"]) for r in rows] == [
        ("t-0", "", ""),
        ("t-1", "air quality", "2"),
    ]


def test_table_is_printed_when_its_input_finishes_and_its_title_never_wraps() -> None:
    writer, buf = write_result(None, width=60)
    writer.add(1, completed("t-1"))
    text = buf.getvalue()
    # printed at once, before input 0 finished; the long path is one unbroken line
    assert "air quality" in text
    title = "calls/2024/very-long-directory-name/customer-call-recording-0001.mp3  (01:02)"
    assert title in text.splitlines()


def finish_in_order(fake: FakeServer, files: list[Path], *, fail: Path | None = None) -> Any:
    """A thread that, once every file's job exists, finishes them in ``files`` order.

    Jobs are held (``complete_after`` of an hour) until then, so the order they finish in
    is the one given, whatever the command's order; ``fail`` ends in a job error.
    """
    import threading

    fake.complete_after = 3600
    digests = {hashlib.sha256(f.read_bytes()).hexdigest(): f for f in files}

    def run() -> None:
        deadline = time.monotonic() + 30
        while len(fake.jobs) < len(files) and time.monotonic() < deadline:
            time.sleep(0.02)
        by_url = {u.url: digests[u.sha256] for u in fake.uploads}
        jobs = {by_url[j.request["audio_url"]]: j for j in list(fake.jobs.values())}
        for f in files:
            jobs[f].fail = f == fail
            jobs[f].complete_after = 0
            time.sleep(0.4)  # the command sees each one finish on its own

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_csv_rows_in_input_order_though_the_first_input_finishes_last(
    fake: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first.mp3", tmp_path / "second.mp3"
    first.write_bytes(b"ID3" + b"first" * 300)
    second.write_bytes(b"ID3" + b"second" * 300)
    finish_in_order(fake, [second, first])
    code, out, err = run(capsys, str(first), str(second), "--csv")
    assert code == 0, err
    sources = [Path(r["source"]).name for r in csv.DictReader(io.StringIO(out))]
    assert list(dict.fromkeys(sources)) == ["first.mp3", "second.mp3"]  # rows grouped, in order
    # JSON lines, by contrast, come as each input finishes (documented so)
    fake.jobs.clear()
    fake.uploads.clear()
    finish_in_order(fake, [second, first])
    code, out, _ = run(capsys, str(first), str(second), "--jsonl")
    assert [Path(json.loads(line)["source"]).name for line in out.splitlines()] == [
        "second.mp3",
        "first.mp3",
    ]


def test_failure_reason_on_the_terminal_while_the_others_still_run(
    fake: FakeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # live progress drawn on "stderr"
    slow, bad = tmp_path / "slow.mp3", tmp_path / "bad.mp3"
    slow.write_bytes(b"ID3" + b"slow" * 300)
    bad.write_bytes(b"ID3" + b"bad" * 300)
    finish_in_order(fake, [bad, slow], fail=bad)
    code, out, err = run(capsys, str(slow), str(bad), "--jsonl")
    assert code == 1 and len(out.splitlines()) == 2
    screen_text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err)
    failed = screen_text.index(f"failed {bad}: JobFailedError: ")
    # the reason is out before the other input is done, not in a summary at the end
    assert failed < screen_text.index(f"done   {slow}")
    assert "1 of 2 inputs failed" in screen_text
    # while held on the server, the row said so (and JSON lines went to stdout, not here)
    assert "processing" in screen_text and '"source"' not in err


def test_tables_stream_as_each_input_finishes(fake: FakeServer, tmp_path: Path) -> None:
    """A finished file's table is on stdout while a slower file is still being transcribed."""
    fast, slow = tmp_path / "fast.mp3", tmp_path / "slow.mp3"
    fast.write_bytes(b"ID3" + b"fast" * 500)
    slow.write_bytes(b"ID3" + b"slow" * 500)
    fake.complete_after = 3600
    env = {**os.environ, "ASSEMBLYAI_API_KEY": KEY, "ASSEMBLYAI_BASE_URL": fake.base_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "audio_highlights", str(slow), str(fast), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(fake.jobs) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        digest = {u.url: u.sha256 for u in fake.uploads}
        fast_sha = hashlib.sha256(fast.read_bytes()).hexdigest()
        jobs = {
            ("fast" if digest[j.request["audio_url"]] == fast_sha else "slow"): j
            for j in fake.jobs.values()
        }
        jobs["fast"].complete_after = 0
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(str(fast)), first
        assert proc.poll() is None  # the slow one is still running
        jobs["slow"].complete_after = 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert str(slow) in out


def test_progress_on_a_terminal_stderr_while_jsonl_goes_to_a_file(
    fake: FakeServer,
    audio_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    code, out, err = run(capsys, str(audio_dir / "*.mp3"), "--jsonl")
    assert code == 0
    assert len(out.splitlines()) == 2 and all(json.loads(line)["id"] for line in out.splitlines())
    assert "done" in err and "a.mp3" in err and "\x1b[" in err  # drawn live on the terminal


def live_console(width: int = 100) -> tuple[Any, io.StringIO]:
    from rich.console import Console

    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=width), buf


def screen(buf: io.StringIO) -> str:
    """What a terminal shows of the captured output, without its control sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())


def event(kind: ah.BatchEventKind, index: int, **kw: Any) -> ah.BatchEvent:
    return ah.BatchEvent(kind=kind, index=index, source=f"{index}.mp3", **kw)


def test_live_progress_shows_where_each_input_is() -> None:
    from audio_highlights.cli._progress import LiveProgress

    console, buf = live_console()
    names = ["a.mp3", "b.mp3", "c.mp3", "d.mp3"]
    with LiveProgress(names, console, live=True) as progress:

        def shown() -> str:
            progress._progress.refresh()
            # the last frame drawn: what the terminal shows now
            return screen(buf).split("\r")[-1]

        progress.on_event(event(ah.BatchEventKind.UPLOADING, 0))
        assert "a.mp3: uploading" in shown()
        assert "0/?" not in shown()  # no meaningless count on an input's row
        assert "0 done, 3 waiting" in shown()  # b, c, d have no slot yet
        progress.audio_length(0, 125.0)
        progress.on_event(event(ah.BatchEventKind.UPLOADED, 0))
        assert "a.mp3  (02:05): submitting" in shown()
        progress.on_event(
            event(
                ah.BatchEventKind.SUBMITTED, 0, transcript_id="t", status=ah.TranscriptStatus.QUEUED
            )
        )
        progress.on_event(event(ah.BatchEventKind.UPLOADING, 1))
        assert "a.mp3  (02:05): queued" in shown() and "b.mp3: uploading" in shown()
        progress.on_event(
            event(
                ah.BatchEventKind.STATUS,
                0,
                transcript_id="t",
                status=ah.TranscriptStatus.PROCESSING,
            )
        )
        frame = shown()
        assert "a.mp3  (02:05): processing" in frame and "0:00:0" in frame  # elapsed per row
        progress.finished(1, "JobFailedError: not audio")
        # the reason is on screen the moment the input fails
        assert "failed b.mp3: JobFailedError: not audio" in screen(buf)
        assert "0 done, 1 failed, 2 waiting" in shown()
        progress.finished(0, None, audio_duration=125.0)
        assert "done   a.mp3  (02:05 of audio, in 0." in screen(buf)
        progress.finished(2, None)
        progress.finished(3, None)
    assert "4/4" in screen(buf) and "3 done, 1 failed" in screen(buf)


def test_on_a_narrow_terminal_a_long_path_is_cut_at_its_start_and_the_state_shows() -> None:
    from audio_highlights.cli._progress import LiveProgress

    console, buf = live_console(width=80)
    long = "calls/2024/very-long-directory-name/customer-call-recording-0001.mp3"
    with LiveProgress([long, "b.mp3"], console, live=True) as progress:
        progress.on_event(event(ah.BatchEventKind.SUBMITTED, 0, status=ah.TranscriptStatus.QUEUED))
        progress.audio_length(0, 125.0)
        progress.on_event(event(ah.BatchEventKind.STATUS, 0, status=ah.TranscriptStatus.PROCESSING))
        progress._progress.refresh()
        frame = screen(buf).split("\r")[-1]
        row = next(line for line in frame.splitlines() if "0001.mp3" in line)
        assert "…" in row and row.split()[1].startswith("…")  # the start of the path gave way
        assert "-0001.mp3  (02:05): processing" in row
        assert "all inputs: 0 done, 1 waiting" in frame
        assert all(len(line) <= 80 for line in frame.splitlines())
        progress.finished(0, None)
    # the line saying it is done has the whole path, on one line
    assert f"done   {long}" in screen(buf)


def test_without_a_terminal_only_failures_are_printed_at_once() -> None:
    from rich.console import Console

    from audio_highlights.cli._progress import LiveProgress

    quiet = io.StringIO()
    with LiveProgress(["a.mp3", "b.mp3"], Console(file=quiet), live=False) as progress:
        progress.on_event(event(ah.BatchEventKind.SUBMITTED, 0))
        progress.finished(0, None)
        assert quiet.getvalue() == ""
        progress.finished(1, "SourceError: no such file")
        assert quiet.getvalue() == "audio-highlights: b.mp3: SourceError: no such file\n"


def test_results_printed_on_a_shared_terminal_step_around_the_live_rows() -> None:
    from audio_highlights.cli._progress import LiveProgress

    console, _ = live_console()
    with LiveProgress(["a.mp3"], console, live=True, stdout_is_terminal=True) as progress:
        progress.on_event(event(ah.BatchEventKind.SUBMITTED, 0))
        seen: list[bool] = []
        progress.emit(lambda: seen.append(progress._progress.live.is_started))
        assert seen == [False] and progress._progress.live.is_started


# ---------------------------------------------------------------- the embedded engine


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No API configured, and a private user cache; returns that cache directory."""
    pytest.importorskip("faster_whisper")
    for name in ("ASSEMBLYAI_API_KEY", "ASSEMBLYAI_BASE_URL", "AUDIO_HIGHLIGHTS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "audio-highlights"


@pytest.mark.slow
def test_embedded_store_is_temporary_unless_data_dir_is_given(
    offline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio at all\n")
    code, out, err = run(capsys, str(notes), "--jsonl", "--workers", "1")
    error = json.loads(out)["error"]
    assert code == 1 and error["type"] == "JobFailedError", err
    # the reason names no path on the server's side (its data dir, its uploads)
    assert "not a decodable audio or video file" in error["message"]
    assert "uploads" not in error["message"] and "/" not in error["message"]
    # nothing of the run is left in the user cache but the speech model
    assert sorted(p.name for p in offline.iterdir()) == ["models"]
    kept = tmp_path / "kept"
    code, _, _ = run(capsys, str(notes), "--data-dir", str(kept), "--workers", "1")
    assert code == 1
    assert (kept / "engine.sqlite3").is_file() and any((kept / "uploads").iterdir())


@pytest.fixture
def sample_server() -> Iterator[tuple[str, list[str]]]:
    """Serve examples/audio on a free loopback port; yields its URL and the paths asked for."""
    import functools
    import http.server
    import threading

    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            asked.append(self.path)

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(SAMPLES))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    finally:
        httpd.shutdown()
        thread.join()


@pytest.mark.slow
def test_url_input_is_fetched_from_a_host_allowed_on_the_command_line(
    offline: Path,
    sample_server: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, asked = sample_server
    url = base.replace("127.0.0.1", "samples.test") + "/river_cleanup.mp3"
    # Without the option the URL is refused up front, saying which option to add.
    code, out, err = run(capsys, url, "--jsonl")
    assert code == 1 and "--allow-url-host samples.test" in err
    assert json.loads(out)["error"]["type"] == "UsageError" and asked == []

    # Only public addresses pass the engine's address policy: DNS is stubbed so
    # that samples.test is the loopback sample server, and its address counts as public.
    from audio_highlights.engine import _outbound

    real_public = _outbound.is_public_address

    async def resolve(host: str, port: int) -> set[str]:
        assert host == "samples.test"
        return {"127.0.0.1"}

    monkeypatch.setattr(_outbound, "_resolve", resolve)
    monkeypatch.setattr(
        _outbound, "is_public_address", lambda a: a == "127.0.0.1" or real_public(a)
    )
    code, out, err = run(
        capsys, url, "--allow-url-host", "samples.test", "--jsonl", "--workers", "1"
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["source"] == url and record["status"] == "completed"
    assert any("river" in h["text"].lower() for h in record["auto_highlights_result"]["results"])
    assert asked == ["/river_cleanup.mp3"]


def test_audio_length_is_read_from_the_file_header(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from audio_highlights.cli._inputs import media_duration

    seconds = media_duration(str(SAMPLES / "wildfires.mp3"))
    assert seconds is not None and 21 < seconds < 24
    (tmp_path / "notes.txt").write_text("not audio")
    assert media_duration(str(tmp_path / "notes.txt")) is None


def test_accuracy_reaches_the_embedded_engine_and_is_refused_for_a_remote_api(
    audio_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import audio_highlights.engine as engine

    seen: dict[str, Any] = {}

    def fake_open_engine(**options: Any) -> Any:
        seen.update(options)
        raise ah.UsageError("stopped by the test")

    monkeypatch.setattr(engine, "open_engine", fake_open_engine)
    clip = str(audio_dir / "a.mp3")
    code, _, err = run(capsys, clip, "--engine", "embedded", "--accuracy", "accurate")
    assert code == 2 and "stopped by the test" in err
    assert seen["accuracy"] == "accurate"

    code, _, err = run(capsys, clip, "--engine", "embedded", "--accuracy", "best")
    assert code == 2 and "'best' is not one of 'fast', 'accurate'" in err

    seen.clear()
    code, _, err = run(
        capsys,
        clip,
        "--engine",
        "remote",
        "--base-url",
        "http://127.0.0.1:9",
        "--accuracy",
        "fast",
    )
    assert code == 2 and "--accuracy" in err and "--engine embedded" in err
    assert seen == {}
