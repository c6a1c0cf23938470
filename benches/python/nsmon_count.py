"""Peer-harness consumer for nsmon's Python binding, the counterpart of pyroute2_count.py in the
peers harness (same arguments, same output): the CPU that the binding costs per IPv4 route
event received, typed into a StreamEvent (reading each one's ``route.dst``).

    nsmon_count.py sync EXPECTED NAME...    one Stream over every namespace (add_many), IPv4
                                            routes only, a poll loop: wait(), then next_batch()
                                            until nothing is ready
    nsmon_count.py async EXPECTED NAME...   the same stream read with ``async for`` on asyncio
                                            (loop.add_reader)

One process follows every namespace in both modes (one fd). Default options: the 1 MiB
receive buffer (pyroute2's too), ``keep_raw`` on (each event carries its message's bytes);
``NSMON_COUNT_RCVBUF=BYTES`` in the environment sets another receive buffer.

Protocol of the harness: prints "ready" once subscribed, then, when EXPECTED route events were
counted or none came for 3 s (60 s before the first), "COUNT OVERRUNS CPU_US SETUP_CPU_US"
(CPU: user + system of this process, in total and up to "ready", which is mostly Python's start
and the library's load).
"""

import asyncio
import os
import resource
import sys
import time

import nsmon


def cpu_us() -> int:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return int((ru.ru_utime + ru.ru_stime) * 1e6)


class Tally:
    def __init__(self, expected: int) -> None:
        self.expected, self.count, self.overruns, self.setup_us = expected, 0, 0, 0

    def take(self, ev: nsmon.StreamEvent) -> None:
        if ev.route is not None:
            if ev.route.dst is not None:
                self.count += 1
        elif ev.kind == nsmon.StreamKind.OVERRUN or ev.kind == nsmon.StreamKind.ERROR:
            self.overruns += 1

    def finish(self) -> None:
        print(self.count, self.overruns, cpu_us(), self.setup_us, flush=True)


def subscribe(names) -> nsmon.Stream:
    stream = nsmon.Stream()
    rcvbuf = os.environ.get("NSMON_COUNT_RCVBUF")
    errors = stream.add_many(
        [(n, nsmon.named(n)) for n in names],
        groups=nsmon.Group.IPV4_ROUTE,
        receive_buffer=int(rcvbuf) if rcvbuf else None,
    )
    failed = [e for e in errors if e is not None]
    if failed:
        sys.exit(f"nsmon_count.py: {failed[0]}")
    return stream


def run_sync(tally: Tally, names) -> None:
    stream = subscribe(names)
    tally.setup_us = cpu_us()
    print("ready", flush=True)
    idle = 60.0
    while tally.count < tally.expected:
        if not stream.wait(idle):
            break
        idle = 3.0
        while True:
            batch = stream.next_batch()
            if not batch:
                break
            for ev in batch:
                tally.take(ev)
    tally.finish()


async def run_async(tally: Tally, names) -> None:
    stream = subscribe(names)
    tally.setup_us = cpu_us()
    print("ready", flush=True)

    async def count() -> None:
        async for ev in stream:
            tally.take(ev)
            if tally.count >= tally.expected:
                return

    # The watchdog of the protocol: ends the run once nothing came for 3 s (60 s before the
    # first event), looking every 0.5 s as pyroute2_count.py's does.
    task = asyncio.create_task(count())
    last, since, idle = 0, time.monotonic(), 60.0
    while not task.done():
        await asyncio.wait([task], timeout=0.5)
        if tally.count != last:
            last, since, idle = tally.count, time.monotonic(), 3.0
        elif time.monotonic() - since > idle:
            task.cancel()
            break
    tally.finish()


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[1] not in ("sync", "async"):
        sys.exit("usage: nsmon_count.py sync|async EXPECTED NAME...")
    tally = Tally(int(sys.argv[2]))
    if sys.argv[1] == "sync":
        run_sync(tally, sys.argv[3:])
    else:
        asyncio.run(run_async(tally, sys.argv[3:]))


if __name__ == "__main__":
    main()
