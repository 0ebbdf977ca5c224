"""The population under construction: its parties, the transactions they make, and the shared
counterparty pools (merchants, employers, suppliers...) that make customers' flows overlap."""

from __future__ import annotations

import random
from datetime import date
from itertools import accumulate

from bench.populations.core import (
    Branch,
    Counterparty,
    Institution,
    Party,
    Txn,
    chance,
    round_to,
    to_decimal,
)
from bench.populations.identity import Identities
from bench.populations.worlds import World

# Local hours at which each kind of activity happens: (low, high, mode) of a triangular draw.
_HOURS = {
    "ach": (3.5, 8.0, 5.0),
    "card": (7.0, 23.5, 16.0),
    "branch": (9.0, 17.5, 12.0),
    "atm": (6.0, 23.9, 17.0),
    "online": (6.0, 23.9, 20.0),
    "wire": (8.5, 16.5, 11.0),
    "night": (18.5, 23.5, 21.0),
    "any": (0.0, 23.99, 14.0),
}

HIGH_RISK = ("IR", "KP", "MM", "SY", "YE", "VE", "HT", "SS", "NG", "ML")
SECRECY = ("PA", "VG", "KY", "BZ", "SC", "BS", "CY", "AE", "HK")
TRADE_PARTNERS = ("CN", "TW", "KR", "VN", "DE", "IT", "JP", "CA", "IN", "CO", "BR", "GT", "TH")


