"""The sending loop: workers, pacing, the item budget, and spreading the load over processes.

One process runs ``--workers`` asyncio tasks, each with at most one request in flight. They share
a :class:`Pacer` (the rate is over all workers: a worker reserves the next free slot, so the
schedule does not drift when one worker is late) and a :class:`Budget` (``--count`` is exact: the
last request holds the remainder). With ``--processes N`` the workers, the rate and the count are
split over N processes started with ``spawn`` (each builds its own requests, so they differ), and
their counters are merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import multiprocessing
import queue as queue_module
import random
import signal
import time
from collections.abc import Callable
from typing import Any

from otlpy.send.generate import Generator
from otlpy.send.options import SendOptions
from otlpy.send.stats import Stats
from otlpy.send.template import Template, make_template
from otlpy.send.transport import Transport, open_transport

__all__ = ["Budget", "Pacer", "Pool", "build_pool", "drive", "run_processes", "send"]


class Pacer:
    """Spaces requests so that items go out at ``rate`` per second on average.

    A request of ``n`` items takes a slot ``n / rate`` seconds long. A sender that falls behind
    (a slow server) does not catch up in a burst: the schedule restarts from now.
    """

    __slots__ = ("_clock", "_next", "rate")

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next: float | None = None

    def reserve(self, items: int) -> float:
        """Take the next slot for ``items`` items; returns how long to wait before sending."""
        now = self._clock()
        if self._next is None or self._next < now:
            self._next = now
        slot = self._next
        self._next = slot + items / self.rate
        return slot - now


class Budget:
    """The items left to send when ``--count`` bounds the run."""

    __slots__ = ("left",)

    def __init__(self, total: int) -> None:
        self.left = total

    def take(self, batch: int) -> int:
        """Up to ``batch`` items for the next request; 0 once the budget is spent."""
        items = min(batch, self.left)
        self.left -= items
        return items


class Pool:
    """The pre-encoded requests a process cycles through, and the one for a last short batch."""

    __slots__ = ("_index", "full", "remainder")

    def __init__(self, full: list[Template], remainder: Template | None) -> None:
        self.full = full
        self.remainder = remainder
        self._index = 0

    def pick(self, items: int) -> Template:
        if self.remainder is not None and items == self.remainder.items:
            return self.remainder
        template = self.full[self._index % len(self.full)]
        self._index += 1
        return template


def build_pool(options: SendOptions) -> Pool:
    """Generate and encode the requests this run will send (CPU work, before the clock starts)."""
    rng = random.Random(options.seed)
    generator = Generator(
        rng,
        services=options.services,
        attributes=options.attributes,
        resource_attributes=options.resource_attributes,
        start_time_ns=time.time_ns(),
    )
    total = options.total
    batch = options.batch_size
    full_batches = math.inf if total is None else total // batch
    distinct = int(min(options.distinct, full_batches))
    full = [
        make_template(generator, options.signal, batch, encoding=options.encoding)
        for _ in range(distinct)
    ]
    remainder = None
    if total is not None and total % batch:
        remainder = make_template(
            generator, options.signal, total % batch, encoding=options.encoding
        )
    return Pool(full, remainder)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake as soon as ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def drive(
    options: SendOptions,
    pool: Pool,
    transport: Transport,
    *,
    stop: asyncio.Event | None = None,
) -> Stats:
    """Send with ``options.workers`` workers until the count, the duration or ``stop`` ends it."""
    stop = stop or asyncio.Event()
    stats = Stats()
    loop = asyncio.get_running_loop()
    total = options.total
    budget = Budget(total) if total is not None else None
    pacer = Pacer(options.rate, loop.time) if options.rate > 0 else None
    started = loop.time()
    deadline = started + options.duration if options.duration is not None else math.inf
    ids = random.Random()
    batch = options.batch_size

    async def worker() -> None:
        while not stop.is_set():
            items = budget.take(batch) if budget is not None else batch
            if items == 0:
                return
            if pacer is not None:
                wait = pacer.reserve(items)
                if loop.time() + wait >= deadline:
                    return
                if wait > 0:
                    await _pause(stop, wait)
                    if stop.is_set():
                        return
            if loop.time() >= deadline:
                return
            template = pool.pick(items)
            data = template.render(ids.randbytes(8), time.time_ns())
            begun = time.perf_counter()
            outcome = await transport.export(data)
            stats.record(items, len(data), outcome, time.perf_counter() - begun)

    await asyncio.gather(*(worker() for _ in range(options.workers)))
    stats.elapsed = loop.time() - started
    return stats


async def send(options: SendOptions, *, stop: asyncio.Event | None = None) -> Stats:
    """One process's whole run: build the requests, open the transport, send, close."""
    pool = build_pool(options)
    transport = open_transport(options)
    try:
        return await drive(options, pool, transport, stop=stop)
    finally:
        await transport.close()


async def send_until_signalled(options: SendOptions) -> Stats:
    """:func:`send`, stopping cleanly (and still reporting) on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        return await send(options, stop=stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_loop(coro: Any) -> Any:
    """Run a coroutine on uvloop when it is there."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.run(coro)
    return uvloop.run(coro)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def shares(options: SendOptions) -> list[SendOptions]:
    """The options of each process when the run is spread over ``options.processes``."""
    n = options.processes
    workers = _split(options.workers, n)
    counts: list[int | None] = [None] * n
    total = options.total
    if total is not None:
        # whole batches to each process, the remainder to the last, so that only one request
        # in the whole run is short
        batches = _split(total // options.batch_size, n)
        counts = [b * options.batch_size for b in batches]
        counts[-1] = (counts[-1] or 0) + total % options.batch_size
    result = []
    for index in range(n):
        count = counts[index]
        if count == 0:
            continue
        result.append(
            dataclasses.replace(
                options,
                processes=1,
                workers=workers[index],
                rate=options.rate / n,
                count=count,
                seed=None if options.seed is None else options.seed + index,
            )
        )
    return result


def _child(options: SendOptions, results: Any) -> None:
    """A sender process: run and post the counters (as plain data) to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards SIGTERM to stop us
    try:
        stats = run_loop(send_until_signalled(options))
        results.put(("ok", stats.to_dict()))
    except Exception as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def run_processes(options: SendOptions) -> Stats:
    """Run the sender in ``options.processes`` processes and merge what they counted."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    children = [
        context.Process(target=_child, args=(share, results), daemon=True)
        for share in shares(options)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.pid is not None and child.exitcode is None:
                child.terminate()  # SIGTERM: the child stops sending and reports

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    total = Stats()
    try:
        pending = len(children)
        while pending:
            try:
                status, payload = results.get(timeout=0.5)
            except queue_module.Empty:
                if all(child.exitcode is not None for child in children) and results.empty():
                    lost = pending
                    total.errors["sender process died"] += lost
                    break
                continue
            pending -= 1
            if status == "ok":
                total.merge(Stats.from_dict(payload))
            else:
                total.errors["sender process failed"] += 1
                total.error_examples.setdefault("sender process failed", payload)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children:
            child.join(timeout=5)
    return total
