"""Events to wire-format v1 documents.

* A cash transaction above the US CTR amount, or at least the MX operación-relevante amount,
  is reported as ``LVTR`` (one report per transaction, carrying it); the rest are ``TXN``.
  Aggregation across the business day is left to the rules.
* ``STR`` reports carry ``suspicion`` (categories ``SAR-<subtype>`` in the US, ``ROI-<subtype>``
  in Mexico) and no ``transaction``; their stream time is ``filed_at``.
* Transfers between two simulated accounts produce two reports, the payer's ``out`` leg and the
  payee's ``in`` leg, each naming the other side's real account, so flows can be traced.
* ``transaction.account_opened`` (ISO date) is an extension field (wire v1 keeps unknown
  fields): the account's opening date, as in goAML ``t_account.opened``.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from refdata.thresholds import MX_ROR_CENTS, US_CTR_CENTS
from simulator.events import DAY, Event
from simulator.parties import External
from simulator.reference import MX_ROR_THRESHOLD_MXN_MINOR
from simulator.scene import Simulation


@lru_cache(maxsize=1)
def _times_of_day() -> tuple[str, ...]:
    """Every "HH:MM:SSZ" of a day, so formatting a timestamp is one lookup."""
    return tuple(
        f"{h:02d}:{m:02d}:{sec:02d}Z" for h in range(24) for m in range(60) for sec in range(60)
    )


class Reporter:
    """Turns one run's events into documents, numbering each institution's reports."""

    def __init__(self, sim: Simulation) -> None:
        pop = sim.pop
        self.pop = pop
        self.a_inst = sim.a_inst
        self.inst_ids = [inst.institution_id for inst in sim.insts]
        self.inst_country = sim.inst_country
        self.inst_currency = sim.inst_currency
        self.t0 = sim.t0
        self.counters = [0] * len(sim.insts)
        self.prefix_cache: dict[int, str] = {}
        self.subject_parts: list[tuple[Any, ...]] = [
            (
                "entity" if pop.is_entity[s] else "person",
                pop.name[s],
                pop.country[s],
                pop.identifiers[s],
                "naics" if pop.is_entity[s] else "occupation",
                pop.naics[s] if pop.is_entity[s] else pop.occupation[s],
            )
            for s in range(pop.size)
        ]
        self.account_party: list[External] = [
            (
                pop.name[pop.a_subject[a]],
                pop.a_number[a],
                self.inst_ids[pop.a_inst[a]],
                sim.inst_country[pop.a_inst[a]],
                "entity" if pop.is_entity[pop.a_subject[a]] else "person",
            )
            for a in range(len(pop.a_subject))
        ]
        index = sim.branch_index
        self.branch_location = [
            {
                "country": sim.inst_country[index.inst[i]],
                "region": index.region[i],
                "branch_id": index.branch_id[i],
            }
            for i in range(len(index.branch_id))
        ]

    def timestamp(self, t: int) -> str:
        day, rest = divmod(self.t0 + t, DAY)
        prefix = self.prefix_cache.get(day)
        if prefix is None:
            prefix = f"{date(1970, 1, 1) + timedelta(days=day)}T"
            self.prefix_cache[day] = prefix
        return prefix + _times_of_day()[rest]

    def subject(self, account: int) -> dict[str, Any]:
        kind, name, country, identifiers, extra_key, extra_value = self.subject_parts[
            self.pop.a_subject[account]
        ]
        subject: dict[str, Any] = {
            "subject_id": self.pop.a_customer[account],
            "type": kind,
            "name": name,
            "country": country,
            "identifiers": [{"type": a, "value": v, "country": c} for a, v, c in identifiers],
        }
        if extra_value is not None:
            subject[extra_key] = extra_value
        return subject

    def _number(self, inst: int) -> int:
        number = self.counters[inst] + 1
        self.counters[inst] = number
        return number

    def report(self, event: Event) -> dict[str, Any]:
        """The wire document of one event."""
        if event[2] < 0:
            return self.str_report(event)
        t, _seq, account, direction, instrument, _channel, amount, currency, _p, _b, _e = event
        inst = self.a_inst[account]
        jurisdiction = self.inst_country[inst]
        currency = currency or self.inst_currency[inst]
        report_type = "TXN"
        if instrument == "cash":
            if jurisdiction == "US":
                if amount > US_CTR_CENTS:
                    report_type = "LVTR"
            elif amount >= (MX_ROR_THRESHOLD_MXN_MINOR if currency == "MXN" else MX_ROR_CENTS):
                report_type = "LVTR"
        number = self.counters[inst] = self.counters[inst] + 1
        institution_id = self.inst_ids[inst]
        # Feeds arrive within minutes; large-value reports are filed later the same day or next.
        lag = (
            20 + (number * 7_919) % 900
            if report_type == "TXN"
            else 3_600 + (number * 104_729) % 64_800
        )
        return {
            "schema_version": 1,
            "report_id": f"{institution_id}-R{number:010d}",
            "report_type": report_type,
            "institution_id": institution_id,
            "jurisdiction": jurisdiction,
            "filed_at": self.timestamp(t + lag),
            "subject": self.subject(account),
            "transaction": self.transaction(event, institution_id, number, currency),
        }

    def transaction(
        self, event: Event, institution_id: str, number: int, currency: str
    ) -> dict[str, Any]:
        t, _seq, account, direction, instrument, channel, amount, _c, party, branch, _e = event
        if branch >= 0:
            location = self.branch_location[branch]
        else:
            subject = self.pop.a_subject[account]
            location = {"country": self.pop.country[subject], "region": self.pop.region[subject]}
        transaction: dict[str, Any] = {
            "transaction_id": f"{institution_id}-T{number:010d}",
            "timestamp": self.timestamp(t),
            "amount": f"{amount // 100}.{amount % 100:02d}",
            "currency": currency,
            "instrument": instrument,
            "direction": direction,
            "channel": channel,
            "account_id": self.pop.a_number[account],
            "account_opened": self.pop.a_opened[account],
            "location": dict(location),
        }
        if party is not None:
            name, party_account, party_institution, party_country, party_type = (
                self.account_party[party] if isinstance(party, int) else party
            )
            counterparty: dict[str, Any] = {"name": name}
            if party_account is not None:
                counterparty["account_id"] = party_account
                counterparty["institution_id"] = party_institution
            counterparty["country"] = party_country
            counterparty["type"] = party_type
            transaction["counterparty"] = counterparty
        return transaction

    def str_report(self, event: Event) -> dict[str, Any]:
        t, _seq, _marker, account, _episode, categories, narrative, active_from, active_to = event
        inst = self.a_inst[account]
        number = self._number(inst)
        institution_id = self.inst_ids[inst]
        return {
            "schema_version": 1,
            "report_id": f"{institution_id}-R{number:010d}",
            "report_type": "STR",
            "institution_id": institution_id,
            "jurisdiction": self.inst_country[inst],
            "filed_at": self.timestamp(t),
            "subject": self.subject(account),
            "suspicion": {
                "categories": list(categories),
                "narrative": narrative,
                "activity_from": self.timestamp(min(active_from, active_to)),
                "activity_to": self.timestamp(active_to),
            },
        }
