"""The load: 32 tills in closed loops (saturated) and an open loop of arrivals (rush)."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from bench._http import Connection, HttpError
from bench.lunch_rush.cpu import CpuMeter, CpuSnapshot, cpu_use
from bench.lunch_rush.measure import LoadResult
from bench.lunch_rush.settings import PURCHASE_PATH, SCAN_PATH, WARMUP_S, Settings


class Cards:
    """Hands out card UIDs round-robin, so terminals working at the same time use distinct cards."""

    def __init__(self, uids: list[str]) -> None:
        self._uids = uids
        self._next = 0

    def next(self) -> str:
        uid = self._uids[self._next % len(self._uids)]
        self._next += 1
        return uid

    def take(self, count: int) -> list[str]:
        return [self.next() for _ in range(count)]


class Till:
    """One terminal: its keep-alive connection and its own Idempotency-Key sequence."""

    def __init__(self, connection: Connection, run_id: str, lines: list[dict[str, int]]) -> None:
        self.connection = connection
        self._keys = (f"{run_id}-{n}" for n in range(10**9))
        self._lines = lines

    async def scan(self, uid: str) -> int:
        status, _body = await self.connection.post_json(SCAN_PATH, {"uid": uid})
        return status

    async def purchase(self, uid: str) -> int:
        status, _body = await self.connection.post_json(
            PURCHASE_PATH,
            {"uid": uid, "lines": self._lines, "payment": "card"},
            headers=f"Idempotency-Key: {next(self._keys)}\r\n",
        )
        return status


async def closed_loop(
    tills: list[Till], cards: Cards, *, warmup: float, seconds: float, meter: CpuMeter, scan: bool = True
) -> LoadResult:
    """Every till scans (unless `scan` is false) and buys, back to back; only what ends in the window counts."""
    result = LoadResult(seconds=seconds)
    start = time.perf_counter()
    record_from, deadline = start + warmup, start + warmup + seconds
    max_iterations = int((warmup + seconds) * 5000)
    snapshots: list[CpuSnapshot] = []

    async def snapshot_at(moment: float) -> None:
        await asyncio.sleep(max(0.0, moment - time.perf_counter()))
        snapshots.append(meter.snapshot())

    async def loop(till: Till) -> None:
        for _ in range(max_iterations):
            t0 = time.perf_counter()
            if t0 >= deadline:
                return
            counted = t0 >= record_from
            uid = cards.next()
            try:
                scan_status = await till.scan(uid) if scan else 200
                t1 = time.perf_counter()
                purchase_status = await till.purchase(uid) if scan_status == 200 else None
                t2 = time.perf_counter()
            except (HttpError, TimeoutError, OSError) as error:
                if counted:
                    result.errors[type(error).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            if not counted or t2 > deadline:
                continue
            if scan_status != 200:
                result.errors[f"scan {scan_status}"] += 1
                continue
            if scan:
                result.scan_ms.append(1000 * (t1 - t0))
            if purchase_status == 201:
                result.purchases += 1
                result.purchase_ms.append(1000 * (t2 - t1))
            else:
                result.errors[f"purchase {purchase_status}"] += 1

    await asyncio.gather(snapshot_at(record_from), snapshot_at(deadline), *(loop(till) for till in tills))
    result.cpu = cpu_use(snapshots[0], snapshots[1])
    return result


async def open_loop(
    tills: list[Till], cards: Cards, *, rate: float, seconds: float, think: float, meter: CpuMeter
) -> LoadResult:
    """Arrivals on a fixed schedule, whatever the server does; latency counts from the schedule."""
    result = LoadResult(seconds=seconds)
    idle: asyncio.Queue[Till] = asyncio.Queue()
    for till in tills:
        idle.put_nowait(till)
    arrivals = int(rate * seconds)
    before = meter.snapshot()
    start = time.perf_counter() + 0.05

    async def arrival(scheduled: float) -> None:
        till = await idle.get()
        try:
            uid = cards.next()
            result.send_lag_ms.append(1000 * (time.perf_counter() - scheduled))
            scan_status = await till.scan(uid)
            result.scan_ms.append(1000 * (time.perf_counter() - scheduled))
            if scan_status != 200:
                result.errors[f"scan {scan_status}"] += 1
                return
            pay_at = scheduled + think
            await asyncio.sleep(max(0.0, pay_at - time.perf_counter()))
            purchase_status = await till.purchase(uid)
            done = time.perf_counter()
            if purchase_status != 201:
                result.errors[f"purchase {purchase_status}"] += 1
                return
            result.purchases += 1
            result.purchase_ms.append(1000 * (done - pay_at))
            result.arrival_ms.append(1000 * (done - scheduled))
        except (HttpError, TimeoutError, OSError) as error:
            result.errors[type(error).__name__] += 1
        finally:
            idle.put_nowait(till)

    tasks = []
    for i in range(arrivals):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(arrival(scheduled)))
    async with asyncio.timeout(think + 30):
        await asyncio.gather(*tasks)
    result.cpu = cpu_use(before, meter.snapshot())
    return result


async def drive(
    setup: dict[str, Any], cards: Cards, port: int, settings: Settings, meter: CpuMeter
) -> dict[str, LoadResult]:
    """The three phases against one server: saturated, saturated without scans, rush."""
    lines = [{"product": setup["products"][name]["id"], "quantity": 1} for name in ("Sandwich", "Milk")]
    run_id = secrets.token_hex(4)
    connections = [Connection("127.0.0.1", port, token) for token in setup["tokens"]]
    tills = [Till(c, f"{run_id}-{i}", lines) for i, c in enumerate(connections)]
    try:
        saturated = await closed_loop(tills, cards, warmup=WARMUP_S, seconds=settings.seconds, meter=meter)
        saturated.connects = sum(c.connects for c in connections)
        purchases_only = await closed_loop(
            tills, cards, warmup=1.0, seconds=settings.seconds / 2, meter=meter, scan=False
        )
        purchases_only.connects = sum(c.connects for c in connections) - saturated.connects
        await asyncio.sleep(1.0)
        rush = await open_loop(
            tills,
            cards,
            rate=settings.rush_rate,
            seconds=settings.rush_seconds,
            think=settings.think_s,
            meter=meter,
        )
    finally:
        for c in connections:
            c.close()
    rush.connects = sum(c.connects for c in connections) - saturated.connects - purchases_only.connects
    return {"saturated": saturated, "purchases_only": purchases_only, "rush": rush}
