"""The load generator: HTTP/1.1 keep-alive over asyncio protocols.

It runs on its own core (the runner pins it), and must outrun the fastest
server on the other one: requests are prebuilt bytes, a response is parsed
only as far as its status line and Content-Length, and there is one request
in flight per connection (no pipelining, as browsers and mobile apps do).

Two measurements:
- ``closed_loop``: N connections send back to back; the completions per
  second inside the measured window are the saturation throughput.
- ``open_loop``: requests are started on a fixed schedule whatever the server
  does, and each latency is measured from its scheduled start, so a server
  that falls behind is charged for the queue it builds (no coordinated
  omission).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

REQUEST_TIMEOUT = 60.0


class ResponseError(Exception):
    pass


class _Client(asyncio.Protocol):
    """One connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ResponseError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        marker = head.find(b"content-length:")
        if marker < 0:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ResponseError("a response without Content-Length"))
            return
        line_end = head.find(b"\r\n", marker)
        length = int(head[marker + 15 : line_end if line_end >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            raise ResponseError("the server closed this connection")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await asyncio.wait_for(self.waiter, REQUEST_TIMEOUT)


async def connect(port: int) -> _Client:
    transport, client = await asyncio.get_running_loop().create_connection(
        _Client, "127.0.0.1", port
    )
    # uvloop may call connection_made after create_connection returns.
    client.transport = transport
    return client


def http_request(
    port: int, path: str, body: bytes, *, token: str | None = None, method: str = "POST"
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def fetch(port: int, data: bytes) -> tuple[int, bytes]:
    """One request on a connection of its own (checks, stats, cursors)."""
    client = await connect(port)
    try:
        return await client.request(data)
    finally:
        assert client.transport is not None
        client.transport.close()


@dataclass
class Measured:
    """What one phase measured, inside its window (warm-up excluded)."""

    seconds: float
    completed: int
    errors: int
    latencies: list[float] = field(default_factory=list)
    first_error: str | None = None
    # Open loop: requests that could not be started on time (no free connection).
    late_starts: int = 0
    stopped_early: bool = False

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index]


Check = Callable[[int, bytes], str | None]
MakeRequest = Callable[[int], bytes]


class _Window:
    """What completes between ``start`` and ``end`` (perf_counter), or, for
    an open loop, what was scheduled between them."""

    def __init__(self, start: float, end: float, check: Check, *, by_start: bool = False) -> None:
        self.start = start
        self.end = end
        self.check = check
        # Open loop: every request scheduled inside the window counts, however
        # late it finishes (dropping the slow ones would flatter the tail).
        self.by_start = by_start
        self.completed = 0
        self.errors = 0
        self.latencies: list[float] = []
        self.first_error: str | None = None

    def record(self, began: float, finished: float, status: int, body: bytes) -> None:
        if self.by_start:
            if not self.start <= began < self.end:
                return
        elif not self.start <= finished <= self.end:
            # Closed loop: completions inside the window are the throughput.
            return
        problem = self.check(status, body)
        if problem is not None:
            self.errors += 1
            self.first_error = self.first_error or problem
            return
        self.completed += 1
        self.latencies.append(finished - began)

    def fail(self, began: float, error: Exception) -> None:
        if self.start <= began < self.end:
            self.errors += 1
            self.first_error = self.first_error or repr(error)


async def closed_loop(
    port: int,
    make: MakeRequest,
    check: Check,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    limit: int | None = None,
    on_window_start: Callable[[], object] | None = None,
) -> Measured:
    clients = [await connect(port) for _ in range(concurrency)]
    started = time.perf_counter()
    window = _Window(started + warmup, started + warmup + duration, check)
    issued = 0
    stopped_early = False

    async def worker(client: _Client) -> None:
        nonlocal issued, stopped_early
        while True:
            now = time.perf_counter()
            if now >= window.end:
                return
            if limit is not None and issued >= limit:
                stopped_early = True
                return
            index = issued
            issued += 1
            try:
                status, body = await client.request(make(index))
            except (ResponseError, TimeoutError, OSError, RuntimeError) as error:
                window.fail(now, error)
                return
            window.record(now, time.perf_counter(), status, body)

    async def mark() -> None:
        await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
        if on_window_start is not None:
            result = on_window_start()
            if asyncio.iscoroutine(result):
                await result

    marker = asyncio.create_task(mark())
    await asyncio.gather(*(worker(c) for c in clients))
    await marker
    finished = min(time.perf_counter(), window.end)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    return Measured(
        seconds=max(0.0, finished - window.start) if stopped_early else duration,
        completed=window.completed,
        errors=window.errors,
        latencies=window.latencies,
        first_error=window.first_error,
        stopped_early=stopped_early,
    )


async def open_loop(
    port: int,
    make: MakeRequest,
    check: Check,
    *,
    rate: float,
    warmup: float,
    duration: float,
    connections: int = 16,
    max_connections: int = 512,
    limit: int | None = None,
) -> Measured:
    """Start request i at ``start + i / rate``; its latency counts from then."""
    idle: collections.deque[_Client] = collections.deque(
        [await connect(port) for _ in range(connections)]
    )
    opened = len(idle)
    free = asyncio.Condition()
    started = time.perf_counter() + 0.05
    window = _Window(started + warmup, started + warmup + duration, check, by_start=True)
    in_flight: set[asyncio.Task[None]] = set()
    late = 0
    stopped_early = False

    async def one(client: _Client, index: int, scheduled: float) -> None:
        try:
            status, body = await client.request(make(index))
        except (ResponseError, TimeoutError, OSError, RuntimeError) as error:
            # RuntimeError: uvloop refuses a write on a transport closed meanwhile.
            window.fail(scheduled, error)
            return
        window.record(scheduled, time.perf_counter(), status, body)
        async with free:
            if not client.closed:
                idle.append(client)
            free.notify()

    index = 0
    while True:
        scheduled = started + index / rate
        if scheduled >= window.end:
            break
        if limit is not None and index >= limit:
            stopped_early = True
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # Connections the server closed while they sat idle are dropped.
        alive = [c for c in idle if not c.closed]
        opened -= len(idle) - len(alive)
        idle.clear()
        idle.extend(alive)
        if not idle and opened < max_connections:
            idle.append(await connect(port))
            opened += 1
        if not idle:
            late += 1
            async with free:
                await free.wait_for(lambda: bool(idle))
        client = idle.popleft()
        task = asyncio.create_task(one(client, index, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        index += 1
    if in_flight:
        await asyncio.wait(in_flight, timeout=REQUEST_TIMEOUT)
    for client in idle:
        if client.transport is not None:
            client.transport.close()
    return Measured(
        seconds=duration,
        completed=window.completed,
        errors=window.errors,
        latencies=window.latencies,
        first_error=window.first_error,
        late_starts=late,
        stopped_early=stopped_early,
    )
