"""The dynamic batcher's grouping and limits, with a pure function as the model."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from attune.services.model.backends.base import Completion, Job
from attune.services.model.backends.batching import DynamicBatcher


def make_batcher(max_batch=4, window_s=0.05):
    calls = []

    def run(jobs, gone):
        calls.append([j.prompt for j in jobs])
        return [Completion(j.prompt.upper(), "stop", 1, 1) for j in jobs]

    return DynamicBatcher(run, ThreadPoolExecutor(1), max_batch, window_s), calls


async def test_requests_in_one_window_share_a_call():
    batcher, calls = make_batcher()
    results = await asyncio.gather(*[batcher.submit(Job(prompt=p)) for p in "abc"])
    assert [r.text for r in results] == ["A", "B", "C"]
    assert calls == [["a", "b", "c"]]
    await batcher.close()


async def test_batches_never_exceed_max_batch():
    batcher, calls = make_batcher(max_batch=2)
    await asyncio.gather(*[batcher.submit(Job(prompt=p)) for p in "abcde"])
    assert max(len(c) for c in calls) == 2
    assert sorted(p for c in calls for p in c) == list("abcde")
    await batcher.close()


async def test_incompatible_sampling_runs_apart():
    batcher, calls = make_batcher()
    await asyncio.gather(batcher.submit(Job(prompt="g")), batcher.submit(Job(prompt="s", temperature=0.7)),
                         batcher.submit(Job(prompt="h")))
    assert sorted(calls) == [["g", "h"], ["s"]]
    await batcher.close()


async def test_a_failing_batch_fails_its_requests_only():
    def run(jobs, gone):
        if any(j.prompt == "boom" for j in jobs):
            raise RuntimeError("model exploded")
        return [Completion("ok", "stop", 1, 1) for _ in jobs]

    batcher = DynamicBatcher(run, ThreadPoolExecutor(1), 4, 0.01)
    bad = await asyncio.gather(batcher.submit(Job(prompt="boom")), return_exceptions=True)
    assert isinstance(bad[0], RuntimeError)
    assert (await batcher.submit(Job(prompt="fine"))).text == "ok"
    await batcher.close()


async def test_a_caller_that_goes_away_is_flagged_to_the_batch():
    started, seen = asyncio.Event(), []
    loop = asyncio.get_running_loop()

    def run(jobs, gone):
        loop.call_soon_threadsafe(started.set)
        seen.append(gone[0].wait(timeout=5))
        return [Completion("late", "stop", 1, 1) for _ in jobs]

    batcher = DynamicBatcher(run, ThreadPoolExecutor(1), 4, 0.0)
    waiting = asyncio.create_task(batcher.submit(Job(prompt="slow")))
    await started.wait()
    waiting.cancel()
    for _ in range(200):  # the batch thread answers within its own 5 s wait
        if seen:
            break
        await asyncio.sleep(0.05)
    assert seen == [True]
    await batcher.close()
