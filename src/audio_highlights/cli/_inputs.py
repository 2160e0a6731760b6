"""Turn the command's arguments into inputs, checked before anything is started.

URLs pass as they are. A file named on the command line is checked at once
(it exists, is readable, is not empty), so a typo is reported in the first
second rather than when its turn comes. A directory is walked for audio and
video files, and a pattern (``*``, ``?``, ``[...]``, ``**``) is expanded here,
since shells on Windows pass it through unexpanded; files found that way that
are not audio or video (by extension) are skipped and counted, never uploaded.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence

import attrs

from .._sources import is_url

__all__ = ["MEDIA_EXTENSIONS", "Expansion", "Input", "expand_inputs", "media_duration"]

_GLOB_CHARS = frozenset("*?[")

#: File name extensions taken for audio or video when walking a directory or a pattern
#: (the containers ffmpeg reads that the hosted API also lists as supported).
MEDIA_EXTENSIONS = frozenset(
    {
        # audio
        ".3ga", ".8svx", ".aac", ".ac3", ".aif", ".aifc", ".aiff", ".alac", ".amr", ".ape",
        ".au", ".caf", ".dss", ".flac", ".m4a", ".m4b", ".m4p", ".m4r", ".mka", ".mp2",
        ".mp3", ".mpga", ".oga", ".ogg", ".opus", ".qcp", ".spx", ".tta", ".voc", ".wav",
        ".weba", ".wma", ".wv",
        # video
        ".3gp", ".avi", ".flv", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg",
        ".mts", ".mxf", ".ogv", ".ts", ".webm", ".wmv",
    }
)  # fmt: skip


@attrs.frozen
class Input:
    """One input of the command.

    Attributes:
        source: The path or URL to transcribe.
        problem: Why it cannot be transcribed (no such file, empty, a pattern
            that matched nothing), or ``None``.
    """

    source: str
    problem: str | None = None


@attrs.frozen
class Expansion:
    """The inputs of a command line, and what was passed over to find them.

    Attributes:
        inputs: Every input, in the order given (directories and patterns sorted).
        skipped: Files found in directories or by patterns that are not audio or video.
    """

    inputs: list[Input]
    skipped: list[str]


def _is_media(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in MEDIA_EXTENSIONS


def _check_file(path: str) -> str | None:
    """Why the file cannot be sent, or ``None``: the checks the upload would make later."""
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "is a directory"
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    return "the file is empty (0 bytes)" if empty else None


def _walk(directory: str) -> Iterator[str]:
    for root, dirs, files in os.walk(directory):
        # Hidden directories (.git, .cache ...) hold no recordings worth sending.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def expand_inputs(arguments: Sequence[str]) -> Expansion:
    """Expand and check each argument: URLs, files, directories and patterns.

    A file reached twice (named, and again through a directory or a pattern)
    is an input once.
    """
    inputs: list[Input] = []
    skipped: list[str] = []
    seen: set[str] = set()

    def add(item: Input) -> None:
        key = item.source if is_url(item.source) else os.path.realpath(item.source)
        if key not in seen:
            seen.add(key)
            inputs.append(item)

    def add_found(argument: str, found: list[str], what: str) -> None:
        media = [p for p in found if _is_media(p)]
        skipped.extend(p for p in found if not _is_media(p))
        if not media:
            others = f" ({len(found)} other files skipped)" if found else ""
            inputs.append(Input(argument, problem=f"no audio or video file {what}{others}"))
        for path in media:
            add(Input(path, problem=_check_file(path)))

    for argument in arguments:
        if is_url(argument):
            add(Input(argument))
            continue
        path = os.path.expanduser(argument)
        if os.path.isdir(path):
            add_found(argument, list(_walk(path)), "in this directory")
        elif os.path.exists(path) or not _GLOB_CHARS.intersection(argument):
            # Named explicitly: sent whatever its extension, if it can be read.
            add(Input(path, problem=_check_file(path)))
        else:
            matches = sorted(m for m in glob.glob(path, recursive=True) if os.path.isfile(m))
            if not matches:
                inputs.append(Input(argument, problem="no file matches this pattern"))
            else:
                add_found(argument, matches, "matches this pattern")
    return Expansion(inputs=inputs, skipped=skipped)


def media_duration(path: str) -> float | None:
    """The length of a local audio or video file in seconds, or ``None`` when unknown.

    Read from the container's header with PyAV, which comes with the engine
    extra; without it (a CLI that only talks to a remote API) the length is
    left to the transcript.
    """
    try:
        import av  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    try:
        with av.open(path, mode="r") as container:
            if container.duration is not None:
                return float(container.duration / av.time_base)
            for stream in container.streams.audio:
                if stream.duration is not None and stream.time_base is not None:
                    return float(stream.duration * stream.time_base)
    except (av.FFmpegError, OSError, ValueError):
        pass
    return None
