"""Upload a large file to a loopback server: peak RSS growth and throughput, beside curl.

    python benchmarks/upload_memory.py [--size-mib 1024] [--runs 3]

A sink server (its own process) reads `POST /v2/upload` bodies and throws them
away. The SDK's upload runs in a fresh child process so its peak RSS is its
own; curl streams the same file with `-T` (it does not load it into memory).
Goals (issue #2): RSS growth <= 16 MiB, throughput >= 90 % of curl's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def _sink(listener: socket.socket) -> None:
    """Accept connections and answer each upload after discarding its body."""
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    while True:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while True:
                head_end = data.find(b"\r\n\r\n")
                if head_end >= 0:
                    break
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if head_end < 0:
                continue
            head = data[:head_end].decode("latin-1").lower()
            rest = len(data) - head_end - 4
            length = next(
                (int(line.split(":", 1)[1]) for line in head.split("\r\n")
                 if line.startswith("content-length:")), None,
            )
            if "expect: 100-continue" in head:
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if length is None:
                continue  # the benchmark only sends sized bodies
            remaining = length - rest
            while remaining > 0:
                n = conn.recv_into(view, min(len(buffer), remaining))
                if not n:
                    break
                remaining -= n
            body = json.dumps({"upload_url": "http://127.0.0.1/files/x"}).encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode() + body
            )


def _maxrss_mib() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sdk_upload(path: str, base_url: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import anyio

    import audio_highlights as ah

    async def main() -> None:
        async with ah.AsyncClient(api_key="bench", base_url=base_url, timeout=600) as client:
            await client.upload(b"warm-up")  # imports, TLS-free pool, first connection
            before = _maxrss_mib()
            start = time.perf_counter()
            await client.upload(path)
            elapsed = time.perf_counter() - start
            out.put((before, _maxrss_mib(), elapsed))

    anyio.run(main)


def _curl_upload(path: str, base_url: str) -> float:
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-X", "POST", "-T", path,
         "-H", "content-type: application/octet-stream", "-H", "expect:",
         "-w", "%{time_total}", f"{base_url}/v2/upload"],
        check=True, capture_output=True, text=True,
    )
    return float(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed for the comparison (apt-get install curl)")

    listener = socket.create_server(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = multiprocessing.Process(target=_sink, args=(listener,), daemon=True)
    server.start()

    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.bin")
        with open(path, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(args.size_mib):
                f.write(block)
        _curl_upload(path, base_url)  # warms the page cache for both contenders

        rows = []
        ctx = multiprocessing.get_context("spawn")
        for run in range(1, args.runs + 1):
            queue = ctx.Queue()
            child = ctx.Process(target=_sdk_upload, args=(path, base_url, queue))
            child.start()
            before, after, sdk_s = queue.get(timeout=900)
            child.join()
            curl_s = _curl_upload(path, base_url)
            rows.append((run, after - before, size / sdk_s / 1e6, size / curl_s / 1e6))

    server.terminate()
    print(f"\nUpload of {args.size_mib} MiB to a loopback sink ({os.cpu_count()} cores)\n")
    print("| run | SDK peak RSS growth (MiB) | SDK MB/s | curl MB/s | SDK / curl |")
    print("|---:|---:|---:|---:|---:|")
    for run, growth, sdk, curl in rows:
        print(f"| {run} | {growth:.1f} | {sdk:.0f} | {curl:.0f} | {sdk / curl:.0%} |")
    best_sdk = max(r[2] for r in rows)
    best_curl = max(r[3] for r in rows)
    print(f"\nbest of {args.runs}: SDK {best_sdk:.0f} MB/s, curl {best_curl:.0f} MB/s "
          f"({best_sdk / best_curl:.0%}); worst RSS growth {max(r[1] for r in rows):.1f} MiB")


if __name__ == "__main__":
    main()
