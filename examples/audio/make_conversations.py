"""Regenerate the multi-voice conversations in ``conversations/`` (needs espeak-ng, Festival, sox).

``apt-get install espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox``,
then ``python examples/audio/make_conversations.py``.

Each turn is synthesised on its own, cut tight at its first and last word and
joined to the next with a chosen gap: long pauses, short ones, and quick turns
with no gap at all. Every word's start and end come from the synthesiser itself
(espeak-ng's phoneme events, Festival's segment times), so
``conversations.json`` holds the true word times and speakers that
``benchmarks/engine.py`` measures word timing and diarization error against.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np
from make_samples import encode

HERE = Path(__file__).parent
OUT = HERE / "conversations"
RATE = 16_000
EDGE_MS = 15  # kept around each turn's first and last word, then faded
LEVEL_DBFS = -20.0
NOISE_DBFS = -62.0

Voice = tuple[str, str]  # ("espeak", "en-us+f3") or ("festival", "kal_diphone")

CONVERSATIONS: dict[str, dict[str, Any]] = {
    "short_call.mp3": {
        "voices": {"agent": ("festival", "cmu_us_slt_arctic_hts"), "caller": ("espeak", "en-us")},
        "turns": [
            ("agent", "Thank you for calling the help desk, how can I help you today?", 300),
            ("caller", "My internet connection keeps dropping every evening.", 0),
            ("agent", "I am sorry to hear that. Let me check your line.", 500),
            ("caller", "Thanks, I will wait.", 0),
        ],
    },
    "support_call.mp3": {
        "voices": {"agent": ("festival", "cmu_us_slt_arctic_hts"), "caller": ("espeak", "en-us")},
        "turns": [
            ("agent", "Good morning, you are through to customer support, my name is Sarah.", 600),
            ("caller", "Hi Sarah, I was charged twice for my subscription this month.", 150),
            ("agent", "I am sorry about that. Could you give me your account number?", 0),
            ("caller", "Yes, it is four seven one nine two.", 800),
            ("agent", "Thank you. I can see the duplicate payment on your account.", 60),
            ("caller", "Can you refund the second one?", 0),
            ("agent", "Of course. The refund will reach your card within five working days.", 400),
            ("caller", "Great, thank you very much for your help.", 0),
        ],
    },
    "two_hosts.mp3": {
        "voices": {"kal": ("festival", "kal_diphone"), "ked": ("festival", "ked_diphone")},
        "turns": [
            (
                "kal",
                "Welcome back to the morning show, today we are talking about city gardens.",
                500,
            ),
            (
                "ked",
                "Thanks for having me. Community gardens have doubled in the last ten years.",
                0,
            ),
            ("kal", "Why do you think they became so popular?", 200),
            ("ked", "People want fresh vegetables and a place to meet their neighbours.", 700),
            ("kal", "And what about the cost of starting one?", 0),
            ("ked", "Most gardens start with a small grant from the city council.", 300),
            ("kal", "That sounds like a good deal for everyone.", 0),
        ],
    },
    "two_espeak_voices.mp3": {
        "voices": {"m": ("espeak", "en+m3"), "f": ("espeak", "en-us+f4")},
        "turns": [
            ("m", "Did you finish the quarterly report for the finance team?", 400),
            ("f", "Almost, I still need the sales figures from the northern region.", 0),
            ("m", "I can send them to you this afternoon.", 120),
            ("f", "Perfect, then the report will be ready on Friday.", 600),
            ("m", "Great, the board meeting is on Monday morning.", 0),
            ("f", "I will print copies for everyone before the meeting starts.", 250),
        ],
    },
    "team_meeting.mp3": {
        "voices": {
            "lead": ("espeak", "en+m3"),
            "design": ("festival", "cmu_us_slt_arctic_hts"),
            "dev": ("festival", "kal_diphone"),
        },
        "turns": [
            ("lead", "Let us start the weekly meeting. First item is the new mobile app.", 500),
            ("design", "The new screens are finished and the colours follow the brand guide.", 0),
            ("dev", "Great, I can start building the login page tomorrow.", 300),
            ("lead", "How long will the payment screen take?", 0),
            ("dev", "About two weeks, because the bank needs to test it as well.", 700),
            ("design", "I will send you the icons by Wednesday.", 100),
            ("lead", "Good. Next item is the customer survey.", 0),
            ("design", "Most customers asked for a dark mode and bigger buttons.", 400),
            ("dev", "Dark mode is easy, the buttons need a new layout.", 0),
            ("lead", "Thanks everyone, see you next week.", 300),
        ],
    },
}


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class Espeak:
    """espeak-ng through its C API, which reports when each word and phoneme starts."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        # AUDIO_OUTPUT_SYNCHRONOUS, with phoneme events.
        self.rate = self.lib.espeak_Initialize(2, 0, None, 1)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, str]] = []
        self._callback = _Callback(self._collect)
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != 0:
            e = events[i]
            name = e.id.decode(errors="replace") if e.type == 7 else ""
            self._events.append((e.type, e.text_position, e.length, e.audio_position, name))
            i += 1
        return 0

    def synth(self, text: str, voice: str) -> tuple[np.ndarray, int, list[dict[str, Any]]]:
        self._chunks.clear()
        self._events.clear()
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(1, 165, 0)  # words per minute
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 1, None, None)
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks).astype(np.float32) / 32768
        words = []
        events = self._events
        for kind, pos, length, _t, _n in events:
            if kind != 1:
                continue
            phones = [
                (j, t)
                for j, (kk, p, _l, t, n) in enumerate(events)
                if kk == 7 and p == pos and not n.startswith("_")
            ]
            if not phones:
                continue
            last = phones[-1][0]
            following = [t for (kk, _p, _l, t, _n) in events[last + 1 :] if kk in (1, 5, 7)]
            end = following[0] if following else len(audio) * 1000 // self.rate
            words.append(
                {"text": text[pos - 1 : pos - 1 + length], "start": phones[0][1], "end": end}
            )
        return audio, self.rate, words


