"""An in-process fake of the AssemblyAI v2 API for the SDK's tests.

Built on anyio + h11 so it runs inside the test's own event loop on both asyncio and trio.
The wire contract follows ``/work/shared/reference/assemblyai-openapi.json`` and the
"Wire contract" section of ``NOTES.md``. Usage::

    async with serve_fake(api_key="k", complete_after=0.1) as server:
        async with httpx2.AsyncClient(base_url=server.base_url) as client:
            ...
        assert server.created_jobs == 1
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import anyio
import anyio.abc
import anyio.lowlevel
import h11
import httpx2
from anyio.from_thread import start_blocking_portal

# Real timings for the opening of AssemblyAI's wildfires.mp3 example (NOTES.md examples/).
CANNED_WORDS: list[tuple[str, int, int]] = [
    ("Smoke", 250, 650),
    ("from", 730, 1022),
    ("hundreds", 1076, 1418),
    ("of", 1434, 1614),
    ("wildfires", 1652, 2346),
    ("in", 2378, 2526),
    ("Canada", 2548, 3130),
    ("is", 3210, 3454),
    ("triggering", 3492, 3946),
    ("air", 3978, 4174),
    ("quality", 4212, 4558),
    ("alerts", 4644, 5114),
    ("throughout", 5162, 5466),
    ("the", 5498, 5694),
    ("US.", 5732, 6382),
]
# (phrase, rank), highest rank first, as the hosted API orders them.
CANNED_HIGHLIGHTS: list[tuple[str, float]] = [
    ("air quality alerts", 0.08),
    ("wildfires", 0.07),
    ("Canada", 0.06),
    ("Smoke", 0.05),
]
FAILED_JOB_ERROR = "Transcoding failed. File does not appear to contain audio."
STATUSES = ("queued", "processing", "completed", "error")
_READ_SIZE = 65536

FaultKind = Literal[
    "respond", "close", "close_mid_body", "stall", "trickle", "endless", "respond_after",
    "close_after",
]

#: What the random fault mode (``FakeServer(fault_rate=...)``) draws from, uniformly.
#: ``reset_before``: hang up before reading the request (nothing was processed).
#: ``reset_after``: process the request (job created, upload stored), then hang up unanswered.
#: ``truncated``: process it, then send the headers and half the body before hanging up.
#: ``malformed``: process it, then answer 200 with a body that is not JSON.
#: ``500_after``: process it (job created, upload stored), then answer 500 anyway.
#: ``stall``: sleep ``stall_seconds`` (past the client's read timeout), then hang up.
#: The numeric kinds answer that status without processing (429 with ``Retry-After``).
RANDOM_FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "reset_before",
    "reset_after",
    "truncated",
    "malformed",
    "500_after",
    "stall",
)
# Kinds that let the request through and spoil only the answer.
_AFTER_KINDS = frozenset({"reset_after", "truncated", "malformed", "500_after"})


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``times`` matching requests.

    Kinds: ``respond`` sends ``status``/``headers``/``body`` instead of the real answer;
    ``close`` drops the connection before reading the request body; ``close_mid_body`` drops
    it once ``after_bytes`` of the body have arrived; ``stall`` sleeps ``seconds`` and then
    answers normally (handy for client timeouts); ``trickle`` sends ``status``, ``headers``
    and a ``Content-Length`` of ``declared`` bytes, then one byte every ``seconds``;
    ``endless`` sends ``status`` and ``headers``, then a chunked body of 64 KiB pieces, one
    every ``seconds`` (0: as fast as the client reads), that never ends; ``respond_after``
    and ``close_after`` first process the request (the job is created, the upload stored),
    then answer ``status``/``headers``/``body`` or hang up.
    """

    kind: FaultKind = "respond"
    method: str = "*"  # "*" matches any method
    path: str = "/"  # path prefix
    times: int = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | dict[str, Any] = b""
    seconds: float = 0.0
    after_bytes: int = 1
    declared: int = 1_000_000  # the Content-Length a ``trickle`` announces
    hits: int = 0  # how many requests this fault has affected so far

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault still applies to a request for ``method path``."""
        return (
            self.hits < self.times and self.method in ("*", method) and path.startswith(self.path)
        )


@dataclass
class Upload:
    """What the server saw of one ``POST /v2/upload`` body."""

    size: int
    sha256: str
    chunked: bool
    content_length: str | None
    url: str
    body: bytes | None = None  # only kept with ``keep_uploads=True``


@dataclass
class RecordedRequest:
    """One request as received, recorded before auth and faults are applied."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lowercase names; a repeated header keeps its last value
    time: float  # time.monotonic() at arrival


