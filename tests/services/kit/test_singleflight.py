"""SingleFlight: concurrent callers of one key share a call; failures are not shared."""

from __future__ import annotations

import asyncio

import pytest

from services.kit.singleflight import SingleFlight


class Counter:
    def __init__(self, result: str = "value", delay: float = 0.05) -> None:
        self.calls = 0
        self.result = result
        self.delay = delay

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return f"{self.result}-{self.calls}"


def test_concurrent_callers_of_one_key_share_one_call() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        call = Counter()
        results = await asyncio.gather(*[flight.do("k", call) for _ in range(10)])
        assert call.calls == 1
        assert results == ["value-1"] * 10
        assert len(flight) == 0

    asyncio.run(scenario())


def test_other_keys_and_later_callers_call_again() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        first, second = Counter("a"), Counter("b")
        assert await asyncio.gather(flight.do("a", first), flight.do("b", second)) == [
            "a-1",
            "b-1",
        ]
        assert await flight.do("a", first) == "a-2"  # the earlier call is over: a new one
        assert (first.calls, second.calls) == (2, 1)

    asyncio.run(scenario())


def test_a_failed_leader_fails_alone_and_the_others_call_themselves() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, str] = SingleFlight()

        async def failing() -> str:
            await asyncio.sleep(0.05)
            raise RuntimeError("database gone")

        follower_call = Counter("retry")
        leader = asyncio.create_task(flight.do("k", failing))
        await asyncio.sleep(0)
        followers = [asyncio.create_task(flight.do("k", follower_call)) for _ in range(3)]
        with pytest.raises(RuntimeError, match="database gone"):
            await leader
        results = await asyncio.gather(*followers)
        assert follower_call.calls >= 1
        assert all(result.startswith("retry-") for result in results)
        assert len(flight) == 0

    asyncio.run(scenario())


def test_a_cancelled_leader_does_not_cancel_the_others() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        slow, follower_call = Counter("slow", delay=1.0), Counter("follower")
        leader = asyncio.create_task(flight.do("k", slow))
        await asyncio.sleep(0)
        follower = asyncio.create_task(flight.do("k", follower_call))
        await asyncio.sleep(0.01)
        leader.cancel()
        assert await follower == "follower-1"
        assert leader.cancelled()

    asyncio.run(scenario())


def test_a_cancelled_follower_does_not_cancel_the_leader() -> None:
    async def scenario() -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        call = Counter(delay=0.1)
        leader = asyncio.create_task(flight.do("k", call))
        await asyncio.sleep(0)
        follower = asyncio.create_task(flight.do("k", call))
        await asyncio.sleep(0.01)
        follower.cancel()
        assert await leader == "value-1"
        assert follower.cancelled()
        assert call.calls == 1

    asyncio.run(scenario())
