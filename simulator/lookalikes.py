"""Legitimate episodes shaped like laundering, and institutions' defensive filings.

Real populations hold customers whose lawful behaviour has the shape of a typology: a
business that deposits just under the threshold some days, a treasury account that passes
money through within the day, a person paid once by many people, a seasonal business, an
idle account that wakes up. Each builder here schedules one such episode; a world says how
often each happens (``World.lookalikes``). Their reports are labelled legitimate (the
episode's kind travels on the side, for evaluation only).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from simulator.events import DAY, HOUR
from simulator.reference import FOREIGN_COUNTRIES
from simulator.typologies import NARRATIVES, Scene, business_day, workday


@dataclass
class Episode:
    """One scheduled legitimate episode."""

    index: int  # the run's episode label index (its events carry it)
    kind: str
    day: int
    subject: int = -1  # pre-selected subject (an idle account waking up), else -1
    filed: bool = False  # the institution files a defensive STR on it afterwards


def near_threshold(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """A business whose takings some days come just under the threshold, deposited as they are."""
    subject = scene.pick("cash_any", rng)[0]
    account = scene.account_of(subject)
    limit = scene.threshold(account)
    staff = scene.staff(subject)
    day = ep.day
    for _ in range(rng.randint(2, 6)):
        t = business_day(scene, day, rng)
        amount = int(limit * rng.uniform(0.82, 0.99))
        scene.cash(t, account, "in", amount, ep.index, conductor=rng.choice(staff))
        day += rng.randint(1, 4)
    return account


def treasury_sweep(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """A company's collection account: large credits passed on within hours, day after day."""
    account = scene.account_of(scene.pick("entity_any", rng)[0])
    home = scene.jurisdiction(account)
    day = ep.day
    size = rng.uniform(30_000, 400_000)
    for _ in range(rng.randint(3, 10)):
        t = business_day(scene, day, rng)
        amount = scene.native(account, size * rng.uniform(0.6, 1.4))
        scene.external(t, account, "in", amount, home, ep.index, rng, channel="other")
        out = int(amount * rng.uniform(0.95, 1.0))
        later = t + int(rng.uniform(1, 6) * HOUR)
        country = home if rng.random() < 0.8 else rng.choice(FOREIGN_COUNTRIES)
        scene.external(later, account, "out", out, country, ep.index, rng)
        day += rng.randint(1, 3)
    return account


