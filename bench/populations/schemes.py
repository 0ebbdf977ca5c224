"""Laundering schemes, one function per typology.

Each scheme creates one or more customers (mules, shells, fronts) through the same party
factory as legitimate customers, often gives them legitimate cover activity (unlabelled), and
emits the scheme's own transactions labelled with the typology. Leg counts, speeds, amounts,
channels, conductors and the number of mules are drawn per scheme.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.populations.core import Counterparty, Institution, Party, chance, lognormal
from bench.populations.legit import create_party, run
from bench.populations.population import HIGH_RISK, SECRECY, TRADE_PARTNERS, Population

# Where laundered money is sent abroad, and which offshore places round-trips pass through.
_DESTINATIONS = ("MX", "MX", "CO", "CN", "HK", "GT", "PA", "VE", "DO", "AE")


@dataclass
class Scheme:
    """The context one scheme instance is drawn in."""

    pop: Population
    typology: str
    budget: int  # subjects this scheme may still create

    @property
    def rng(self) -> random.Random:
        return self.pop.rng

    @property
    def days(self) -> int:
        return self.pop.days

    def institution(self, *, country: str | None = None, bank: bool = True) -> Institution:
        """Where a scheme banks: a bank or credit union, or (``bank=False``) any reporter,
        money transmitters and casas de cambio included."""
        candidates = [
            inst
            for inst in self.pop.world.institutions
            if (country is None or inst.country == country)
            and (not bank or inst.kind in ("bank", "credit_union"))
        ] or list(self.pop.world.institutions)
        return self.rng.choices(candidates, [inst.size for inst in candidates])[0]

    def party(self, institution: Institution, cover: str, *, covered: float = 0.5) -> Party:
        """A scheme customer; with probability ``covered`` it also has ``cover``'s ordinary
        legitimate activity."""
        party = create_party(self.pop, institution, cover)
        party.typology = self.typology
        self.budget -= 1
        if chance(self.rng, covered):
            run(self.pop, party)
        return party

    def person_cover(self, institution: Institution) -> str:
        if institution.country == "MX":
            return self.rng.choice(("mx_salaried", "mx_merchant", "mx_salaried", "mx_professional"))
        if institution.kind == "msb":
            return "msb_remitter"
        if institution.kind == "casa_de_cambio":
            return "fx_customer"
        return self.rng.choice(("salaried", "salaried", "gig_worker", "self_employed", "student"))

    def entity_cover(self, institution: Institution) -> str:
        if institution.kind in ("msb", "casa_de_cambio"):
            return self.person_cover(institution)
        if institution.country == "MX":
            return self.rng.choice(("mx_importer", "mx_transport", "mx_cash_business"))
        return self.rng.choice(("wholesaler", "professional_services", "construction", "importer"))

    def window(self, min_days: int, max_days: int) -> tuple[int, int]:
        """A start day and a duration that fit in the world (longer worlds, slower schemes)."""
        stretch = max(1.0, self.days / 60)
        length = int(
            self.rng.uniform(min_days, max_days) * (stretch if chance(self.rng, 0.5) else 1)
        )
        length = max(3, min(length, self.days - 2))
        start = self.rng.randint(0, max(0, self.days - length - 1))
        return start, length

    def threshold(self, party: Party) -> float:
        """The cash reporting threshold in US dollars for the party's jurisdiction."""
        return 7500.0 if party.institution.country == "MX" else 10000.0

    def below(self, usd: float, threshold: float) -> float:
        """``usd``, or a value just under ``threshold`` when it would reach it (launderers
        keep each deposit under the reporting threshold, not at one fixed amount)."""
        return usd if usd < threshold * 0.8 else threshold * self.rng.uniform(0.8, 0.985)

    def foreign(
        self, countries: tuple[str, ...] = _DESTINATIONS, person: float = 0.4
    ) -> Counterparty:
        country = self.rng.choice(countries)
        if chance(self.rng, person):
            return self.pop.person(country)
        return self.pop.entity(country, self.rng.choice(("wholesale", "holding", "importer")))

    def domestic(self, party: Party, person: float = 0.5) -> Counterparty:
        country = party.institution.country
        if chance(self.rng, person):
            return self.pop.person(country)
        return self.pop.entity(country, self.rng.choice(("wholesale", "holding", "construction")))

    def emit(self, party: Party, day: int, hour: float, usd: float, **fields: Any) -> float:
        """Emits a labelled scheme transaction; returns its US-dollar value (0 if outside)."""
        txn = self.pop.emit(party, day, hour, usd, typology=self.typology, **fields)
        return txn.usd if txn else 0.0

    def cash_out_or_wire(
        self, party: Party, day: int, hour: float, usd: float, legs: int, *, abroad: float = 0.6
    ) -> None:
        """Moves ``usd`` out of the account in ``legs`` pieces, mostly abroad by wire."""
        shares = [self.rng.uniform(0.5, 1.5) for _ in range(legs)]
        for index, share in enumerate(shares):
            amount = usd * share / sum(shares)
            how = self.rng.random()
            later = hour + index * self.rng.uniform(0.2, 6.0)
            if how < abroad:
                counterparty = self.foreign()
                self.emit(
                    party,
                    day,
                    later,
                    amount,
                    instrument="wire",
                    direction="out",
                    channel=self.rng.choice(("online", "branch")),
                    counterparty=counterparty,
                    currency=self.pop.wire_currency(party),
                    step=self.rng.choice((None, None, 100.0, 1000.0)),
                )
            elif how < abroad + 0.15:
                self.emit(
                    party,
                    day,
                    later,
                    amount,
                    instrument="cash",
                    direction="out",
                    channel="branch",
                    step=100.0,
                )
            else:
                self.emit(
                    party,
                    day,
                    later,
                    amount,
                    instrument=self.rng.choice(("check", "wire", "ach")),
                    direction="out",
                    channel="online",
                    counterparty=self.domestic(party, person=0.3),
                )


