"""A load-generating process for bench/serving.py (stdlib + aiohttp; runs in its own venv).

    python bench/_loadgen.py URL PATH CLIENTS START_AT STOP_AT < body

Each of CLIENTS virtual clients holds its own connection and sends the request body
from stdin, one request at a time, until STOP_AT (time.monotonic(), shared by the
processes of one run); requests that start before START_AT are the warm-up. Prints
one JSON object: {"latencies": [seconds...], "errors": [status...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def _client(
    session,
    url: str,
    body: bytes,
    start_at: float,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < stop_at:
        start = time.monotonic()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            status = resp.status
        if start >= start_at:
            latencies.append(time.monotonic() - start)
            if status != 200:
                errors.append(status)


async def _run(url: str, clients: int, start_at: float, stop_at: float, body: bytes) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: list[int] = []
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) for _ in range(clients)
    ]
    try:
        await asyncio.gather(
            *[_client(s, url, body, start_at, stop_at, latencies, errors) for s in sessions]
        )
    finally:
        for s in sessions:
            await s.close()
    return {"latencies": latencies, "errors": errors}


def main() -> None:
    base, path, clients, start_at, stop_at = sys.argv[1:6]
    body = sys.stdin.buffer.read()
    result = asyncio.run(_run(base + path, int(clients), float(start_at), float(stop_at), body))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
