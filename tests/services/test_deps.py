"""run_blocking: the hot read paths' hop to the app's thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from services.deps import run_blocking

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def _request(executor: ThreadPoolExecutor) -> Any:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(executor=executor)))


def test_runs_on_the_apps_executor_with_the_callers_context() -> None:
    def work(value: int, *, plus: int) -> tuple[int, str, str]:
        return value + plus, REQUEST_ID.get(), threading.current_thread().name

    async def scenario() -> tuple[int, str, str]:
        REQUEST_ID.set("r-1")
        with ThreadPoolExecutor(2, thread_name_prefix="amlscreen-db") as executor:
            return await run_blocking(_request(executor), work, 40, plus=2)

    result, request_id, thread = asyncio.run(scenario())
    assert result == 42
    assert request_id == "r-1"
    assert thread.startswith("amlscreen-db")


def test_a_cancelled_caller_waits_for_the_call_to_finish() -> None:
    events: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        events.append("call finished")

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            task = asyncio.create_task(run_blocking(_request(executor), slow))
            await asyncio.sleep(0.05)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                events.append("caller cancelled")

    asyncio.run(scenario())
    assert events == ["call finished", "caller cancelled"]