def _structuring(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution(bank=chance(rng, 0.8))
    party = s.party(institution, s.person_cover(institution), covered=0.6)
    parties = [party]
    if s.budget > 0 and chance(rng, 0.2):  # the same person at a second bank
        others = [
            inst
            for inst in s.pop.world.institutions
            if inst.country == institution.country and inst is not institution
        ]
        if others:
            second = create_party(s.pop, rng.choice(others), party.segment, identity_of=party)
            second.typology = s.typology
            s.budget -= 1
            parties.append(second)
    for member in parties:
        member.roaming = max(member.roaming, rng.uniform(0.2, 0.9))
    threshold = s.threshold(party)
    start, length = s.window(10, 45)
    mode = rng.choices(("just_under", "split_day", "atm", "frequent"), (0.45, 0.2, 0.15, 0.2))[0]
    conductors = [
        s.pop.person(institution.country, account=False) for _ in range(rng.randint(2, 6))
    ]
    use_conductors = chance(rng, 0.3)
    step = (
        rng.choice((None, 10.0, 50.0, 100.0))
        if party.currency == "USD"
        else rng.choice((None, 100.0, 1000.0))
    )
    gap = rng.choice((1, 1, 2, 3))
    deposited = 0.0
    for day in range(start, start + length, gap):
        if not chance(rng, 0.85):
            continue
        member = rng.choice(parties)
        if mode == "just_under":
            pieces = [threshold * rng.uniform(0.82, 0.995)]
        elif mode == "split_day":
            pieces = [threshold * rng.uniform(0.3, 0.7) for _ in range(rng.randint(2, 4))]
        elif mode == "atm":
            pieces = [rng.uniform(800, 3000) for _ in range(rng.randint(2, 5))]
        else:
            pieces = [threshold * rng.uniform(0.3, 0.6)]
        for piece in pieces:
            channel = (
                "atm" if mode == "atm" or (mode == "split_day" and chance(rng, 0.3)) else "branch"
            )
            deposited += s.emit(
                member,
                day,
                s.pop.hour("branch" if channel == "branch" else "atm"),
                piece,
                instrument="cash",
                direction="in",
                channel=channel,
                counterparty=rng.choice(conductors) if use_conductors else None,
                step=20.0 if channel == "atm" else step,
            )
        if deposited > threshold * rng.uniform(1.5, 4):
            s.cash_out_or_wire(
                member,
                day + rng.randint(0, 4),
                s.pop.hour("wire"),
                deposited * rng.uniform(0.8, 0.98),
                rng.randint(1, 3),
            )
            deposited = 0.0


def _funnel_account(s: Scheme) -> None:
    rng = s.rng
    institutions = [
        inst
        for inst in s.pop.world.institutions
        if inst.kind == "bank" and len({branch.region for branch in inst.branches}) >= 3
    ]
    institution = rng.choice(institutions) if institutions else s.institution(bank=True)
    cover = s.person_cover(institution) if chance(rng, 0.6) else s.entity_cover(institution)
    party = s.party(institution, cover, covered=0.4)
    remote = [branch for branch in institution.branches if branch.region != party.home.region]
    remote = rng.sample(remote, min(len(remote), rng.randint(2, 6))) or [party.home]
    threshold = s.threshold(party)
    start, length = s.window(10, 40)
    depositors = [
        s.pop.person(institution.country, account=False) for _ in range(rng.randint(3, 12))
    ]
    payees = [
        s.pop.entity(
            rng.choice(("MX", "CN", party.institution.country, "CO")),
            rng.choice(("electronics", "apparel", "auto_parts")),
        )
        for _ in range(rng.randint(1, 4))
    ]
    median = threshold * rng.uniform(0.2, 0.75)
    lag_hours = rng.uniform(1, 48)
    for day in range(start, start + length):
        if not chance(rng, rng.uniform(0.5, 0.9)) or not s.pop.calendar.is_business_day(day):
            continue
        total = 0.0
        last_hour = 9.0
        for _ in range(rng.randint(1, 4)):
            last_hour = s.pop.hour("branch")
            total += s.emit(
                party,
                day,
                last_hour,
                s.below(lognormal(rng, median, 0.4), threshold),
                instrument="cash",
                direction="in",
                channel="branch",
                branch=rng.choice(remote),
                counterparty=rng.choice(depositors) if chance(rng, 0.6) else None,
                step=rng.choice((None, 10.0, 100.0)),
            )
        if total <= 0:
            continue
        out_hour = last_hour + lag_hours
        legs = rng.randint(1, 3)
        for leg in range(legs):
            amount = total * rng.uniform(0.85, 1.0) / legs
            if chance(rng, 0.4):
                s.emit(
                    party,
                    day,
                    out_hour + leg,
                    amount,
                    instrument="cash",
                    direction="out",
                    channel=rng.choice(("branch", "atm")),
                    branch=party.home,
                    step=20.0,
                )
            else:
                payee = rng.choice(payees)
                s.emit(
                    party,
                    day,
                    out_hour + leg,
                    amount,
                    instrument="wire"
                    if payee.country != institution.country
                    else rng.choice(("wire", "check")),
                    direction="out",
                    channel="branch",
                    branch=party.home,
                    counterparty=payee,
                )


def _rapid_movement(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution()
    person = chance(rng, 0.6)
    cover = s.person_cover(institution) if person else s.entity_cover(institution)
    chain = [s.party(institution, cover, covered=0.5)]
    if s.budget > 0 and chance(rng, 0.3):
        second = s.institution()
        chain.append(s.party(second, s.person_cover(second), covered=0.5))
    start, length = s.window(10, 50)
    episodes = rng.randint(4, 15)
    median = rng.uniform(3000, 20000) if person else rng.uniform(15000, 120000)
    lag = rng.uniform(0.5, 36)
    sources = [
        s.foreign(person=0.3) if chance(rng, 0.4) else s.domestic(chain[0]) for _ in range(5)
    ]
    for _ in range(episodes):
        day = start + rng.randrange(length)
        hour = s.pop.hour("wire")
        instrument = rng.choices(("wire", "ach", "cash", "check"), (0.5, 0.25, 0.1, 0.15))[0]
        received = s.emit(
            chain[0],
            day,
            hour,
            lognormal(rng, median, 0.6),
            instrument=instrument,
            direction="in",
            channel="branch" if instrument == "cash" else "online",
            counterparty=None if instrument == "cash" else rng.choice(sources),
            step=rng.choice((None, None, 100.0, 1000.0)),
        )
        if not received:
            continue
        if len(chain) > 1:
            s.pop.transfer(
                chain[0],
                chain[1],
                day,
                hour + lag,
                received * rng.uniform(0.95, 0.995),
                instrument="wire",
                typology_source=s.typology,
                typology_target=s.typology,
            )
            hour += lag + 1
        last = chain[-1]
        legs = rng.randint(1, 3)
        for leg in range(legs):
            instrument = rng.choices(
                ("wire", "crypto", "ach", "check", "cash"), (0.55, 0.1, 0.15, 0.1, 0.1)
            )[0]
            s.emit(
                last,
                day,
                hour + lag + leg * rng.uniform(0.1, 3),
                received * rng.uniform(0.9, 0.995) / legs,
                instrument=instrument,
                direction="out",
                channel="branch" if instrument == "cash" else "online",
                counterparty=None
                if instrument == "cash"
                else (s.foreign() if chance(rng, 0.5) else s.domestic(last)),
            )


def _fan_in(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution()
    collectors = [s.party(institution, s.person_cover(institution), covered=0.5)]
    while s.budget > 1 and len(collectors) < 4 and chance(rng, 0.5):
        other = s.institution(country=institution.country)
        collectors.append(s.party(other, s.person_cover(other), covered=0.5))
    master: Party | None = None
    if s.budget > 0 and chance(rng, 0.7):
        home = s.institution()
        cover = s.entity_cover(home) if chance(rng, 0.5) else s.person_cover(home)
        master = s.party(home, cover, covered=0.4)
    start, length = s.window(7, 30)
    forwarded = 0.0
    for collector in collectors:
        originators = [
            s.pop.person(collector.institution.country) for _ in range(rng.randint(8, 40))
        ]
        median = rng.uniform(300, 2000)
        held = 0.0
        for originator in originators:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                day = start + rng.randrange(length)
                how = rng.choices(("other", "cash", "ach", "wire"), (0.4, 0.3, 0.15, 0.15))[0]
                if collector.currency == "MXN" and how in ("other", "ach"):
                    how = "wire"
                held += s.emit(
                    collector,
                    day,
                    s.pop.hour("online"),
                    s.below(lognormal(rng, median, 0.5), 3000),
                    instrument=how,
                    direction="in",
                    channel={"cash": rng.choice(("branch", "atm")), "other": "mobile"}.get(
                        how, "online"
                    ),
                    counterparty=originator,
                    step=rng.choice((None, 10.0, 50.0)),
                )
        sweeps = rng.randint(1, 4)
        for sweep in range(sweeps):
            day = start + length * (sweep + 1) // sweeps
            amount = held / sweeps * rng.uniform(0.85, 0.98)
            if master is not None:
                forwarded += amount
                s.pop.transfer(
                    collector,
                    master,
                    day,
                    s.pop.hour("wire"),
                    amount,
                    instrument=rng.choice(("wire", "ach")),
                    typology_source=s.typology,
                    typology_target=s.typology,
                )
            else:
                s.cash_out_or_wire(collector, day, s.pop.hour("wire"), amount, 1, abroad=0.9)
    if master is not None and forwarded > 0:
        s.cash_out_or_wire(
            master,
            start + length + rng.randint(1, 5),
            s.pop.hour("wire"),
            forwarded * rng.uniform(0.9, 0.98),
            rng.randint(1, 4),
            abroad=0.9,
        )


def _fan_out(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution()
    person = chance(rng, 0.4)
    cover = s.person_cover(institution) if person else s.entity_cover(institution)
    party = s.party(institution, cover, covered=0.5)
    start, length = s.window(5, 30)
    countries = rng.sample(
        ("MX", "US", "CO", "GT", "CN", "HK", "DO", "VE", "PA", "ES"), rng.randint(1, 6)
    )
    beneficiaries = [
        s.pop.person(country) if chance(rng, 0.6) else s.pop.entity(country, "wholesale")
        for country in (rng.choice(countries) for _ in range(rng.randint(10, 60)))
    ]
    for _ in range(rng.randint(1, 3)):
        day = start + rng.randrange(max(1, length // 2))
        received = s.emit(
            party,
            day,
            s.pop.hour("wire"),
            lognormal(rng, 40000 if person else 150000, 0.6),
            instrument=rng.choice(("wire", "wire", "check", "cash")),
            direction="in",
            channel="correspondent",
            counterparty=s.foreign(person=0.2)
            if chance(rng, 0.5)
            else s.domestic(party, person=0.2),
        )
        if not received:
            continue
        chosen = rng.sample(beneficiaries, min(len(beneficiaries), rng.randint(5, 30)))
        weights = [rng.expovariate(1.0) for _ in chosen]
        spread = rng.randint(1, 14)
        rounded = chance(rng, 0.4)
        for beneficiary, weight in zip(chosen, weights, strict=True):
            instrument = (
                "wire"
                if beneficiary.country != institution.country
                else rng.choice(("wire", "ach", "check", "other"))
            )
            s.emit(
                party,
                day + rng.randint(0, spread),
                s.pop.hour("online"),
                received * rng.uniform(0.9, 0.99) * weight / sum(weights),
                instrument=instrument,
                direction="out",
                channel="online",
                counterparty=beneficiary,
                step=100.0 if rounded else None,
            )


def _round_tripping(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution(bank=True)
    party = s.party(institution, s.entity_cover(institution), covered=0.7)
    partner: Party | None = None
    if s.budget > 0 and chance(rng, 0.35):
        home = s.institution(bank=True)
        partner = s.party(home, s.entity_cover(home), covered=0.5)
    start, length = s.window(20, 55)
    havens = rng.sample((*SECRECY, "GB", "NL", "LU", "SG"), rng.randint(1, 3))
    size = lognormal(rng, 150000, 0.9)
    day = start
    for _ in range(rng.randint(2, 5)):
        amount = size * rng.uniform(0.6, 1.4)
        if partner is not None and chance(rng, 0.5):
            s.pop.transfer(
                party,
                partner,
                day,
                s.pop.hour("wire"),
                amount,
                instrument="wire",
                typology_source=s.typology,
                typology_target=s.typology,
                step=rng.choice((None, 1000.0)),
            )
            back = day + rng.randint(3, 25)
            s.pop.transfer(
                partner,
                party,
                back,
                s.pop.hour("wire"),
                amount * rng.uniform(0.85, 1.02),
                instrument="wire",
                typology_source=s.typology,
                typology_target=s.typology,
            )
        else:
            out = s.pop.entity(rng.choice(havens), "holding")
            sent = s.emit(
                party,
                day,
                s.pop.hour("wire"),
                amount,
                instrument="wire",
                direction="out",
                channel="online",
                counterparty=out,
                currency=s.pop.wire_currency(party),
                step=rng.choice((None, 1000.0)),
            )
            back = day + rng.randint(3, 30)
            hops = rng.choice((1, 1, 2))
            for _ in range(hops):
                s.emit(
                    party,
                    back,
                    s.pop.hour("wire"),
                    sent * rng.uniform(0.85, 1.02) / hops,
                    instrument="wire",
                    direction="in",
                    channel="correspondent",
                    counterparty=s.pop.entity(rng.choice(havens), "holding"),
                )
                back += rng.randint(0, 4)
        day += max(2, length // 4) + rng.randint(-2, 4)
        if day >= s.days:
            break


def _high_risk_jurisdiction(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution(bank=chance(rng, 0.7))
    person = chance(rng, 0.5)
    cover = s.person_cover(institution) if person else s.entity_cover(institution)
    party = s.party(institution, cover, covered=0.8)
    countries = rng.sample(HIGH_RISK, rng.randint(1, 2)) + rng.sample(SECRECY, rng.randint(0, 2))
    start, length = s.window(10, 55)
    median = rng.uniform(3000, 20000) if person else rng.uniform(10000, 90000)
    intermediaries = ("AE", "TR", "HK", "PA", "CY")
    for _ in range(rng.randint(3, 14)):
        country = rng.choice(countries)
        day = start + rng.randrange(length)
        counterparty = Counterparty(
            s.pop.ids.full_name(s.pop.ids.person_name(country))
            if chance(rng, 0.4)
            else s.pop.ids.business_name("wholesale", country),
            s.pop.ids.foreign_account(country),
            s.pop.bank_id(rng.choice(intermediaries))
            if chance(rng, 0.4)
            else s.pop.bank_id(country),
            country,
            "person" if chance(rng, 0.4) else "entity",
        )
        s.emit(
            party,
            day,
            s.pop.hour("wire"),
            lognormal(rng, median, 0.6),
            instrument="wire",
            direction="out" if chance(rng, 0.7) else "in",
            channel=rng.choice(("online", "branch", "correspondent")),
            counterparty=counterparty,
            currency=s.pop.wire_currency(party),
            step=rng.choice((None, 100.0, 1000.0)),
        )


def _dormant_reactivation(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution()
    person = chance(rng, 0.7)
    cover = s.person_cover(institution) if person else s.entity_cover(institution)
    party = s.party(institution, cover, covered=0.0)
    early = max(1, s.days // 10)
    for _ in range(rng.randint(0, 4)):
        s.pop.emit(
            party,
            rng.randrange(early),
            s.pop.hour("atm"),
            rng.uniform(20, 300),
            instrument=rng.choice(("cash", "card")),
            direction="out",
            channel=rng.choice(("atm", "other")),
            step=20.0,
        )
    wake = max(s.pop.world.dormant_idle_days, s.days - rng.randint(5, 20))
    wake = min(wake, s.days - 3)
    burst = rng.randint(3, min(15, s.days - wake))
    total = lognormal(rng, 90000 if person else 250000, 0.6)
    legs = rng.randint(3, 12)
    for _ in range(legs):
        instrument = rng.choices(("cash", "wire", "check"), (0.3, 0.5, 0.2))[0]
        amount = total / legs * rng.uniform(0.6, 1.4)
        if instrument == "cash" and chance(rng, 0.6):
            amount = min(amount, s.threshold(party) * rng.uniform(0.8, 0.98))
        day = wake + rng.randrange(burst)
        received = s.emit(
            party,
            day,
            s.pop.hour("branch"),
            amount,
            instrument=instrument,
            direction="in",
            channel="branch" if instrument != "wire" else "correspondent",
            counterparty=None
            if instrument == "cash"
            else s.foreign(person=0.5)
            if chance(rng, 0.4)
            else s.domestic(party),
        )
        if received:
            s.cash_out_or_wire(
                party,
                day + rng.randint(0, 2),
                s.pop.hour("wire"),
                received * rng.uniform(0.85, 0.98),
                rng.randint(1, 2),
            )


def _cash_intensive_anomaly(s: Scheme) -> None:
    """A cash business whose takings are topped up with criminal cash, which then leaves by
    wire and check to parties unrelated to the trade."""
    rng = s.rng
    institution = s.institution(bank=True)
    segment = "mx_cash_business" if institution.country == "MX" else "cash_business"
    party = s.party(institution, segment, covered=0.0)
    # Its ordinary activity minus the cash deposits, which are drawn below with the extra cash.
    ordinary_start = len(s.pop.txns)
    run(s.pop, party)
    ordinary = s.pop.txns[ordinary_start:]
    legit_cash = [t for t in ordinary if t.instrument == "cash" and t.direction == "in"]
    s.pop.txns[ordinary_start:] = [
        t for t in ordinary if not (t.instrument == "cash" and t.direction == "in")
    ]
    begins = 0 if chance(rng, 0.5) else rng.randint(s.days // 4, s.days * 2 // 3)
    factor = rng.uniform(1.5, 6.0)
    stays_under = chance(rng, 0.5)
    base_level = sum(t.usd for t in legit_cash) / max(1, len(legit_cash))
    extra_total = 0.0
    for txn in legit_cash:
        day = (txn.timestamp - s.pop.calendar.utc(0, 0, 0)).days
        if day < begins:
            s.pop.txns.append(txn)
            continue
        amount = txn.usd + base_level * (factor - 1) * rng.uniform(0.7, 1.3)
        if stays_under:
            amount = s.below(amount, s.threshold(party))
        extra_total += amount - txn.usd
        hour = (
            txn.timestamp.hour + txn.timestamp.minute / 60 + (txn.branch or party.home).utc_offset
        )
        s.emit(
            party,
            day,
            hour,
            amount,
            instrument="cash",
            direction="in",
            channel="branch",
            branch=txn.branch,
            step=1.0,
        )
    recipients = [
        s.pop.person(institution.country)
        if chance(rng, 0.4)
        else s.pop.entity(
            rng.choice((institution.country, "CO", "MX", "PA")),
            rng.choice(("landlord", "holding", "car_dealer")),
        )
        for _ in range(rng.randint(2, 8))
    ]
    remaining = extra_total * rng.uniform(0.7, 0.9)
    while remaining > 1000:
        amount = min(remaining, lognormal(rng, max(5000.0, extra_total / 8), 0.5))
        day = rng.randint(begins, s.days - 1)
        recipient = rng.choice(recipients)
        s.emit(
            party,
            day,
            s.pop.hour("wire"),
            amount,
            instrument="wire"
            if recipient.country != institution.country
            else rng.choice(("wire", "check")),
            direction="out",
            channel="online",
            counterparty=recipient,
            step=rng.choice((None, 100.0)),
        )
        remaining -= amount


def _round_amounts(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution()
    person = chance(rng, 0.6)
    cover = s.person_cover(institution) if person else s.entity_cover(institution)
    party = s.party(institution, cover, covered=0.7)
    unit = 1000.0 if party.currency == "USD" else rng.choice((10000.0, 50000.0))
    multiples = (1, 2, 3, 5, 5, 10, 10, 20, 25) if person else (5, 10, 10, 20, 25, 50, 100)
    start, length = s.window(10, 55)
    partners = [s.domestic(party, person=0.6) for _ in range(rng.randint(2, 8))]
    for _ in range(rng.randint(8, 30)):
        day = start + rng.randrange(length)
        local = unit * rng.choice(multiples)
        instrument = rng.choices(("cash", "wire", "check", "ach"), (0.3, 0.4, 0.2, 0.1))[0]
        s.emit(
            party,
            day,
            s.pop.hour("branch"),
            0.0 + local / s.pop.world.fx[party.currency],
            local_amount=local,
            instrument=instrument,
            direction="in" if chance(rng, 0.55) else "out",
            channel="branch" if instrument == "cash" else "online",
            counterparty=None if instrument == "cash" else rng.choice(partners),
        )


def _tbml_third_party(s: Scheme) -> None:
    rng = s.rng
    institution = s.institution(bank=True)
    us = institution.country == "US"
    segment = "wholesaler" if us else "mx_importer"
    party = s.party(institution, segment, covered=0.8)
    start, length = s.window(15, 55)
    if us:
        payers = [
            s.pop.entity("MX", "cambio")
            if chance(rng, 0.35)
            else s.pop.person(rng.choice(("US", "MX")))
            if chance(rng, 0.5)
            else s.pop.entity(
                rng.choice(("US", "MX")), rng.choice(("restaurant", "salon", "construction"))
            )
            for _ in range(rng.randint(6, 25))
        ]
    else:
        payers = [
            s.pop.person("MX", account=chance(rng, 0.5))
            if chance(rng, 0.6)
            else s.pop.entity("MX", rng.choice(("cambio", "tienda", "transport")))
            for _ in range(rng.randint(6, 25))
        ]
    suppliers = [
        s.pop.entity(rng.choice(TRADE_PARTNERS[:3] + ("US",)), "electronics")
        for _ in range(rng.randint(1, 4))
    ]
    collected = 0.0
    for _ in range(rng.randint(10, 40)):
        payer = rng.choice(payers)
        day = start + rng.randrange(length)
        cash = payer.account_id is None or chance(rng, 0.2)
        if cash:
            collected += s.emit(
                party,
                day,
                s.pop.hour("branch"),
                s.below(lognormal(rng, 6000, 0.5), s.threshold(party)),
                instrument="cash",
                direction="in",
                channel="branch",
                counterparty=payer,
            )
        else:
            collected += s.emit(
                party,
                day,
                s.pop.hour("wire"),
                lognormal(rng, 25000, 0.7),
                instrument=rng.choice(("wire", "wire", "check")),
                direction="in",
                channel="correspondent" if payer.country != institution.country else "online",
                counterparty=payer,
                currency="USD" if payer.country != institution.country else None,
            )
    legs = rng.randint(1, 4)
    for leg in range(legs):
        supplier = rng.choice(suppliers)
        s.emit(
            party,
            start + length * (leg + 1) // legs,
            s.pop.hour("wire"),
            collected * rng.uniform(0.7, 0.95) / legs,
            instrument="wire",
            direction="out",
            channel="online",
            counterparty=supplier,
            currency="USD",
        )


SCHEMES: dict[str, Callable[[Scheme], None]] = {
    "structuring": _structuring,
    "funnel_account": _funnel_account,
    "rapid_movement": _rapid_movement,
    "fan_in": _fan_in,
    "fan_out": _fan_out,
    "round_tripping": _round_tripping,
    "high_risk_jurisdiction": _high_risk_jurisdiction,
    "dormant_reactivation": _dormant_reactivation,
    "cash_intensive_anomaly": _cash_intensive_anomaly,
    "round_amounts": _round_amounts,
    "tbml_third_party": _tbml_third_party,
}


def embed(pop: Population, typology: str, subjects: int) -> None:
    """Creates schemes of ``typology`` until ``subjects`` laundering customers exist."""
    remaining = subjects
    while remaining > 0:
        scheme = Scheme(pop, typology, remaining)
        SCHEMES[typology](scheme)
        remaining = scheme.budget
