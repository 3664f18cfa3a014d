"""Load benchmark for `catdog serve`: loopback only, bounded in time and in requests.

  python benchmarks/load.py --model RUN [--engine auto] [--seconds 15] [--max-requests 5000]

Starts the server on a free loopback port, then for 1, 4 and 16 concurrent clients sends single-photo
requests (real test photos, raw JPEG bodies) for --seconds each, and prints throughput, p50 / p99
latency and the error count as a table and as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared")).resolve()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def client(url: str, photos: list[bytes], stop_at: float, budget: list[int], latencies: list[float], errors: list[int]):
    async with httpx.AsyncClient(timeout=30) as session:
        i = 0
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            try:
                response = await session.post(url, content=photos[i % len(photos)], headers={"content-type": "image/jpeg"})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors[0] += 0 if ok else 1
            i += 1


async def level(url: str, photos: list[bytes], concurrency: int, seconds: float, max_requests: int) -> dict:
    latencies: list[float] = []
    errors, budget = [0], [max_requests]
    started = time.perf_counter()
    await asyncio.gather(*(client(url, photos[i::concurrency] or photos, started + seconds, budget, latencies, errors)
                           for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "requests": len(latencies), "seconds": elapsed,
            "requests_per_second": len(latencies) / elapsed, "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)), "errors": errors[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--max-requests", type=int, default=5000)
    args = parser.parse_args()
    photos = [item["bytes"] for item in pq.read_table(SHARED / "data" / "test.parquet").column("image").to_pylist()[:200]]
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("catdog")), "serve", "--model", args.model,
                               "--port", str(port), "--engine", args.engine],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "CATDOG_PROGRESS": "0"})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(360):
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        engine = httpx.get(base + "/readyz").json()["model"]["engine"]
        asyncio.run(level(base + "/v1/predict", photos, 4, 2, 200))  # warm-up
        rows = [asyncio.run(level(base + "/v1/predict", photos, c, args.seconds, args.max_requests)) for c in (1, 4, 16)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"Engine {engine}, {os.cpu_count()} CPUs, loopback, {args.seconds:.0f} s per level\n")
    print("| concurrent clients | requests | requests/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['requests']} | {r['requests_per_second']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |")
    print(json.dumps({"engine": engine, "levels": rows}))


if __name__ == "__main__":
    main()
