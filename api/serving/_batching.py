"""Dynamic batching: concurrent requests for one model version become one model call.

Requests queue while the model is busy; when it is free, everything queued with the
same trailing shapes (up to ``max_batch`` rows) is concatenated on axis 0, run once,
and each caller gets back its own rows. ``max_delay_ms`` > 0 additionally holds a
batch open that long for more requests while it is below ``max_batch`` rows; with 0
(the default) batches form only from requests that arrive while the model works, so a
lone client never waits. If the merged call fails, or an output does not carry one row
per input row, every request runs on its own, so one bad request cannot fail the others
and nothing is split wrongly.

Where a model call runs: a model that answers in well under a millisecond (a tree
ensemble on a few rows) runs on the event loop itself, because handing it to a thread
costs more than the call (the wake-up, and the GIL hand-back that can wait out
Python's 5 ms switch interval while the loop parses requests). Slower models run on
the executor so the loop keeps accepting requests. The choice follows a moving average
of the model's own call time, so it adapts to the model and the batch sizes it sees.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Batcher", "Runner"]

Outputs = dict[str, Any]
Runner = Callable[[dict[str, np.ndarray]], Outputs]
#: model calls averaging less than this run on the event loop instead of a thread
INLINE_SECONDS = 0.0005


@dataclass(slots=True)
class _Item:
    feeds: dict[str, np.ndarray]
    rows: int
    key: tuple[Any, ...]
    future: asyncio.Future[Outputs] = field(repr=False)


def _key(feeds: dict[str, np.ndarray]) -> tuple[Any, ...]:
    return tuple((n, a.dtype.str, a.shape[1:]) for n, a in feeds.items())


class Batcher:
    """Runs one model version's calls on its own thread, merging concurrent ones.

    ``on_batch(rows)`` is called (on the event loop) for every model call made.
    """

    def __init__(
        self,
        run: Runner,
        executor: Executor,
        *,
        enabled: bool,
        max_batch: int,
        max_delay: float,
        on_batch: Callable[[int], None] = lambda rows: None,
    ) -> None:
        self._run = run
        self._executor = executor
        self.enabled = enabled
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.call_seconds = 0.0  # moving average of one model call

    async def submit(self, feeds: dict[str, np.ndarray]) -> Outputs:
        """The outputs for ``feeds`` (checked inputs); raises what the model raised."""
        loop = self._loop = asyncio.get_running_loop()
        if not self.enabled:
            self._on_batch(_rows(feeds))
            if self.call_seconds < INLINE_SECONDS:
                return self._timed(feeds)
            return await loop.run_in_executor(self._executor, self._timed, feeds)
        future: asyncio.Future[Outputs] = loop.create_future()
        self._queue.append(_Item(feeds, _rows(feeds), _key(feeds), future))
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._work())
        assert self._wake is not None
        self._wake.set()
        return await future

    def close(self) -> None:
        """Stop the worker once idle; requests still queued are answered first."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if self.max_delay > 0:
                    await self._fill()
                batch = self._take()
                await self._dispatch(batch)
            if self._closing:
                return

    async def _fill(self) -> None:
        """Wait up to ``max_delay`` for the queue to reach ``max_batch`` rows."""
        assert self._wake is not None
        deadline = asyncio.get_running_loop().time() + self.max_delay
        while sum(i.rows for i in self._queue) < self.max_batch:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except TimeoutError:
                return

    def _take(self) -> list[_Item]:
        first = self._queue.popleft()
        batch, rows, skipped = [first], first.rows, []
        while self._queue and rows < self.max_batch:
            item = self._queue.popleft()
            if item.key == first.key and rows + item.rows <= self.max_batch:
                batch.append(item)
                rows += item.rows
            else:
                skipped.append(item)
        self._queue.extendleft(reversed(skipped))
        return batch

    async def _dispatch(self, batch: list[_Item]) -> None:
        live = [i for i in batch if not i.future.done()]  # a cancelled caller is skipped
        if not live:
            return
        if self.call_seconds < INLINE_SECONDS:
            results = self._run_batch(live)
        else:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self._executor, self._run_batch, live)
        for item, result in zip(live, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    def _run_batch(self, batch: list[_Item]) -> list[Outputs | BaseException]:
        """Runs on the executor thread; never raises."""
        if len(batch) > 1:
            merged = self._merged(batch)
            if merged is not None:
                return merged
        return [self._one(item) for item in batch]

    def _one(self, item: _Item) -> Outputs | BaseException:
        self._report(item.rows)
        try:
            return self._timed(item.feeds)
        except Exception as exc:  # handed to the caller's future, re-raised there
            return exc

    def _merged(self, batch: list[_Item]) -> list[Outputs | BaseException] | None:
        total = sum(i.rows for i in batch)
        feeds = {n: np.concatenate([i.feeds[n] for i in batch]) for n in batch[0].feeds}
        try:
            outputs = self._timed(feeds)
        except Exception:
            return None  # run them one by one, so the error reaches only its own request
        if not all(_has_rows(v, total) for v in outputs.values()):
            return None
        self._report(total)
        results: list[Outputs | BaseException] = []
        start = 0
        for item in batch:
            stop = start + item.rows
            results.append({n: v[start:stop] for n, v in outputs.items()})
            start = stop
        return results

    def _timed(self, feeds: dict[str, np.ndarray]) -> Outputs:
        start = time.perf_counter()
        try:
            return self._run(feeds)
        finally:
            took = time.perf_counter() - start
            self.call_seconds = (
                took if not self.call_seconds else 0.8 * self.call_seconds + 0.2 * took
            )

    def _report(self, rows: int) -> None:
        loop = self._loop
        if loop is None:
            return
        if loop.is_running() and _on_loop(loop):
            self._on_batch(rows)
        else:
            loop.call_soon_threadsafe(self._on_batch, rows)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _rows(feeds: dict[str, np.ndarray]) -> int:
    first = next(iter(feeds.values()))
    return int(first.shape[0]) if first.ndim else 1


def _has_rows(value: Any, rows: int) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim >= 1 and value.shape[0] == rows
    return isinstance(value, list) and len(value) == rows