def festival(text: str, voice: str, tmp: Path) -> tuple[np.ndarray, int, list[dict[str, Any]]]:
    """Festival: the wave, and each word's span from its first and last segment."""
    wav = tmp / "festival.wav"
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    script = f"""
(voice_{voice})
(set! utt (Utterance Text "{quoted}"))
(utt.synth utt)
(utt.save.wave utt "{wav}" 'riff)
(mapcar (lambda (w) (format t "W\\t%s\\t%f\\t%f\\n" (item.name w)
  (item.feat w "R:SylStructure.daughter1.daughter1.R:Segment.p.end")
  (item.feat w "R:SylStructure.daughtern.daughtern.R:Segment.end")))
  (utt.relation.items utt 'Word))
"""
    (tmp / "festival.scm").write_text(script)
    out = subprocess.run(
        ["festival", "-b", str(tmp / "festival.scm")], check=True, capture_output=True, text=True
    ).stdout
    words = []
    for line in out.splitlines():
        if line.startswith("W\t"):
            _, name, start, end = line.split("\t")
            words.append(
                {"text": name, "start": round(float(start) * 1000), "end": round(float(end) * 1000)}
            )
    with wave.open(str(wav)) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return audio, rate, words


def resample(audio: np.ndarray, rate: int, tmp: Path) -> np.ndarray:
    if rate == RATE:
        return audio
    src, dst = tmp / "in.wav", tmp / "out.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    subprocess.run(["sox", str(src), "-r", str(RATE), str(dst)], check=True)
    with wave.open(str(dst)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def build(spec: dict[str, Any], espeak: Espeak, tmp: Path) -> tuple[np.ndarray, dict[str, Any]]:
    # Speakers are lettered in order of first appearance, as the hosted API does.
    names = list(dict.fromkeys(speaker for speaker, _, _ in spec["turns"]))
    parts: list[np.ndarray] = []
    words: list[dict[str, Any]] = []
    turns = []
    pos = 0  # samples written so far
    edge = EDGE_MS * RATE // 1000
    fade = np.linspace(0.0, 1.0, edge, dtype=np.float32)
    for speaker, text, gap_ms in spec["turns"]:
        engine, voice = spec["voices"][speaker]
        if engine == "espeak":
            audio, rate, turn_words = espeak.synth(text, voice)
        else:
            audio, rate, turn_words = festival(text, voice, tmp)
        audio = resample(audio, rate, tmp)
        lo = max(0, turn_words[0]["start"] * RATE // 1000 - edge)
        hi = min(len(audio), turn_words[-1]["end"] * RATE // 1000 + edge)
        clip = audio[lo:hi].copy()
        clip[:edge] *= fade
        clip[-edge:] *= fade[::-1]
        rms = float(np.sqrt(np.mean(clip**2)))
        clip *= 10 ** (LEVEL_DBFS / 20) / max(rms, 1e-6)
        offset_ms = (pos - lo) * 1000 / RATE
        label = chr(ord("A") + names.index(speaker))
        for w in turn_words:
            words.append(
                {
                    "text": w["text"],
                    "start": round(w["start"] + offset_ms),
                    "end": round(w["end"] + offset_ms),
                    "speaker": label,
                }
            )
        turns.append({"speaker": label, "voice": f"{engine} {voice}", "text": text})
        parts.append(clip)
        gap = np.zeros(gap_ms * RATE // 1000, np.float32)
        parts.append(gap)
        pos += len(clip) + len(gap)
    lead = np.zeros(RATE // 2, np.float32)  # half a second before the first word
    joined = np.concatenate([lead, *parts, lead])
    for w in words:
        w["start"] += 500
        w["end"] += 500
    rng = np.random.default_rng(12)
    joined += rng.normal(0, 10 ** (NOISE_DBFS / 20), len(joined)).astype(np.float32)
    ref = {
        "text": " ".join(t["text"] for t in turns),
        "speakers": len(names),
        "voices": {chr(ord("A") + i): " ".join(spec["voices"][n]) for i, n in enumerate(names)},
        "duration_s": round(len(joined) / RATE, 2),
        "turns": turns,
        "words": words,
    }
    return joined, ref


def main() -> None:
    OUT.mkdir(exist_ok=True)
    espeak = Espeak()
    refs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in CONVERSATIONS.items():
            audio, refs[name] = build(spec, espeak, Path(tmp))
            encode(audio, OUT / name, rate=RATE, bit_rate=32000)
    (OUT / "conversations.json").write_text(json.dumps(refs, indent=1) + "\n")


if __name__ == "__main__":
    main()
