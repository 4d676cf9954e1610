"""asyncio across the surface: awaitable results, async for, and the ``a`` twins.

Every wait goes through the running loop (fd reader callbacks, or a wake-up from the
thread that completes the object, or a bounded poll where there is no fd), so the
loop stays responsive; a cancelled wait takes nothing.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import warnings

import pytest

import mproc
import mproc.pool

TIMEOUT = 30


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def square(x):
    return x * x


def sleep_then(seconds, value=None):
    time.sleep(seconds)
    return value


def produce(queue, count):
    for i in range(count):
        queue.put(i)
        if i % 97 == 0:
            time.sleep(0.001)


def consume_and_mark_done(queue, count):
    for _ in range(count):
        queue.get(timeout=TIMEOUT)
        time.sleep(0.001)
        queue.task_done()


def hold_then_release(lock, held, seconds):
    with lock:
        held.set()
        time.sleep(seconds)


def hold_and_die(lock, held):
    lock.acquire()
    held.set()
    time.sleep(60)


def set_later(event, seconds):
    time.sleep(seconds)
    event.set()


def notify_later(cond, flag, seconds):
    time.sleep(seconds)
    with cond:
        flag.value = 1
        cond.notify_all()


def barrier_wait(barrier):
    barrier.wait(TIMEOUT)


def start(ctx, target, *args):
    process = ctx.Process(target=target, args=args, daemon=True)
    process.start()
    return process


# -- pool results ---------------------------------------------------------------------

def test_awaitable_results_and_async_for(ctx):
    async def main():
        with ctx.Pool(2) as pool:
            assert await pool.apply_async(square, (7,)) == 49
            with pytest.raises(ZeroDivisionError):
                await pool.apply_async(divmod, (1, 0))
            assert await pool.map_async(square, range(6)) == [0, 1, 4, 9, 16, 25]
            assert [x async for x in pool.imap(square, range(20))] == \
                [i * i for i in range(20)]
            assert sorted([x async for x in pool.imap_unordered(square, range(20))]) == \
                [i * i for i in range(20)]
            assert [x async for x in pool.imap(lambda x: None, range(3))] == [None] * 3
            slow = pool.apply_async(sleep_then, (0.3, "late"))
            waiter = asyncio.ensure_future(slow._await())
            await asyncio.sleep(0.05)
            waiter.cancel()  # cancels the wait, not the pool's task
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert await slow == "late"

    run(main())


def test_loop_stays_responsive_while_awaiting_a_thousand_results(ctx):
    async def main():
        lags = []

        async def ticker():
            while True:
                before = time.monotonic()
                await asyncio.sleep(0.01)
                lags.append(time.monotonic() - before - 0.01)

        with ctx.Pool(2) as pool:
            tick = asyncio.ensure_future(ticker())
            results = await asyncio.gather(*(pool.apply_async(sleep_then, (0.002, i))
                                             for i in range(1000)))
            tick.cancel()
        assert results == list(range(1000))
        assert lags and max(lags) < 0.05, f"the loop lagged {max(lags):.3f} s"

    run(main())


# -- queues -----------------------------------------------------------------------------

def test_queue_twins(ctx):
    async def main():
        queue = ctx.Queue(2)
        await queue.aput(1)
        await queue.aput(2)
        with pytest.raises(mproc.queues.Full):
            await queue.aput(3, timeout=0.05)
        assert [await queue.aget(), await queue.aget()] == [1, 2]
        with pytest.raises(mproc.queues.Empty):
            await queue.aget(timeout=0.05)
        simple = ctx.SimpleQueue()
        await simple.aput("s")
        assert await simple.aget() == "s"
        queue.close()
        queue.join_thread()

    run(main())


def test_cancelled_aget_racing_a_producer_loses_and_duplicates_nothing(ctx):
    count = 10_000

    async def main():
        queue = ctx.Queue()
        producer = start(ctx, produce, queue, count)
        received = []
        rng = random.Random(7)
        for _ in range(count):
            task = asyncio.ensure_future(queue.aget())
            await asyncio.sleep(rng.choice((0, 0, 0.0001, 0.0003)))
            task.cancel()
            try:
                received.append(await task)
            except asyncio.CancelledError:
                pass
        while len(received) < count:
            received.append(await queue.aget(timeout=TIMEOUT))
        await producer.ajoin(TIMEOUT)
        return received

    received = run(main())
    assert sorted(received) == list(range(count))  # every item once: none lost, none twice


def test_joinable_queue_ajoin(ctx):
    async def main():
        queue = ctx.JoinableQueue()
        for i in range(5):
            await queue.aput(i)
        consumer = start(ctx, consume_and_mark_done, queue, 5)
        await queue.ajoin()
        await consumer.ajoin(TIMEOUT)
        assert consumer.exitcode == 0

    run(main())


# -- connections and processes -------------------------------------------------------------

def test_connection_twins_and_partial_message_survives_cancel(ctx):
    async def main():
        a, b = ctx.Pipe()
        assert not await a.apoll(0.02)
        b.send({"x": 1})
        assert await a.apoll(1) and await a.arecv() == {"x": 1}
        await a.asend([1, 2])
        assert b.recv() == [1, 2]
        reader, writer = ctx.Pipe(duplex=False)
        payload = os.urandom(3_000_000)
        receiving = asyncio.ensure_future(reader.arecv_bytes())
        await writer.asend_bytes(payload)
        assert await receiving == payload
        # Half a message arrives, the receive is cancelled, then the rest arrives.
        header_and_half = len(payload).to_bytes(4, "big") + payload[:1000]
        os.write(writer.fileno(), header_and_half)
        receiving = asyncio.ensure_future(reader.arecv_bytes())
        await asyncio.sleep(0.05)
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        remaining = payload[1000:]
        writing = asyncio.get_running_loop().run_in_executor(None, os.write, writer.fileno(),
                                                             remaining)
        assert await reader.arecv_bytes() == payload
        await writing
        for conn in (a, b, reader, writer):
            conn.close()

    run(main())


def test_process_ajoin(ctx):
    async def main():
        process = start(ctx, time.sleep, 0.2)
        started = time.monotonic()
        await process.ajoin(TIMEOUT)
        assert process.exitcode == 0 and time.monotonic() - started < 10
        sleeper = start(ctx, time.sleep, 30)
        await sleeper.ajoin(0.05)
        assert sleeper.exitcode is None
        sleeper.kill()
        await sleeper.ajoin(TIMEOUT)
        assert sleeper.exitcode == -signal.SIGKILL

    run(main())


# -- synchronization ------------------------------------------------------------------------

def test_lock_semaphore_event_condition_barrier_twins(ctx):
    async def main():
        lock, held = ctx.Lock(), ctx.Event()
        holder = start(ctx, hold_then_release, lock, held, 0.2)
        assert await held.wait_async(TIMEOUT)
        assert not await lock.aacquire(timeout=0.02)
        assert await lock.aacquire(timeout=TIMEOUT)
        lock.release()
        async with lock:
            assert lock.locked() if hasattr(lock, "locked") else True
        await holder.ajoin(TIMEOUT)

        rlock = ctx.RLock()
        async with rlock:
            async with rlock:
                pass
        semaphore = ctx.Semaphore(1)
        async with semaphore:
            assert not await semaphore.aacquire(timeout=0.02)

        event = ctx.Event()
        setter = start(ctx, set_later, event, 0.1)
        assert await event.wait_async(TIMEOUT)
        assert not await ctx.Event().wait_async(0.02)
        await setter.ajoin(TIMEOUT)

        cond, flag = ctx.Condition(), ctx.Value("i", 0, lock=False)
        notifier = start(ctx, notify_later, cond, flag, 0.1)
        async with cond:
            assert await cond.wait_for_async(lambda: flag.value == 1, TIMEOUT)
        await notifier.ajoin(TIMEOUT)

        barrier = ctx.Barrier(2)
        other = start(ctx, barrier_wait, barrier)
        assert await barrier.wait_async(TIMEOUT) in (0, 1)
        await other.ajoin(TIMEOUT)
        assert other.exitcode == 0

    run(main())


def test_cancelled_condition_wait_retakes_the_lock_then_releases_it(ctx):
    async def main():
        cond = ctx.Condition(ctx.Lock())

        async def wait_then_hold():
            async with cond:
                await cond.wait_async()

        waiter = asyncio.ensure_future(wait_then_hold())
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await cond.aacquire(timeout=1)  # re-taken, then released on the way out
        cond.release()

    run(main())


def test_aacquire_takes_over_from_a_dead_holder(ctx):
    async def main():
        lock, held = ctx.Lock(), ctx.Event()
        holder = start(ctx, hold_and_die, lock, held)
        assert await held.wait_async(TIMEOUT)
        os.kill(holder.pid, signal.SIGKILL)
        await holder.ajoin(TIMEOUT)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert await lock.aacquire(timeout=TIMEOUT)
        lock.release()
        assert any("died" in str(w.message) or "recover" in str(w.message).lower()
                   for w in caught), [str(w.message) for w in caught]

    run(main())
