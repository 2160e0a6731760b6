"""Engine configuration."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from attrs import field, frozen, validators

__all__ = ["ACCURACIES", "EngineSettings", "data_dir_from_environment", "default_data_dir"]

_RECOGNIZERS = ("whisper", "pocketsphinx")
ACCURACIES = ("fast", "accurate")


def data_dir_from_environment() -> Path | None:
    """The data dir ``AUDIO_HIGHLIGHTS_DATA_DIR`` names, if it is set."""
    explicit = os.environ.get("AUDIO_HIGHLIGHTS_DATA_DIR")
    return Path(explicit).expanduser() if explicit else None


def default_data_dir() -> Path:
    """Where the engine keeps its database, uploads and model cache by default.

    ``AUDIO_HIGHLIGHTS_DATA_DIR`` wins; otherwise ``$XDG_CACHE_HOME/audio-highlights``
    or ``~/.cache/audio-highlights``.
    """
    explicit = data_dir_from_environment()
    if explicit is not None:
        return explicit
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "audio-highlights"


def _seconds(value: float | dt.timedelta) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def _opt_seconds(value: float | dt.timedelta | None) -> float | None:
    return None if value is None else _seconds(value)


def _path(value: str | os.PathLike[str]) -> Path:
    return Path(value).expanduser()


def _opt_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value).expanduser()


def _opt_model(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _hosts(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h.lower().strip("[]") for h in hosts)


def _positive(instance: object, attribute: Any, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{getattr(attribute, 'name', 'value')} must be positive, got {value!r}")


@frozen(kw_only=True)
class EngineSettings:
    """How the embedded engine runs.

    Durations accept float seconds or :class:`datetime.timedelta` and are stored as
    float seconds.

    Attributes:
        data_dir: Directory for the SQLite store, uploads and the model cache.
        workers: Recognition worker processes (default: CPU count).
        recognizer: ``"whisper"`` (default) or ``"pocketsphinx"``.
        model_dir: A faster-whisper model directory to use instead of the packaged one.
        accuracy: ``"fast"`` (default: greedy decoding) or ``"accurate"`` (beam search,
            ``beam_size=5``: fewer word errors, about 1.4x the recognition time). A
            request with ``speech_model: "best"`` is decoded accurately whatever this
            says, and one with ``"nano"`` fast.
        spacy_model: The spaCy pipeline for key phrases: an installed model package's
            name or a model directory. ``None`` (default) uses the bundled,
            hash-verified ``en_core_web_sm`` 3.8.
        model_cache_dir: Where the packaged model is assembled on first use
            (default: ``data_dir/models``). A temporary ``data_dir`` can keep its
            models in a lasting cache this way.
        api_key: When set, every request needs ``authorization: <api_key>``.
        max_upload_bytes: Largest accepted upload (default 2.2 GB).
        max_json_bytes: Largest accepted JSON request body.
        allow_url_hosts: Host names ``audio_url`` may point at besides own uploads.
        webhook_max_attempts: Webhook delivery attempts before giving up.
        webhook_initial_backoff: First retry delay for webhooks.
        webhook_max_backoff: Longest retry delay for webhooks.
        webhook_timeout: Per-attempt webhook timeout.
        max_download_bytes: Largest ``audio_url`` download accepted.
        webhook_allow_loopback: Let ``webhook_url`` point at this machine's loopback
            addresses (an app calling the engine on the same host). Private,
            link-local and other non-public addresses are always refused.
        upload_retention: How long an upload is kept (default 1 day); ``None``
            keeps uploads until their transcript is deleted. An upload a queued
            or processing job needs is kept until that job ends.
        max_audio_duration: Longest audio accepted, from the file's metadata and
            again while decoding (default 10 hours, the hosted API's limit).
        max_job_time: Longest a job may take, download and recognition included
            (default 4 hours); past it the job ends in ``error``.
        body_timeout: Longest wait for the next piece of a request body (a slow
            or stalled client gets 408 and its upload is dropped).
    """

    data_dir: Path = field(factory=default_data_dir, converter=_path)
    workers: int = field(
        factory=lambda: os.cpu_count() or 1, validator=[validators.instance_of(int), _positive]
    )
    recognizer: str = field(default="whisper", validator=validators.in_(_RECOGNIZERS))
    model_dir: Path | None = field(default=None, converter=_opt_path)
    accuracy: str = field(default="fast", validator=validators.in_(ACCURACIES))
    spacy_model: str | None = field(default=None, converter=_opt_model)
    model_cache_dir: Path | None = field(default=None, converter=_opt_path)
    api_key: str | None = field(default=None, repr=False)
    max_upload_bytes: int = field(default=2_200_000_000, validator=_positive)
    max_json_bytes: int = field(default=1_000_000, validator=_positive)
    allow_url_hosts: frozenset[str] = field(default=frozenset(), converter=_hosts)
    webhook_max_attempts: int = field(default=10, validator=_positive)
    webhook_initial_backoff: float = field(default=1.0, converter=_seconds, validator=_positive)
    webhook_max_backoff: float = field(default=60.0, converter=_seconds, validator=_positive)
    webhook_timeout: float = field(default=10.0, converter=_seconds, validator=_positive)
    max_download_bytes: int = field(default=2_200_000_000, validator=_positive)
    webhook_allow_loopback: bool = field(default=False, validator=validators.instance_of(bool))
    upload_retention: float | None = field(
        default=86_400.0, converter=_opt_seconds, validator=_positive
    )
    max_audio_duration: float = field(default=36_000.0, converter=_seconds, validator=_positive)
    max_job_time: float = field(default=14_400.0, converter=_seconds, validator=_positive)
    body_timeout: float = field(default=30.0, converter=_seconds, validator=_positive)

    @property
    def uploads_dir(self) -> Path:
        """Directory holding completed uploads."""
        return self.data_dir / "uploads"

    @property
    def tmp_dir(self) -> Path:
        """Directory for partial files (same file system, so renames are atomic)."""
        return self.data_dir / "tmp"

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "engine.sqlite3"

    @property
    def models_dir(self) -> Path:
        """Cache of assembled recognition models."""
        return self.model_cache_dir or self.data_dir / "models"