def crowd_receiver(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """A person paid once by many people: a collection for a funeral, a sale, a wedding."""
    subject = scene.pick("person_any", rng)[0]
    account = scene.account_of(subject)
    pool = "person_us" if scene.jurisdiction(account) == "US" else "person_mx"
    payers = scene.pick(pool, rng, rng.randint(10, 40))
    total = 0
    last = ep.day * DAY
    for payer in payers:
        t = scene.day_time(ep.day + rng.randint(0, 2), rng.uniform(8, 22))
        source = scene.account_of(payer)
        amount = scene.native(source, rng.uniform(20, 300))
        if rng.random() < 0.5:
            amount -= amount % 1_000 or 0
        scene.transfer(
            t, source, account, max(100, amount), ep.index, instrument="ach", channel="mobile",
            delay=rng.randint(5, 600),
        )  # fmt: skip
        total += scene.native(account, scene.to_usd(source, amount))
        last = max(last, t)
    if rng.random() < 0.5:
        t = workday(scene, last + int(rng.uniform(1, 5) * DAY))
        home = scene.jurisdiction(account)
        out = int(total * rng.uniform(0.5, 0.95))
        scene.external(t, account, "out", out, home, ep.index, rng, instrument="ach")
    return account


def seasonal(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """A cash business in its season: takings several times the usual for a few weeks."""
    subject = scene.pick("cash_any", rng)[0]
    account = scene.account_of(subject)
    daily = scene.cash_scale(subject)
    extra = rng.uniform(1.0, 3.0)
    staff = scene.staff(subject)
    for offset in range(rng.randint(14, 42)):
        day = ep.day + offset
        t = scene.day_time(day, rng.uniform(14.0, 19.0))
        amount = max(100, int(daily * extra * rng.uniform(0.7, 1.3)))
        scene.cash(t, account, "in", amount, ep.index, conductor=rng.choice(staff))
    return account


def dormant_return(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """A legitimately idle account receives an inheritance, a settlement or a sale."""
    account = scene.account_of(ep.subject)
    country = scene.jurisdiction(account)
    t = scene.day_time(ep.day, rng.uniform(9, 16))
    amount = scene.native(account, rng.uniform(15_000, 250_000))
    if rng.random() < 0.7:
        kind = rng.choice(("entity", "person"))
        instrument = rng.choice(("wire", "check"))
        scene.external(t, account, "in", amount, country, ep.index, rng, instrument=instrument,
                       channel="other", party_type=kind)  # fmt: skip
    else:
        scene.external(t, account, "in", amount, country, ep.index, rng, instrument="check",
                       party_type="person")  # fmt: skip
    for _ in range(rng.randint(0, 3)):
        t += int(rng.uniform(1, 15) * DAY)
        piece = int(amount * rng.uniform(0.03, 0.3))
        instrument = rng.choice(("ach", "check", "wire"))
        scene.external(t, account, "out", piece, country, ep.index, rng, instrument=instrument)
    return account


def round_amounts(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """Savings, investments and family support in round amounts, week after week."""
    pool = rng.choice(("person_us", "person_mx", "entity_us", "entity_mx"))
    account = scene.account_of(scene.pick(pool, rng)[0])
    unit = rng.choice((500, 1_000, 5_000)) * (10 if scene.jurisdiction(account) == "MX" else 1)
    home = scene.jurisdiction(account)
    day = ep.day
    for _ in range(rng.randint(4, 10)):
        t = business_day(scene, day, rng)
        amount = unit * 100 * rng.randint(1, 10)
        direction = "out" if rng.random() < 0.75 else "in"
        instrument = rng.choice(("ach", "wire", "check"))
        scene.external(t, account, direction, amount, home, ep.index, rng, instrument=instrument)
        day += rng.randint(3, 9)
    return account


def contractor_payouts(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """An entity paying many people at once: contractors, harvest crews, event staff."""
    account = scene.account_of(scene.pick("employer", rng)[0])
    home = scene.jurisdiction(account)
    t0 = business_day(scene, ep.day, rng)
    for i in range(rng.randint(10, 40)):
        t = t0 + i * rng.randint(30, 600) + (DAY if rng.random() < 0.3 else 0)
        country = home if rng.random() < 0.85 else rng.choice(("MX", "GT", "HN", "SV", "IN"))
        amount = scene.native(account, rng.uniform(300, 3_000))
        instrument = "ach" if country == home else "wire"
        scene.external(t, account, "out", amount, country, ep.index, rng, instrument=instrument,
                       party_type="person")  # fmt: skip
    return account


def intercompany(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """Related companies lend to each other and pay back, sometimes through a third one."""
    members = [scene.account_of(s) for s in scene.pick("entity_any", rng, rng.randint(2, 3))]
    t = business_day(scene, ep.day, rng)
    usd = rng.uniform(20_000, 300_000)
    for _ in range(rng.randint(1, 3)):
        chain = [*members, members[0]]
        for source, target in zip(chain, chain[1:], strict=False):
            amount = scene.native(source, usd)
            scene.transfer(
                t, source, target, amount, ep.index, delay=int(rng.uniform(60, 3 * HOUR))
            )
            t = workday(scene, t + int(rng.uniform(3, 20) * DAY))
            usd *= rng.uniform(0.97, 1.03)
    return members[0]


def third_party_payers(scene: Scene, rng: random.Random, ep: Episode) -> int:
    """An exporter paid by its buyers' agents, a factor or a parent company."""
    exporter = scene.account_of(scene.pick("trade_any", rng)[0])
    payers = [scene.account_of(s) for s in scene.pick("entity_any", rng, rng.randint(2, 5))]
    span = rng.randint(7, 28)
    for _ in range(rng.randint(3, 8)):
        t = business_day(scene, ep.day + rng.randint(0, span), rng)
        if rng.random() < 0.5:
            payer = rng.choice(payers)
            amount = scene.native(payer, rng.uniform(10_000, 100_000))
            scene.transfer(
                t, payer, exporter, amount, ep.index, delay=int(rng.uniform(1, 20) * HOUR)
            )
        else:
            amount = scene.native(exporter, rng.uniform(10_000, 100_000))
            country = rng.choice(FOREIGN_COUNTRIES)
            scene.external(
                t, exporter, "in", amount, country, ep.index, rng, channel="correspondent"
            )
    return exporter


LookalikeBuilder = Callable[[Scene, random.Random, Episode], int]

BUILDERS: dict[str, LookalikeBuilder] = {
    "near_threshold": near_threshold,
    "treasury_sweep": treasury_sweep,
    "crowd_receiver": crowd_receiver,
    "seasonal": seasonal,
    "dormant_return": dormant_return,
    "round_amounts": round_amounts,
    "contractor_payouts": contractor_payouts,
    "intercompany": intercompany,
    "third_party_payers": third_party_payers,
}
# How many days an episode may span after its start (for scheduling within the horizon).
SPAN_DAYS: dict[str, int] = {
    "near_threshold": 25,
    "treasury_sweep": 30,
    "crowd_receiver": 8,
    "seasonal": 42,
    "dormant_return": 5,
    "round_amounts": 40,
    "contractor_payouts": 2,
    "intercompany": 30,
    "third_party_payers": 28,
}

# SAR categories an institution files on a customer who is not laundering, by segment family.
DEFENSIVE_CODES: dict[str, tuple[str, ...]] = {
    "cash": ("114", "812", "821"),
    "msb": ("114", "812", "821"),
    "car_dealer": ("114", "812", "821"),
    "trade": ("823", "928", "805"),
    "wholesale": ("823", "928", "805"),
    "remitter": ("805", "822", "114"),
}
DEFAULT_DEFENSIVE_CODES = ("812", "805", "114", "925")


def defensive_str(
    scene: Scene, rng: random.Random, day: int, account: int, segment: str, episode: int
) -> None:
    """An institution files an STR on a customer who is not laundering."""
    code = rng.choice(DEFENSIVE_CODES.get(segment, DEFAULT_DEFENSIVE_CODES))
    prefix = "SAR" if scene.jurisdiction(account) == "US" else "ROI"
    t = scene.day_time(day, rng.uniform(9, 17))
    scene.file_str(
        t,
        account,
        episode,
        [f"{prefix}-{code}"],
        rng.choice(NARRATIVES[code]),
        max(0, t - int(rng.uniform(10, 60) * DAY)),
        t - DAY,
    )