class Population:
    """Parties and their transactions for one world, drawn from one random stream."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.calendar = world.calendar
        self.ids = Identities(rng)
        self.parties: list[Party] = []
        self.txns: list[Txn] = []
        self._pools: dict[tuple[str, str], tuple[list[Counterparty], list[float]]] = {}
        self._banks: dict[str, list[str]] = {}
        self._end = world.calendar.utc(world.calendar.days, 0.0, 0)

    @property
    def days(self) -> int:
        return self.calendar.days

    @property
    def today(self) -> date:
        return self.calendar.start

    # --- parties -----------------------------------------------------------------------
    def new_party(
        self,
        institution: Institution,
        segment: str,
        kind: str,
        *,
        sector: str = "",
        occupation: str | None = None,
        naics: str | None = None,
        str_risk: float = 1.0,
        lookalike: str | None = None,
        home: Branch | None = None,
        foreign_born: bool = False,
        identity_of: Party | None = None,
    ) -> Party:
        """A new customer of ``institution``; ``identity_of`` reuses another party's name and
        identifiers (the same person or business banking at a second institution)."""
        rng = self.rng
        country = institution.country
        if identity_of is not None:
            name, identifiers = identity_of.name, identity_of.identifiers
            resident = identity_of.country
        elif kind == "person":
            name, identifiers = self._person_identity(country, institution.kind, foreign_born)
            resident = country
        else:
            name = self.ids.business_name(sector, country)
            identifiers = self._entity_identifiers(name, country)
            resident = country
        home = home or rng.choice(institution.branches)
        others = [branch for branch in institution.branches if branch is not home]
        same_region = [branch for branch in others if branch.region == home.region]
        breadth = min(self.world.roaming_breadth, len(others))
        if same_region and rng.random() < 0.7:
            pool = same_region + rng.sample(others, min(len(others), breadth))
        else:
            pool = others
        other_branches = tuple(rng.sample(pool, min(len(pool), breadth))) if breadth else ()
        low, high = self.world.roaming
        party = Party(
            institution=institution,
            subject_id=self.ids.subject_id(institution.kind, country),
            kind=kind,
            name=name,
            country=resident,
            identifiers=identifiers,
            occupation=occupation if kind == "person" else None,
            naics=naics if kind == "entity" else None,
            account_id=self.ids.account(country),
            home=home,
            other_branches=other_branches,
            segment=segment,
            roaming=rng.uniform(low, high),
            str_risk=str_risk,
            lookalike=lookalike,
        )
        self.parties.append(party)
        return party

    def _person_identity(
        self, country: str, institution_kind: str, foreign_born: bool
    ) -> tuple[str, list[dict[str, str]]]:
        rng, ids = self.rng, self.ids
        parts = ids.person_name("MX" if foreign_born else country)
        born = ids.birth_date(18, 88, self.today)
        identifiers: list[dict[str, str]] = []
        walk_in = institution_kind in ("msb", "casa_de_cambio")
        if country == "US":
            draw = rng.random()
            if foreign_born and draw < 0.45:
                identifiers.append({"type": "ITIN", "value": ids.itin(), "country": "US"})
            elif draw < 0.95 or not walk_in:
                identifiers.append({"type": "SSN", "value": ids.ssn(), "country": "US"})
            if foreign_born and rng.random() < 0.4:
                identifiers.append(
                    {"type": "PASSPORT", "value": ids.passport("MX"), "country": "MX"}
                )
        else:
            if rng.random() < (0.75 if walk_in else 0.95):
                sex = rng.choice("HM")
                identifiers.append(
                    {"type": "CURP", "value": ids.curp(parts, born, sex), "country": "MX"}
                )
            if rng.random() < (0.3 if walk_in else 0.7):
                identifiers.append(
                    {"type": "RFC", "value": ids.rfc_person(parts, born), "country": "MX"}
                )
            if not identifiers and rng.random() < 0.5:
                identifiers.append(
                    {"type": "PASSPORT", "value": ids.passport("MX"), "country": "MX"}
                )
        return ids.full_name(parts), identifiers

    def _entity_identifiers(self, name: str, country: str) -> list[dict[str, str]]:
        if self.rng.random() < 0.02:
            return []
        if country == "US":
            return [{"type": "EIN", "value": self.ids.ein(), "country": "US"}]
        founded = self.ids.birth_date(1, 40, self.today)
        return [{"type": "RFC", "value": self.ids.rfc_entity(name, founded), "country": "MX"}]

    # --- counterparties ----------------------------------------------------------------
    def bank_id(self, country: str) -> str:
        """An institution outside the population (an id in the form its country uses)."""
        banks = self._banks.get(country)
        if banks is None:
            rng = self.rng
            if country in ("US", "MX"):
                banks = [f"{country}-FI-{rng.randint(10000, 99999)}" for _ in range(25)]
            else:
                banks = [self.ids.bic(country) for _ in range(6)]
            self._banks[country] = banks
        return self.rng.choice(banks)

    def person(self, country: str, *, account: bool = True) -> Counterparty:
        parts = self.ids.person_name(country)
        return Counterparty(
            self.ids.full_name(parts),
            self.ids.foreign_account(country) if account else None,
            self.bank_id(country) if account else None,
            country,
            "person",
        )

    def entity(self, country: str, sector: str, *, account: bool = True) -> Counterparty:
        return Counterparty(
            self.ids.business_name(sector, country),
            self.ids.foreign_account(country) if account else None,
            self.bank_id(country) if account else None,
            country,
            "entity",
        )

    def pooled(
        self,
        pool: str,
        country: str,
        *,
        size: int,
        sector: str = "",
        person: bool = False,
        account: bool = True,
    ) -> Counterparty:
        """One member of a shared pool: many customers pay the same merchants and employers."""
        key = (pool, country)
        entry = self._pools.get(key)
        if entry is None:
            members = [
                self.person(country, account=account)
                if person
                else self.entity(country, sector or pool, account=account)
                for _ in range(size)
            ]
            # A few members are much more popular than the rest, as real merchants are.
            weights = list(accumulate(1.0 / (rank + 1) ** 0.8 for rank in range(size)))
            entry = (members, weights)
            self._pools[key] = entry
        members, weights = entry
        return self.rng.choices(members, cum_weights=weights)[0]

    # --- time --------------------------------------------------------------------------
    def hour(self, kind: str) -> float:
        low, high, mode = _HOURS[kind]
        return self.rng.triangular(low, high, mode)

    # --- transactions ------------------------------------------------------------------
    def emit(
        self,
        party: Party,
        day: int,
        hour: float,
        usd: float,
        *,
        instrument: str,
        direction: str,
        channel: str,
        counterparty: Counterparty | None = None,
        currency: str | None = None,
        step: float | None = None,
        branch: Branch | None = None,
        country: str | None = None,
        typology: str | None = None,
        local_amount: float | None = None,
    ) -> Txn | None:
        """Records one transaction of ``party``; ``usd`` is converted into ``currency`` (the
        party's own by default) and rounded to ``step`` units of that currency when given.
        Returns None for a day outside the window."""
        if usd <= 0 or day < 0:
            return None
        currency = currency or party.currency
        rate = self.world.fx[currency]
        amount = local_amount if local_amount is not None else usd * rate
        if step:
            amount = round_to(amount, step)
        if channel in ("branch", "atm") and branch is None:
            branch = party.visit_branch(self.rng)
        offset = (branch or party.home).utc_offset
        timestamp = self.calendar.utc(day, hour, offset)
        if timestamp >= self._end:
            return None
        decimal = to_decimal(amount, currency)
        txn = Txn(
            party=party,
            timestamp=timestamp,
            amount=decimal,
            currency=currency,
            usd=float(decimal) / rate,
            instrument=instrument,
            direction=direction,
            channel=channel,
            counterparty=counterparty,
            branch=branch,
            country=country or (branch.country if branch else party.institution.country),
            typology=typology,
            transaction_id=self.ids.transaction_id(),
        )
        self.txns.append(txn)
        return txn

    def transfer(
        self,
        source: Party,
        target: Party,
        day: int,
        hour: float,
        usd: float,
        *,
        instrument: str,
        currency: str | None = None,
        step: float | None = None,
        lag_hours: float | None = None,
        channel: str = "online",
        typology_source: str | None = None,
        typology_target: str | None = None,
    ) -> None:
        """Money between two parties of the population: both institutions report their side,
        with the same amount and currency."""
        if currency is None:
            currency = source.currency if source.country == target.country else "USD"
        sent = self.emit(
            source,
            day,
            hour,
            usd,
            instrument=instrument,
            direction="out",
            channel=channel,
            counterparty=target.as_counterparty(),
            currency=currency,
            step=step,
            typology=typology_source,
        )
        if sent is None:
            return
        if lag_hours is None:
            lag_hours = (
                self.rng.uniform(18, 30) if instrument == "ach" else self.rng.uniform(0.05, 2.0)
            )
        inbound = (
            "correspondent"
            if source.institution.country != target.institution.country
            else ("online")
        )
        self.emit(
            target,
            day,
            hour + lag_hours,
            usd,
            instrument=instrument,
            direction="in",
            channel=inbound,
            counterparty=source.as_counterparty(),
            currency=currency,
            local_amount=float(sent.amount),
            typology=typology_target,
        )

    def wire_currency(self, party: Party) -> str:
        """The currency of a cross-border wire: mostly US dollars, sometimes a third currency."""
        if chance(self.rng, self.world.foreign_currency_share):
            return self.rng.choice(("EUR", "CAD", "GBP", "CNY", "JPY"))
        if party.currency == "MXN" and chance(self.rng, 0.25):
            return "MXN"
        return "USD"
