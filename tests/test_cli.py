"""The ``audio-highlights`` command against the fake API (remote mode) and without extras."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import audio_highlights as ah
from audio_highlights.cli import main
from fakeserver import FakeServer, serve_fake_in_thread

pytest.importorskip("click")
pytest.importorskip("rich")

KEY = "cli-secret-key-0123456789"


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
    assert (
        run(
            capsys,
        )[0]
        == 2
    )
    assert run(capsys, "x.mp3", "--bogus")[0] == 2
    assert run(capsys, "x.mp3", "--concurrency", "0")[0] == 2
    code, _, err = run(capsys, str(audio_dir / "a.mp3"), "--engine", "remote")
    assert code == 2 and "API key" in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and ah.__version__ in out
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--jsonl" in out and "serve" in out


def test_serve_help_delegates_to_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("uvicorn")
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert "--port" in capsys.readouterr().out


def test_missing_extra_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith("audio_highlights.cli._")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    code, _, err = run(capsys, "x.mp3")
    assert code == 2 and 'pip install "audio-highlights[cli]"' in err


def test_live_progress_draws_rows_and_overall_bar() -> None:
    from rich.console import Console

    from audio_highlights.cli._progress import LiveProgress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    names = ["a.mp3", "b.mp3"]
    with LiveProgress(names, console, enabled=True) as progress:
        progress.on_event(ah.BatchEvent(kind=ah.BatchEventKind.UPLOADED, index=0, source="a.mp3"))
        progress.on_event(
            ah.BatchEvent(
                kind=ah.BatchEventKind.SUBMITTED, index=0, source="a.mp3", transcript_id="t"
            )
        )
        progress.on_event(ah.BatchEvent(kind=ah.BatchEventKind.COMPLETED, index=0, source="a.mp3"))
        progress.on_event(
            ah.BatchEvent(
                kind=ah.BatchEventKind.FAILED, index=1, source="b.mp3", error=ValueError("x")
            )
        )
    text = buf.getvalue()
    assert "done" in text and "failed" in text and "b.mp3" in text
    # not a terminal: nothing drawn at all
    quiet = io.StringIO()
    with LiveProgress(names, Console(file=quiet), enabled=False) as progress:
        progress.on_event(ah.BatchEvent(kind=ah.BatchEventKind.COMPLETED, index=0, source="a"))
    assert quiet.getvalue() == ""
