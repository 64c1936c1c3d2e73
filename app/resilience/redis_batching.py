"""A Redis client that sends the commands its callers issue in one event-loop turn as ONE
pipeline: one write and one wake-up for all of them instead of one round trip each.

Why (issue 14, client CPU per paid /ask with Redis): a paid /ask makes 9 round trips to Redis
(11 with rate limits), each one a socket write, a read and an event-loop wake-up in redis-py,
and under load the requests of one replica issue them in bursts: measured at 16 concurrent
asks, the shared cache client saw up to 30 commands in the same loop turn. Batching them is
what redis-py's own pipelines do, automatically ("auto-pipelining").

Semantics, unchanged for each caller:
- Every command is still one atomic command (most of ours are Lua scripts); the pipeline is
  not a transaction (no MULTI), so commands of different callers stay independent.
- Each caller gets its own reply, or its own error reply raised (a script's NOSCRIPT too, so
  redis-py's EVALSHA -> SCRIPT LOAD fallback works as before). A connection error or timeout
  fails every command of the batch (they shared the socket), each raised to its caller, and is
  retried as the client's retry policy says, exactly as for a single command: all our
  commands are safe to retry on a connection error, and the ledger's on a timeout too
  (redis_dependency.py).
- A caller that is cancelled stops waiting at once; its command still runs with the batch (it
  may already be on the wire, and the other callers' commands share the write). A cancelled
  ledger reserve can thus leave a hold that lapses after its TTL: it can refuse, never
  overspend, as when a cancel hit after the write before.
- A lone command (no other in its turn) runs as before, in the caller's task, no pipeline.
The cost: a command waits for the end of the loop turn it was issued in (one `sleep(0)`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

_Queued = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class BatchingRedis(Redis):
    """redis.asyncio.Redis, auto-pipelined. Pub/sub and explicit pipelines are redis-py's own."""

    _queue: list[_Queued] | None = None  # commands waiting for this loop turn's batch

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._queue is not None:  # a batch is forming in this loop turn: join it
            future: asyncio.Future[Any] = loop.create_future()
            self._queue.append((args, options, future))
            return await future
        queue: list[_Queued] = []
        self._queue = queue
        try:
            await asyncio.sleep(0)  # the end of this loop turn: the others queue theirs
        except BaseException:  # cancelled before sending: the others' commands still go
            self._queue = None
            if queue:
                self._send(queue)
            raise
        self._queue = None
        if not queue:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        mine: asyncio.Future[Any] = loop.create_future()
        queue.insert(0, (args, options, mine))
        self._send(queue)
        return await mine

    def _send(self, queue: list[_Queued]) -> None:
        """In a task of its own: cancelling the caller that sends the batch must not cancel
        the others' commands."""
        task = asyncio.get_running_loop().create_task(self._run(queue))
        _running.add(task)
        task.add_done_callback(_running.discard)

    async def _run(self, queue: list[_Queued]) -> None:
        """Send the batch as one pipeline; hand every caller its reply or error."""
        try:
            async with self.pipeline(transaction=False) as pipe:
                for args, options, _ in queue:
                    pipe.execute_command(*args, **options)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the socket failed: every command of the batch did
            for _, _, future in queue:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (the loop is closing): so are the callers
            for _, _, future in queue:
                future.cancel()
            raise
        for (_, _, future), reply in zip(queue, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


_running: set[asyncio.Task[None]] = set()  # batches in flight (the loop keeps weak refs only)
