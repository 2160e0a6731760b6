"""Fixtures for the engine tests: one real server per session, sample files."""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "examples" / "audio"


@pytest.fixture
def anyio_backend() -> str:
    # The engine runs worker subprocesses and, under uvicorn, asyncio only.
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    data_dir: Path, port: int, *extra: str, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start ``audio-highlights serve`` (1 worker) on ``port`` and wait until it listens.

    It runs in its own session, so killing its process group takes the
    recognition workers too. uvicorn binds only after the app's startup, so an
    accepted connection means the engine is ready. ``popen`` goes to
    :class:`subprocess.Popen` (``stderr=``, ``preexec_fn=`` ...).
    """
    env = {k: v for k, v in os.environ.items() if k != "AUDIO_HIGHLIGHTS_API_KEY"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audio_highlights",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--workers",
            "1",
            "--log-level",
            "warning",
            *extra,
        ],
        env=env,
        start_new_session=True,
        **popen,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError("engine server did not start") from None
            time.sleep(0.1)


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    """Stop a ``start_serve`` process: SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir


@pytest.fixture(scope="session")
def references() -> dict[str, dict[str, object]]:
    return json.loads((AUDIO / "references.json").read_text())


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``audio-highlights serve`` on a free loopback port (whisper, 1 worker)."""
    pytest.importorskip("uvicorn")
    data_dir = tmp_path_factory.mktemp("server-data")
    port = free_port()
    try:
        # The webhook tests call back a listener on this machine.
        proc = start_serve(data_dir, port, "--webhook-allow-loopback")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    url = f"http://127.0.0.1:{port}"
    try:
        yield Server(url, data_dir)
    finally:
        stop_serve(proc)


@pytest.fixture(scope="session")
def silence_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        # Very faint hum, well under speech level: a real "nothing said" file.
        frames = b"".join(struct.pack("<h", int(3 * math.sin(i / 8))) for i in range(16000 * 3))
        w.writeframes(frames)
    return path
