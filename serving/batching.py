"""Adaptive batching of concurrent requests into one call of the vectorised scoring path.

A BentoML worker answering many clients at once spends most of a one-declaration request
on fixed costs: the feature lookups, three LightGBM calls, the policy's text and the
audit store's durable commit (an ``fsync``) each cost about the same for 1 row as for 50.
:class:`MicroBatcher` lets concurrent requests share them: a request that arrives while a
batch is being decided waits for that batch to finish and then goes, with every other
request that queued meanwhile, into the next one. The batch size therefore follows the
load by itself: one client alone is never made to wait for company (no batching window),
sixteen clients are decided in batches of up to sixteen. Each request still gets its own
answer or its own error, and nothing is answered before its batch's audit rows are
committed.

BentoML's own ``@bentoml.api(batchable=True)`` batches at the HTTP level, where a request
body is a batch of inputs and one bad declaration would fail every request merged with
it; batching after each request has been validated on its own avoids that.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    size: int
    future: asyncio.Future[Result]


class MicroBatcher(Generic[Item, Result]):
    """Decide queued requests together, one batch at a time, in a worker thread.

    Args:
        handler: Decides a list of items; returns one result per item, in order, or an
            exception instance for an item that failed on its own. An exception it
            raises fails every item of the batch.
        size_of: The number of declarations an item carries (for the batch limit).
        max_batch_size: Most declarations in one batch (a larger item goes alone).
    """

    def __init__(
        self,
        handler: Callable[[list[Item]], Sequence[Result | BaseException]],
        *,
        size_of: Callable[[Item], int] = lambda _: 1,
        max_batch_size: int = 256,
    ) -> None:
        self.handler = handler
        self.size_of = size_of
        self.max_batch_size = max_batch_size
        self._queue: deque[_Waiting[Item, Result]] = deque()
        self._running = False
        self._drain_task: asyncio.Task[None] | None = None
        # One thread: batches run one after the other, the event loop stays free to
        # accept and queue the requests that form the next batch.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portsift-batch")
        self.batches_ = 0
        self.items_ = 0

    async def submit(self, item: Item) -> Result:
        """Queue an item and wait for its result (raises the item's own exception)."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(item, self.size_of(item), loop.create_future())
        self._queue.append(waiting)
        if not self._running:
            self._running = True
            # Kept: the event loop holds tasks only weakly.
            self._drain_task = loop.create_task(self._drain())
        return await waiting.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch = self._next_batch()
                try:
                    results = await loop.run_in_executor(
                        self._executor, self.handler, [w.item for w in batch]
                    )
                except Exception as err:  # the whole batch failed (e.g. the audit store)
                    for waiting in batch:
                        if not waiting.future.done():
                            waiting.future.set_exception(err)
                    continue
                self.batches_ += 1
                self.items_ += len(batch)
                for waiting, result in zip(batch, results, strict=True):
                    if waiting.future.done():  # the client went away
                        continue
                    if isinstance(result, BaseException):
                        waiting.future.set_exception(result)
                    else:
                        waiting.future.set_result(result)
        finally:
            self._running = False

    def _next_batch(self) -> list[_Waiting[Item, Result]]:
        batch = [self._queue.popleft()]
        total = batch[0].size
        while self._queue and total + self._queue[0].size <= self.max_batch_size:
            waiting = self._queue.popleft()
            batch.append(waiting)
            total += waiting.size
        return batch

    def close(self) -> None:
        """Stop the worker thread (queued items are not decided)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
