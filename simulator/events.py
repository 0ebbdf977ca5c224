"""Events: the compact tuples the simulation schedules, bucketed by day, before they are reports.

An event is a tuple sorted by ``(time, sequence)``:

* transaction: ``(t, seq, account, direction, instrument, channel, amount, currency | None,
  party, branch, episode)``
* STR: ``(t, seq, -1, account, episode, categories, narrative, activity_from, activity_to)``

``t`` is seconds since the start of the simulation; ``amount`` integer minor units (of
``currency``, or of the account's institution when None); ``party`` an account index (a
simulated account), an external party tuple, or None; ``branch`` a global branch index or -1;
``episode`` an index into the run's episode labels (a laundering case or a legitimate
look-alike), or -1.
"""

from __future__ import annotations

from typing import Any

from simulator.parties import External

Event = tuple[Any, ...]
Party = int | External | None

DAY = 86_400
HOUR = 3_600


class Events:
    """Events by day; nothing is scheduled before the frontier (the day being simulated)."""

    def __init__(self) -> None:
        self.seq = 0
        self.frontier = 0
        self.buckets: dict[int, list[Event]] = {}

    def add(
        self,
        t: int,
        account: int,
        direction: str,
        instrument: str,
        channel: str,
        amount: int,
        currency: str | None,
        party: Party,
        branch: int,
        episode: int,
    ) -> None:
        if t < self.frontier:
            t = self.frontier
        self.seq += 1
        event = (
            t,
            self.seq,
            account,
            direction,
            instrument,
            channel,
            amount,
            currency,
            party,
            branch,
            episode,
        )
        bucket = self.buckets.get(t // DAY)
        if bucket is None:
            self.buckets[t // DAY] = [event]
        else:
            bucket.append(event)

    def add_str(
        self,
        t: int,
        account: int,
        episode: int,
        categories: list[str],
        narrative: str,
        activity_from: int,
        activity_to: int,
    ) -> None:
        t = max(t, self.frontier, activity_to)
        self.seq += 1
        event = (
            t,
            self.seq,
            -1,
            account,
            episode,
            categories,
            narrative,
            activity_from,
            activity_to,
        )
        self.buckets.setdefault(t // DAY, []).append(event)

    def take_day(self, day: int) -> list[Event]:
        """The day's events in time order (and removes them)."""
        bucket = self.buckets.pop(day, None)
        if not bucket:
            return []
        bucket.sort()
        return bucket
