"""The adaptive batcher: concurrent requests share batches, each keeps its own outcome."""

from __future__ import annotations

import asyncio
import threading
import time

from portsift.serving.batching import MicroBatcher


class _Recorder:
    """A handler that records its batches and takes a little time, like scoring."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.delay_s = delay_s

    def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]


def test_one_request_alone_is_decided_at_once() -> None:
    handler = _Recorder(delay_s=0.0)
    batcher = MicroBatcher(handler)

    async def run() -> int:
        return await batcher.submit(7)

    started = time.perf_counter()
    assert asyncio.run(run()) == 70
    assert handler.batches == [[7]]
    assert time.perf_counter() - started < 0.5  # no batching window to wait out
    batcher.close()


def test_requests_arriving_during_a_batch_share_the_next_one() -> None:
    handler = _Recorder()
    batcher = MicroBatcher(handler, max_batch_size=100)

    async def run() -> list[int]:
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.005)  # the first batch is being decided now
        rest = await asyncio.gather(*(batcher.submit(i) for i in range(1, 20)))
        return [await first, *rest]

    assert asyncio.run(run()) == [i * 10 for i in range(20)]
    # The first request went alone; the 19 that arrived meanwhile went together.
    assert handler.batches == [[0], list(range(1, 20))]
    assert len(handler.threads) == 1 and batcher.batches_ == 2 and batcher.items_ == 20
    batcher.close()


def test_batch_size_is_capped_in_declarations() -> None:
    handler = _Recorder()
    batcher = MicroBatcher(handler, size_of=lambda item: 10, max_batch_size=30)

    async def run() -> None:
        await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    asyncio.run(run())
    assert [len(b) for b in handler.batches] == [3, 3, 3, 1]
    batcher.close()


def test_a_bad_item_fails_alone_and_a_failed_batch_fails_all_of_it() -> None:
    handler = _Recorder()
    batcher = MicroBatcher(handler)

    async def run() -> list[object]:
        return list(
            await asyncio.gather(*(batcher.submit(i) for i in (1, -2, 3)), return_exceptions=True)
        )

    outcome = asyncio.run(run())
    assert outcome[0] == 10 and outcome[2] == 30
    assert isinstance(outcome[1], ValueError) and str(outcome[1]) == "bad -2"

    def broken(items: list[int]) -> list[int]:
        raise RuntimeError("audit store down")

    failing = MicroBatcher(broken)

    async def run_failing() -> list[object]:
        return list(
            await asyncio.gather(*(failing.submit(i) for i in range(3)), return_exceptions=True)
        )

    assert all(isinstance(e, RuntimeError) for e in asyncio.run(run_failing()))
    batcher.close()
    failing.close()


def test_results_come_back_to_the_right_caller_whatever_the_order() -> None:
    handler = _Recorder(delay_s=0.001)
    batcher = MicroBatcher(handler, max_batch_size=7)

    async def one(i: int) -> tuple[int, int]:
        await asyncio.sleep((i % 5) * 0.001)
        return i, await batcher.submit(i)

    async def run() -> list[tuple[int, int]]:
        return list(await asyncio.gather(*(one(i) for i in range(60))))

    pairs = asyncio.run(run())
    assert all(result == i * 10 for i, result in pairs)
    assert sorted(i for batch in handler.batches for i in batch) == list(range(60))
    assert max(len(b) for b in handler.batches) <= 7


def test_an_empty_queue_leaves_no_running_drain() -> None:
    batcher = MicroBatcher(_Recorder(delay_s=0.0))

    async def run() -> None:
        await batcher.submit(1)
        await asyncio.sleep(0)

    asyncio.run(run())
    assert not batcher._running
    assert batcher.batches_ == 1
    batcher.close()
