from __future__ import annotations

import threading

from pydantic import BaseModel, ConfigDict

from refdata.once import computed_once


class Doubler(BaseModel):
    model_config = ConfigDict(frozen=True, ignored_types=(computed_once,))

    value: int
    calls: list[int] = []

    @computed_once
    def doubled(self) -> int:
        self.calls.append(self.value)
        return self.value * 2


def test_computed_on_first_read_then_kept() -> None:
    model = Doubler(value=21, calls=[])
    assert model.calls == []
    assert model.doubled == 42
    assert model.doubled == 42
    assert model.calls == [21]


def test_not_a_field_and_not_dumped() -> None:
    model = Doubler(value=2, calls=[])
    assert model.doubled == 4
    assert list(Doubler.model_fields) == ["value", "calls"]
    assert model.model_dump() == {"value": 2, "calls": [2]}
    assert model == Doubler(value=2, calls=[2])


def test_takes_no_lock() -> None:
    # functools.cached_property on Python 3.11 would block here: another thread holds the
    # property's lock while this one computes a value of another instance.
    entered, release = threading.Event(), threading.Event()

    class Blocking(BaseModel):
        model_config = ConfigDict(frozen=True, ignored_types=(computed_once,))
        name: str

        @computed_once
        def label(self) -> str:
            if self.name == "slow":
                entered.set()
                release.wait(2)
            return self.name.upper()

    holder = threading.Thread(target=lambda: Blocking(name="slow").label)
    holder.start()
    assert entered.wait(5)
    try:
        assert Blocking(name="fast").label == "FAST"
        assert holder.is_alive()  # read while the slow one was still computing
    finally:
        release.set()
        holder.join(5)