@dataclass
class Job:
    """A transcription job; its status is a function of its age."""

    id: str
    request: dict[str, Any]
    created: float  # time.monotonic()
    created_at: datetime
    processing_after: float
    complete_after: float
    fail: bool
    deleted: bool = False
    clock: Callable[[], float] = time.monotonic

    @property
    def status(self) -> str:
        """Current lifecycle status, derived from elapsed time."""
        age = self.clock() - self.created
        if self.deleted or age >= self.complete_after:
            return "error" if self.fail and not self.deleted else "completed"
        return "processing" if age >= self.processing_after else "queued"


class _Drop(Exception):
    """Raised inside a connection handler to hang up without answering."""


# Ways a connection ends that are the client's doing (or ours, on purpose): never noisy.
_DISCONNECTS = (
    _Drop,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    h11.ProtocolError,
    OSError,
)


@dataclass
class FakeServer:
    """State and knobs of the fake; tests may read and change any attribute while it runs.

    Options (constructor keywords, also passed through ``serve_fake``): ``api_key``,
    ``processing_after``, ``complete_after``, ``fail_jobs``, ``keep_uploads``,
    ``not_found_style`` ("404" per the spec, "400" per AssemblyAI's troubleshooting guide),
    ``words`` (the transcript every job yields) and ``highlights`` (candidate phrases and ranks).

    Random fault mode (off unless ``fault_rate > 0``): each request, with probability
    ``fault_rate``, suffers one of ``fault_kinds`` (see :data:`RANDOM_FAULT_KINDS`), drawn
    from a ``random.Random(seed)``; ``injected`` counts them by kind. ``retry_after`` is the
    ``Retry-After`` a random 429 carries, ``stall_seconds`` how long a random stall lasts.
    ``open_connections`` is how many connections are being served right now.

    ``idempotency=False`` ignores ``Idempotency-Key`` (as the hosted API documents no such
    header): every submit that gets through creates a job. ``list_lag`` hides jobs younger
    than that many seconds from ``GET /v2/transcript`` (an eventually consistent listing).
    ``echo_key=True`` echoes the ``authorization`` it was sent everywhere a careless server
    might: a header, the request id, every error message and HTML page, garbled bodies,
    ``upload_url`` and so the ``error`` of failed jobs (for the key-leak tests).
    """

    api_key: str | None = None
    processing_after: float = 0.0
    complete_after: float = 0.2
    fail_jobs: bool = False
    keep_uploads: bool = False
    not_found_style: Literal["404", "400"] = "404"
    words: list[tuple[str, int, int]] = field(default_factory=lambda: list(CANNED_WORDS))
    highlights: list[tuple[str, float]] = field(default_factory=lambda: list(CANNED_HIGHLIGHTS))
    base_url: str = ""
    faults: list[Fault] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    created_jobs: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    idempotency_keys: dict[str, str] = field(default_factory=dict)  # key -> job id
    errors: list[Exception] = field(default_factory=list)  # bugs in the fake itself
    connections: int = 0  # accepted TCP connections, to observe keep-alive reuse
    open_connections: int = 0  # connections currently being served (leak checks)
    fault_rate: float = 0.0
    seed: int | None = None
    fault_kinds: tuple[str, ...] = RANDOM_FAULT_KINDS
    retry_after: str = "0.05"
    stall_seconds: float = 1.0
    injected: dict[str, int] = field(default_factory=dict)  # random faults applied, by kind
    idempotency: bool = True
    list_lag: float = 0.0
    echo_key: bool = False
    clock: Callable[[], float] = time.monotonic  # job ages and request times

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _draw_fault(self) -> str | None:
        """The random fault for the next request, or None (always None when the rate is 0)."""
        if self.fault_rate <= 0 or self._rng.random() >= self.fault_rate:
            return None
        kind = self._rng.choice(self.fault_kinds)
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind

    @property
    def faults_injected(self) -> int:
        """Total random faults applied so far."""
        return sum(self.injected.values())

    # --- connection plumbing -------------------------------------------------------------

    async def _handle_connection(self, stream: anyio.abc.SocketStream) -> None:
        """Serve HTTP/1.1 requests on one connection until either side closes it."""
        self.connections += 1
        self.open_connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            async with stream:
                try:
                    while True:
                        event = await _next_event(conn, stream)
                        if not isinstance(event, h11.Request):
                            return  # ConnectionClosed, or garbage we don't try to answer
                        await self._handle_request(conn, stream, event)
                        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                            return
                        conn.start_next_cycle()
                except _DISCONNECTS:
                    # Client went away or spoke nonsense: just hang up, quietly.
                    return
        finally:
            self.open_connections -= 1

    async def _handle_request(
        self, conn: h11.Connection, stream: anyio.abc.SocketStream, req: h11.Request
    ) -> None:
        """Record, apply faults and auth, route, and answer one request."""
        target = urlsplit(req.target.decode("latin-1"))
        method, path = req.method.decode("ascii").upper(), target.path
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        self.requests.append(RecordedRequest(method, path, query, headers, self.clock()))
        echo = headers.get("authorization", "") if self.echo_key else None

        fault = next((f for f in self.faults if f.matches(method, path)), None)
        after: Fault | None = None
        if fault is not None and fault.kind in ("respond_after", "close_after"):
            fault.hits += 1
            fault, after = None, fault
        if fault is not None:
            fault.hits += 1
            if fault.kind == "close":
                raise _Drop
            if fault.kind == "close_mid_body":
                await _read_body(conn, stream, stop_after=fault.after_bytes)
                raise _Drop
            if fault.kind in ("trickle", "endless"):
                await _read_body(conn, stream)
                await _never_finish(conn, stream, fault)
            if fault.kind == "stall":
                await anyio.sleep(fault.seconds)
            else:
                await _read_body(conn, stream)
                body = fault.body
                raw = json.dumps(body).encode() if isinstance(body, dict) else body
                await _respond(conn, stream, fault.status, raw, fault.headers, echo=echo)
                return

        spoil = None if after is not None else self._draw_fault()
        if spoil == "reset_before":
            raise _Drop
        if spoil == "stall":
            await anyio.sleep(self.stall_seconds)
            raise _Drop
        if spoil is not None and spoil not in _AFTER_KINDS:
            await _read_body(conn, stream)
            status = int(spoil)
            headers_out = {"retry-after": self.retry_after} if status == 429 else {}
            if status == 502:
                # What a proxy in front of the API says: HTML, not JSON.
                headers_out["content-type"] = "text/html"
                await _respond(conn, stream, status, b"<html><h1>502 Bad Gateway</h1></html>",
                               headers_out, echo=echo)
            else:
                await _respond(conn, stream, status,
                               json.dumps({"error": f"injected {status}"}).encode(), headers_out,
                               echo=echo)
            return

        if self.api_key is not None and headers.get("authorization") != self.api_key:
            await _read_body(conn, stream)
            await _respond_json(
                conn, stream, 401, {"error": "Authentication error, API token missing/invalid"},
                echo=echo,
            )
            return

        try:
            if method == "POST" and path == "/v2/upload":
                status, payload = await self._upload(conn, stream, headers)
            else:
                body = await _read_body(conn, stream)
                status, payload = self._route(method, path, query, headers, body, target.query)
        except _DISCONNECTS:
            raise
        except Exception as exc:  # a bug in the fake: surface it to the test, don't hang
            self.errors.append(exc)
            if conn.their_state is not h11.DONE:
                raise _Drop from exc
            status, payload = 500, {"error": f"fake server bug: {exc!r}"}
        if after is not None:
            if after.kind == "close_after":
                raise _Drop
            body = after.body
            raw = json.dumps(body).encode() if isinstance(body, dict) else body
            await _respond(conn, stream, after.status, raw, after.headers, echo=echo)
            return
        if isinstance(payload, str):
            await _respond(conn, stream, status, payload, {"content-type": "text/plain"}, echo=echo)
            return
        if spoil is None:
            await _respond_json(conn, stream, status, payload, echo=echo)
            return
        # The request was processed; only the answer goes wrong.
        if spoil == "reset_after":
            raise _Drop
        if spoil == "500_after":
            await _respond_json(conn, stream, 500, {"error": "injected 500 after processing"},
                                echo=echo)
            return
        raw = json.dumps(payload).encode()
        if spoil == "malformed":
            garbled = raw[: len(raw) // 2] + f"<!-- garbled {echo or ''} -->".encode()
            await _respond(conn, stream, 200, garbled, echo=echo)
            return
        out = conn.send(
            h11.Response(
                status_code=status,
                headers=[("content-type", "application/json"), ("content-length", str(len(raw))),
                         *_echo_headers(echo).items()],
            )
        )
        out += conn.send(h11.Data(data=raw[: len(raw) // 2]))
        await stream.send(out)
        raise _Drop

    # --- endpoints ---------------------------------------------------------------------

    async def _upload(
        self, conn: h11.Connection, stream: anyio.abc.SocketStream, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Stream the raw upload body, keeping only its size and hash unless asked to."""
        digest, size = hashlib.sha256(), 0
        kept: list[bytes] | None = [] if self.keep_uploads else None
        while True:
            event = await _next_event(conn, stream)
            if isinstance(event, h11.Data):
                digest.update(event.data)
                size += len(event.data)
                if kept is not None:
                    kept.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise _Drop
        if size == 0:
            return 400, {"error": "Upload failed: the request body is empty."}
        url = f"{self.base_url}/files/{uuid.uuid4()}"
        if self.echo_key:
            url += f"?token={headers.get('authorization', '')}"
        self.uploads.append(
            Upload(
                size=size,
                sha256=digest.hexdigest(),
                chunked="chunked" in headers.get("transfer-encoding", "").lower(),
                content_length=headers.get("content-length"),
                url=url,
                body=b"".join(kept) if kept is not None else None,
            )
        )
        return 200, {"upload_url": url}

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        raw_query: str,
    ) -> tuple[int, dict[str, Any] | str]:
        """Dispatch a fully-read request to its endpoint (text for subtitles)."""
        if path == "/v2/transcript":
            if method == "POST":
                return self._create(headers, body)
            if method == "GET":
                return self._list(query, raw_query)
            return 405, {"error": "Method not allowed"}
        prefix = "/v2/transcript/"
        if path.startswith(prefix) and path[len(prefix) :].count("/") == 1:
            if method != "GET":
                return 405, {"error": "Method not allowed"}
            job_id, view = path[len(prefix) :].split("/")
            return self._view(self.jobs.get(job_id), view, query)
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            job = self.jobs.get(path[len(prefix) :])
            if method not in ("GET", "DELETE"):
                return 405, {"error": "Method not allowed"}
            if job is None:
                if self.not_found_style == "400":
                    return 400, {"error": "Transcript lookup error, transcript id not found"}
                return 404, {"error": "Transcript not found"}
            if method == "DELETE":
                if job.status in ("queued", "processing"):
                    return 400, {"error": "Transcript is still processing and cannot be deleted"}
                job.deleted = True
            return 200, self.transcript_json(job)
        return 404, {"error": "Not found"}

    def _view(
        self, job: Job | None, view: str, query: dict[str, str]
    ) -> tuple[int, dict[str, Any] | str]:
        """``/v2/transcript/{id}/sentences|paragraphs|word-search|srt|vtt`` of a completed job."""
        if view not in ("sentences", "paragraphs", "word-search", "srt", "vtt"):
            return 404, {"error": "Not found"}
        if job is None:
            return 404, {"error": "Transcript not found"}
        if job.status != "completed":
            return 400, {"error": f"Transcript is not completed (status: {job.status})"}
        words = self.transcript_json(job)["words"]
        sentences: list[list[dict[str, Any]]] = [[]]
        for w in words:
            sentences[-1].append(w)
            if w["text"].endswith((".", "?", "!")):
                sentences.append([])
        groups = [g for g in sentences if g]
        if view in ("sentences", "paragraphs"):
            blocks = groups if view == "sentences" else [[w for g in groups for w in g]]
            items = [
                {
                    "text": " ".join(w["text"] for w in g),
                    "start": g[0]["start"],
                    "end": g[-1]["end"],
                    "confidence": 0.98,
                    "words": g,
                    **({"speaker": None} if view == "sentences" else {}),
                }
                for g in blocks
            ]
            return 200, {"id": job.id, "confidence": 0.98, "audio_duration": 6.9, view: items}
        if view == "word-search":
            terms = [t for t in query.get("words", "").split(",") if t.strip()]
            if not terms:
                return 400, {"error": "words is required"}
            norm = [w["text"].strip(".,!?").lower() for w in words]
            matches = []
            for term in terms:
                parts = term.lower().split()
                found = [i for i in range(len(norm)) if norm[i : i + len(parts)] == parts]
                stamps = [[words[i]["start"], words[i + len(parts) - 1]["end"]] for i in found]
                matches.append(
                    {"text": term, "count": len(found), "timestamps": stamps, "indexes": found}
                )
            total = sum(m["count"] for m in matches)
            return 200, {"id": job.id, "total_count": total, "matches": matches}
        limit = int(query.get("chars_per_caption", "32"))
        sep = "," if view == "srt" else "."
        lines = [] if view == "srt" else ["WEBVTT", ""]
        captions: list[list[dict[str, Any]]] = [[]]
        for w in words:
            if captions[-1] and len(" ".join(x["text"] for x in [*captions[-1], w])) > limit:
                captions.append([])
            captions[-1].append(w)
        for n, cap in enumerate(captions, 1):
            if view == "srt":
                lines.append(str(n))
            lines.append(f"{_clock(cap[0]['start'], sep)} --> {_clock(cap[-1]['end'], sep)}")
            lines += [" ".join(x["text"] for x in cap), ""]
        return 200, "\n".join(lines)

    def _create(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /v2/transcript``: validate, dedupe on Idempotency-Key, create a job."""
        try:
            params = json.loads(body)
        except ValueError:
            return 400, {"error": "Invalid JSON in request body"}
        if not isinstance(params, dict):
            return 400, {"error": "Request body must be a JSON object"}
        if not isinstance(params.get("audio_url"), str) or not params["audio_url"]:
            return 400, {"error": "audio_url is required and must be a string"}
        key = headers.get("idempotency-key") if self.idempotency else None
        if key is not None and key in self.idempotency_keys:
            return 200, self.transcript_json(self.jobs[self.idempotency_keys[key]])
        job = Job(
            id=str(uuid.uuid4()),
            request=params,
            created=self.clock(),
            clock=self.clock,
            created_at=datetime.now(timezone.utc).replace(tzinfo=None),
            processing_after=self.processing_after,
            complete_after=self.complete_after,
            fail=self.fail_jobs or "fail" in params["audio_url"],
        )
        self.jobs[job.id] = job
        self.created_jobs += 1
        if key is not None:
            self.idempotency_keys[key] = job.id
        return 200, self.transcript_json(job, status="queued")

    def _list(self, query: dict[str, str], raw_query: str) -> tuple[int, dict[str, Any]]:
        """``GET /v2/transcript``: newest first; prev_url pages to older, next_url to newer."""
        try:
            limit = int(query.get("limit", "10"))
        except ValueError:
            return 400, {"error": "limit must be an integer"}
        if not 1 <= limit <= 200:
            return 400, {"error": "limit must be between 1 and 200"}
        status = query.get("status")
        if status is not None and status not in STATUSES:
            return 400, {"error": f"Invalid status: {status}"}
        now = self.clock()
        ordered = [
            j
            for j in self.jobs.values()
            if (status is None or j.status == status) and now - j.created >= self.list_lag
        ]
        ids = [j.id for j in ordered]  # oldest first
        # Cursors compare by creation order, since the cursor may itself be filtered out.
        rank = {job_id: i for i, job_id in enumerate(self.jobs)}
        for name in ("before_id", "after_id"):
            if name in query and query[name] not in self.jobs:
                return 400, {"error": f"Invalid {name}"}
        if "before_id" in query:
            ordered = [j for j in ordered if rank[j.id] < rank[query["before_id"]]]
            page = ordered[-limit:]
        elif "after_id" in query:
            ordered = [j for j in ordered if rank[j.id] > rank[query["after_id"]]]
            page = ordered[:limit]  # the newer page adjacent to the cursor
        else:
            page = ordered[-limit:]
        page.reverse()
        base = {"limit": str(limit)} | ({"status": status} if status else {})
        older = bool(page) and ids.index(page[-1].id) > 0
        newer = bool(page) and ids.index(page[0].id) < len(ids) - 1
        url = f"{self.base_url}/v2/transcript"
        return 200, {
            "page_details": {
                "limit": limit,
                "result_count": len(page),
                "current_url": f"{url}?{raw_query}" if raw_query else url,
                "prev_url": f"{url}?{urlencode(base | {'before_id': page[-1].id})}"
                if older
                else None,
                "next_url": f"{url}?{urlencode(base | {'after_id': page[0].id})}"
                if newer
                else None,
            },
            "transcripts": [self._list_item(j) for j in page],
        }

    # --- payloads ----------------------------------------------------------------------

    def _list_item(self, job: Job) -> dict[str, Any]:
        """A ``TranscriptListItem`` for ``job``."""
        status = job.status
        return {
            "id": job.id,
            "resource_url": f"{self.base_url}/v2/transcript/{job.id}",
            "status": status,
            "created": job.created_at.isoformat(),
            "completed": _completed_at(job) if status == "completed" else None,
            "audio_url": "http://deleted_by_user" if job.deleted else job.request["audio_url"],
            "error": self._failure(job) if status == "error" else None,
        }

    def _failure(self, job: Job) -> str:
        """A failed job's ``error`` (quoting its ``audio_url`` in echo mode, as downloads do)."""
        if self.echo_key:
            return f"Download error, unable to download {job.request['audio_url']}"
        return FAILED_JOB_ERROR

    def transcript_json(self, job: Job, status: str | None = None) -> dict[str, Any]:
        """The ``Transcript`` object for ``job`` as the API would return it right now.

        ``status`` overrides the time-derived one: creation always answers ``queued``.
        """
        req = job.request
        status = status or job.status
        out: dict[str, Any] = dict(req)  # unknown request fields are echoed back
        out.update(
            id=job.id,
            status=status,
            audio_url=req["audio_url"],
            auto_highlights=bool(req.get("auto_highlights", False)),
            speech_models=req.get("speech_models"),
            speech_model=None,
            language_code=req.get("language_code", "en_us"),
            webhook_url=req.get("webhook_url"),
            webhook_auth=bool(req.get("webhook_auth_header_name")),
            language_model="assemblyai_default",
            acoustic_model="assemblyai_default",
            redact_pii=bool(req.get("redact_pii", False)),
            summarization=bool(req.get("summarization", False)),
            language_confidence_threshold=req.get("language_confidence_threshold"),
            language_confidence=None,
            text=None,
            words=None,
            audio_duration=None,
            confidence=None,
            auto_highlights_result=None,
            error=None,
        )
        if status == "error":
            out["error"] = self._failure(job)
        elif job.deleted:
            out.update(
                text="Deleted by user.",
                words=[],
                audio_url="http://deleted_by_user",
                audio_duration=0,
                confidence=0.0,
            )
        elif status == "completed":
            words = [
                {"text": t, "start": s, "end": e, "confidence": 0.98, "speaker": None}
                for t, s, e in self.words
            ]
            out.update(
                text=" ".join(t for t, _, _ in self.words),
                words=words,
                audio_duration=round((self.words[-1][2] if self.words else 0) / 1000 + 0.5, 1),
                confidence=0.98 if words else 0.0,
            )
            if out["auto_highlights"]:
                out["auto_highlights_result"] = {
                    "status": "success",
                    "results": _highlights(self.words, self.highlights),
                }
        return out


def _clock(ms: int, sep: str) -> str:
    """``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` (WebVTT)."""
    seconds, millis = divmod(ms, 1000)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{sep}{millis:03d}"


def _completed_at(job: Job) -> str:
    """Completion timestamp implied by the job's schedule."""
    return (job.created_at + timedelta(seconds=job.complete_after)).isoformat()


def _highlights(
    words: list[tuple[str, int, int]], phrases: list[tuple[str, float]]
) -> list[dict[str, Any]]:
    """Count case-insensitive, punctuation-stripped occurrences of each phrase, per NOTES.md."""
    norm = [t.strip(".,!?;:\"'").lower() for t, _, _ in words]
    results = []
    for phrase, rank in sorted(phrases, key=lambda p: -p[1]):
        target = phrase.lower().split()
        n = len(target)
        stamps = [
            {"start": words[i][1], "end": words[i + n - 1][2]}
            for i in range(len(norm) - n + 1)
            if norm[i : i + n] == target
        ]
        if stamps:
            results.append(
                {"count": len(stamps), "rank": rank, "text": phrase, "timestamps": stamps}
            )
    return results


# --- h11 helpers -----------------------------------------------------------------------


async def _next_event(conn: h11.Connection, stream: anyio.abc.SocketStream) -> Any:
    """Next h11 event, reading from the socket as needed; EOF becomes ConnectionClosed."""
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            data = b""
        conn.receive_data(data)


async def _read_body(
    conn: h11.Connection, stream: anyio.abc.SocketStream, stop_after: int | None = None
) -> bytes:
    """Read the request body (or, with ``stop_after``, at least that many bytes of it)."""
    chunks: list[bytes] = []
    size = 0
    while conn.their_state is h11.SEND_BODY:
        if stop_after is not None and size >= stop_after:
            break
        event = await _next_event(conn, stream)
        if isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
            size += len(event.data)
        elif isinstance(event, h11.ConnectionClosed):
            raise _Drop
    return b"".join(chunks)


async def _respond(
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    status: int,
    body: bytes | str,
    headers: dict[str, str] | None = None,
    *,
    echo: str | None = None,
) -> None:
    """Send a complete response; ``headers`` override the JSON defaults by name.

    ``echo`` (echo mode) goes into the headers and, for an error, into its body.
    """
    raw = body.encode() if isinstance(body, str) else body
    if echo is not None and status >= 300:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            payload["error"] += f" (sent authorization: {echo})"
            raw = json.dumps(payload).encode()
        else:
            raw += f"<p>authorization: {echo}</p>".encode()
    merged = {"content-type": "application/json", "x-request-id": str(uuid.uuid4())}
    merged.update(_echo_headers(echo))
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    merged["content-length"] = str(len(raw))
    out = conn.send(h11.Response(status_code=status, headers=list(merged.items())))
    out += conn.send(h11.Data(data=raw)) if raw else b""
    out += conn.send(h11.EndOfMessage())
    await stream.send(out)


async def _never_finish(
    conn: h11.Connection, stream: anyio.abc.SocketStream, fault: Fault
) -> None:
    """A ``trickle`` or ``endless`` answer: headers, then a body that never completes."""
    headers = {"content-type": "application/json"}
    headers.update({k.lower(): v for k, v in fault.headers.items()})
    if fault.kind == "trickle":
        headers["content-length"] = str(fault.declared)
    await stream.send(conn.send(h11.Response(status_code=fault.status,
                                             headers=list(headers.items()))))
    piece = b"x" if fault.kind == "trickle" else b"[" * 65536
    while True:
        await stream.send(conn.send(h11.Data(data=piece)))
        await anyio.sleep(fault.seconds)


async def _respond_json(
    conn: h11.Connection,
    stream: anyio.abc.SocketStream,
    status: int,
    payload: dict[str, Any],
    *,
    echo: str | None = None,
) -> None:
    """Send ``payload`` as a JSON response."""
    await _respond(conn, stream, status, json.dumps(payload).encode(), echo=echo)


def _echo_headers(echo: str | None) -> dict[str, str]:
    """The headers by which echo mode repeats the key: its own, and inside the request id."""
    if echo is None:
        return {}
    return {"x-echo-authorization": echo, "x-request-id": f"req-{echo}"}


@asynccontextmanager
async def serve_fake(**options: Any) -> AsyncIterator[FakeServer]:
    """Run a :class:`FakeServer` on 127.0.0.1 (free port) for the duration of the block.

    ``options`` are :class:`FakeServer` constructor keywords. All connection tasks live in a
    task group owned here and are cancelled on exit, so nothing outlives the block.
    """
    server = FakeServer(**options)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server.base_url = f"http://127.0.0.1:{port}"
    failure: Exception | None = None
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server._handle_connection, tg)
        try:
            yield server
        except Exception as exc:
            # Re-raised below, outside the task group, so a test's own assertion error is not
            # wrapped in an ExceptionGroup. Cancellation is not caught and passes straight on.
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure


class MemoryTransport(httpx2.AsyncBaseTransport):
    """Serves a :class:`FakeServer` in memory: no socket, no thread, only the event loop.

    For tests on a virtual clock (``tests/vclock.py``), where real I/O would let time
    jump while a request is on the wire. Faults of kind ``respond`` and ``stall`` apply;
    the random fault mode does not.
    """

    def __init__(self, server: FakeServer) -> None:
        self.server = server

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        server = self.server
        method, path = request.method, request.url.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        server.requests.append(RecordedRequest(method, path, query, headers, server.clock()))
        fault = next((f for f in server.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.hits += 1
            if fault.kind == "stall":
                await anyio.sleep(fault.seconds)
            elif fault.kind == "respond":
                body_out = fault.body
                raw = json.dumps(body_out).encode() if isinstance(body_out, dict) else body_out
                return _memory_response(fault.status, raw, fault.headers)
            else:
                raise httpx2.ReadError("connection dropped by the fake", request=request)
        await anyio.lowlevel.checkpoint()
        if server.api_key is not None and headers.get("authorization") != server.api_key:
            denied = {"error": "Authentication error, API token missing/invalid"}
            return _memory_response(401, denied)
        if method == "POST" and path == "/v2/upload":
            url = f"{server.base_url}/files/{uuid.uuid4()}"
            server.uploads.append(
                Upload(len(body), hashlib.sha256(body).hexdigest(), False, str(len(body)), url)
            )
            return _memory_response(200, {"upload_url": url})
        status, payload = server._route(
            method, path, query, headers, body, request.url.query.decode()
        )
        return _memory_response(status, payload)


def _memory_response(
    status: int, payload: dict[str, Any] | str | bytes, headers: dict[str, str] | None = None
) -> httpx2.Response:
    if isinstance(payload, dict):
        raw, kind = json.dumps(payload).encode(), "application/json"
    else:
        raw = payload.encode() if isinstance(payload, str) else payload
        kind = "text/plain" if isinstance(payload, str) else "application/json"
    merged = {"content-type": kind, "x-request-id": str(uuid.uuid4()), **(headers or {})}
    return httpx2.Response(status, headers=merged, content=raw)


@asynccontextmanager
async def memory_fake(**options: Any) -> AsyncIterator[tuple[FakeServer, MemoryTransport]]:
    """A :class:`FakeServer` on the event loop's clock, with its in-memory transport."""
    server = FakeServer(**options)
    server.base_url = "http://fake.test"
    server.clock = anyio.current_time
    yield server, MemoryTransport(server)


@contextmanager
def serve_fake_in_thread(**options: Any) -> Iterator[FakeServer]:
    """:func:`serve_fake` on an event loop of its own, in a background thread.

    For blocking code under test (``ah.Client``, the CLI, scripts), which would otherwise
    block the very loop the fake runs on.
    """
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_fake(**options)) as server,
    ):
        yield server

