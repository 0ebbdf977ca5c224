"""Concurrent callers asking for the same key share one call (Go's ``singleflight``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """While a call for a key is in flight, callers with the same key await its result.

    For lookups that many requests need at the same moment, such as a cache entry that has
    just expired under load: one query instead of one per request in flight. A failure is not
    shared: if the leading call fails or is cancelled, each waiting caller makes its own call.
    Futures belong to the event loop of the leading call; one instance serves one loop.
    """

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    async def do(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        """Returns ``await call()``, or the result of the call already in flight for ``key``."""
        in_flight = self._calls.get(key)
        if in_flight is not None:
            try:
                return await asyncio.shield(in_flight)
            except asyncio.CancelledError:
                if not in_flight.cancelled():
                    raise  # this caller was cancelled, not the leading call
            except Exception:  # noqa: BLE001 - the leader's failure is its own: try ourselves
                return await call()
            return await call()
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            result = await call()
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: asyncio would log it when nobody else was waiting
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._calls[key]
