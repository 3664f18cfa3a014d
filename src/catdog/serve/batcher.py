"""Micro-batching: concurrent requests share one model call.

Photos queue up; one worker takes whatever is waiting (up to `max_batch`), waits at most `window`
seconds for more, runs the model once in a worker thread and hands each caller its row. A lone
request pays at most the window; under load, batches fill up while the previous one runs, so
throughput rises with concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


class MicroBatcher:
    def __init__(self, predict: Predict, max_batch: int = 32, window: float = 0.002,
                 on_batch: Callable[[int], None] | None = None):
        self.predict = predict
        self.max_batch = max_batch
        self.window = window
        self.on_batch = on_batch
        self._queue: asyncio.Queue = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
        self._executor.shutdown(wait=False)

    async def submit(self, pixels: np.ndarray) -> tuple[float | np.ndarray, float | None]:
        """One decoded photo [s, s, 3] -> (its class output, pet score or None): p(class 1) (p(dog))
        for a two-class run, the N class probabilities [N] for more."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((pixels, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            deadline = loop.time() + self.window
            while len(items) < self.max_batch:
                if not self._queue.empty():
                    items.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            batch = np.stack([pixels for pixels, _ in items])
            try:
                p, pet = await loop.run_in_executor(self._executor, self.predict, batch)
            except Exception as exc:  # one failed batch fails its callers, never the worker
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if self.on_batch:
                self.on_batch(len(items))
            for row, (_, future) in enumerate(items):
                if not future.done():
                    future.set_result((_row(p, row), None if pet is None else float(pet[row])))


def _row(p: np.ndarray, row: int) -> float | np.ndarray:
    """One photo's class output: a float for two classes ([n]), its N probabilities for more ([n, N])."""
    return float(p[row]) if np.ndim(p) == 1 else np.array(p[row], dtype=np.float64)
