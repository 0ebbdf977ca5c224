"""A cached property without a lock, for frozen models read on the worker's hot path."""

from __future__ import annotations

import functools
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class computed_once(functools.cached_property[T], Generic[T]):  # noqa: N801 - a decorator
    """``functools.cached_property`` without its lock.

    On Python 3.11 ``cached_property`` takes one lock per property, shared by every instance
    of the class, around each first computation (3.12 removed it, gh-87634). The worker's
    polling thread computes several of these values for every report while its store thread
    reads others, and the lock was a measurable share of the polling thread's time
    (docs/benchmarks.md, "Measurements behind the code"). The values are pure
    functions of a frozen model: computing one twice in a race is harmless, so no lock is
    needed. Pydantic models that use it list it in ``ignored_types``.
    """

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> computed_once[T]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        value = self.func(instance)
        # Found there first on the next read: the descriptor is not a data descriptor.
        instance.__dict__[self.attrname] = value  # type: ignore[index]
        return value
