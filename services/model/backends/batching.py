"""Dynamic batching: requests that arrive within a short window share one generate call."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable

from attune.services.model.backends.base import Completion, Job


class DynamicBatcher:
    """Collects jobs for up to ``window_s`` (or ``max_batch`` jobs) and runs them together.

    ``run_batch(jobs, gone)`` is a blocking function of a list of compatible
    jobs (equal ``Job.sampling_key``); it runs on the one worker thread
    ``executor`` so the model is never used by two generate calls at once.
    ``gone[i]`` is set when the caller of ``jobs[i]`` stops waiting (a deadline,
    a cancelled RPC), so generation can drop that row instead of finishing it.
    """

    def __init__(self, run_batch: Callable[[list[Job], list[threading.Event]], list[Completion]], executor,
                 max_batch: int, window_s: float):
        self.run_batch = run_batch
        self.executor = executor
        self.max_batch = max_batch
        self.window_s = window_s
        self.queue: asyncio.Queue[tuple[Job, asyncio.Future]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None

    async def submit(self, job: Job) -> Completion:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((job, future))
        return await future

    async def _collect(self) -> list[tuple[Job, asyncio.Future]]:
        """Wait for one job, then gather more until the window closes or the batch is full."""
        items = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window_s
        while True:
            while len(items) < self.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            remaining = deadline - loop.time()
            if len(items) >= self.max_batch or remaining <= 0:
                break
            await asyncio.sleep(min(0.002, remaining))
        return [(job, fut) for job, fut in items if not fut.cancelled()]

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            groups: dict[tuple, list[tuple[Job, asyncio.Future]]] = defaultdict(list)
            for job, fut in items:
                groups[job.sampling_key()].append((job, fut))
            for group in groups.values():
                jobs = [job for job, _ in group]
                gone = [threading.Event() for _ in group]
                for (_, fut), event in zip(group, gone, strict=True):
                    fut.add_done_callback(lambda f, e=event: f.cancelled() and e.set())
                try:
                    results = await loop.run_in_executor(self.executor, self.run_batch, jobs, gone)
                except Exception as err:  # noqa: BLE001 - delivered to every waiter
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                for (_, fut), result in zip(group, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
