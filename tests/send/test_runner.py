from __future__ import annotations

import asyncio

import pytest

from otlpy.pdata import Signal, count_items
from otlpy.send.options import SendOptions
from otlpy.send.runner import Budget, Pacer, build_pool, drive, send, shares
from otlpy.send.transport import open_transport


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_requests_by_their_items():
    clock = FakeClock()
    pacer = Pacer(1000.0, clock)
    assert pacer.reserve(100) == 0.0
    assert pacer.reserve(100) == pytest.approx(0.1)
    assert pacer.reserve(50) == pytest.approx(0.2)
    clock.now += 0.1
    assert pacer.reserve(100) == pytest.approx(0.15)


def test_pacer_does_not_burst_after_falling_behind():
    clock = FakeClock()
    pacer = Pacer(10.0, clock)
    pacer.reserve(10)
    clock.now += 60.0  # a minute late: the schedule restarts from now
    assert pacer.reserve(10) == 0.0
    assert pacer.reserve(10) == pytest.approx(1.0)


def test_budget_is_exact():
    budget = Budget(1200)
    assert [budget.take(512) for _ in range(4)] == [512, 512, 176, 0]


def test_shares_split_workers_rate_and_whole_batches():
    options = SendOptions(count=2600, batch_size=500, workers=5, processes=2, rate=1000, seed=3)
    parts = shares(options)
    assert [p.workers for p in parts] == [3, 2]
    assert [p.count for p in parts] == [1500, 1100]
    assert [p.rate for p in parts] == [500, 500]
    assert [p.seed for p in parts] == [3, 4]
    assert all(p.processes == 1 for p in parts)


def test_shares_skip_processes_with_nothing_to_do():
    parts = shares(SendOptions(count=100, batch_size=500, workers=3, processes=3))
    assert [p.count for p in parts] == [100]


def test_shares_with_only_a_duration():
    parts = shares(SendOptions(duration=1.0, workers=2, processes=2))
    assert [p.count for p in parts] == [None, None]


def test_pool_for_a_short_count_has_only_the_remainder():
    pool = build_pool(SendOptions(count=100, batch_size=512))
    assert pool.full == []
    assert pool.remainder is not None and pool.remainder.items == 100
    assert pool.pick(100) is pool.remainder


def test_pool_cycles_through_distinct_requests():
    pool = build_pool(SendOptions(count=2000, batch_size=100, distinct=3))
    assert len(pool.full) == 3 and pool.remainder is None
    picked = [pool.pick(100) for _ in range(6)]
    assert picked[:3] == picked[3:]
    assert len({id(t) for t in picked}) == 3


async def test_count_is_exact_with_a_rate(sink):
    options = SendOptions(
        endpoint=sink.grpc_endpoint, count=1000, batch_size=300, rate=20000, workers=3
    )
    stats = await send(options)
    assert stats.items_sent == stats.items_accepted == 1000
    assert sorted(count_items(Signal.TRACES, m) for m in sink.messages()) == [100, 300, 300, 300]


async def test_a_rate_bounds_what_a_duration_sends(sink):
    # slots are 100 / 1000 s apart: within 0.5 s at most 5 (+1 at the edge) can start
    options = SendOptions(
        endpoint=sink.grpc_endpoint, duration=0.5, batch_size=100, rate=1000, workers=4
    )
    stats = await send(options)
    assert 0 < stats.items_sent <= 600
    assert stats.items_sent == sum(count_items(Signal.TRACES, m) for m in sink.messages())


async def test_stop_ends_the_run(sink):
    options = SendOptions(endpoint=sink.grpc_endpoint, duration=30.0, batch_size=10, rate=10)
    stop = asyncio.Event()
    pool = build_pool(options)
    transport = open_transport(options)
    task = asyncio.create_task(drive(options, pool, transport, stop=stop))
    await asyncio.sleep(0.2)
    stop.set()
    stats = await asyncio.wait_for(task, 5)
    await transport.close()
    assert stats.elapsed < 30
    assert stats.requests == len(sink.received)
