"""Equitable sharing: who gets what of an asset's net proceeds. Pure functions, exact money.

The rule (documented with worked examples in ``docs/ledger.md``):

1. **Contribution weight.** ``weight = work_hours × (4 + q) / 4`` where ``q`` counts the
   qualitative factors of DAG-71 that apply: the agency originated the information, gave
   unique assistance, or had extraordinary expenses. Each factor adds a quarter of the hours.
   (Integers: we use ``work_hours × (4 + q)``, which has the same proportions.)
2. **Foreign participants first.** A foreign participant whose agreement fixes a share
   (``share_bps``, basis points of the net proceeds, e.g. from a US–Mexico 2001 agreement
   letter) gets exactly that. The rest ``R`` is shared by weight between every other
   participant, foreign ones without a fixed share included. The domestic pool ``D`` is what
   is left for domestic participants. The net proceeds are split into foreign shares and ``D``
   with the largest-remainder rule (stage 1).
3. **Domestic split with the federal minimum.** ``D`` is shared by weight between domestic
   participants. Federal participants' parts are credited to ``federal-share`` (federal
   agencies' shares stay in the forfeiture fund); each state or local agency gets its own
   payable. For US forfeitures, state and local agencies together get at most
   ``floor(D × (100 − federal_pct) / 100)`` (``federal_pct`` ≥ 20, default 20): if their
   weighted parts exceed it they are scaled down to it proportionally and the federal share
   takes the rest. With no federal participant the federal share is just that minimum.
4. **Rounding (largest remainder, Hamilton).** Each recipient first gets the floor of its
   exact share in minor units; the cents left over (fewer than the number of recipients) go one
   each to the recipients with the largest fractional remainders; ties go to the account name
   that sorts first. Totals are therefore exact: no cent is created or lost, and no recipient
   is more than one cent away from its exact share of its stage's pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from services.ledger import accounts
from services.ledger.enums import ShareRole

MIN_FEDERAL_PCT = 20
DOMESTIC_POOL = "(domestic pool)"


class SharingError(ValueError):
    """The inputs do not allow a sharing decision."""


@dataclass(frozen=True, slots=True)
class Contribution:
    agency_id: str
    role: ShareRole
    country: str
    work_hours: int
    originated_info: bool = False
    unique_assistance: bool = False
    extraordinary_expenses_minor: int = 0
    share_bps: int | None = None
    agreement_ref: str | None = None

    @property
    def factors(self) -> int:
        return (
            int(self.originated_info)
            + int(self.unique_assistance)
            + int(self.extraordinary_expenses_minor > 0)
        )

    @property
    def weight(self) -> int:
        return self.work_hours * (4 + self.factors)

    @property
    def account(self) -> str:
        if self.role is ShareRole.FOREIGN:
            return accounts.foreign_payable(self.country)
        if self.role is ShareRole.FEDERAL:
            return accounts.FEDERAL_SHARE
        return accounts.agency_payable(self.agency_id)


@dataclass(frozen=True, slots=True)
class ParticipantShare:
    agency_id: str
    role: ShareRole
    country: str
    weight: int
    account: str
    exact: Fraction
    amount_minor: int


@dataclass(frozen=True, slots=True)
class SharePlan:
    net_minor: int
    foreign_minor: int
    domestic_minor: int
    federal_pct: int
    state_local_cap_minor: int | None
    cap_applied: bool
    participants: list[ParticipantShare]
    # Amount per ledger account (several federal agencies share ``federal-share``; several
    # participants of one foreign country share its payable).
    accounts: dict[str, int]


def apportion(total: int, exact: Mapping[str, Fraction]) -> dict[str, int]:
    """Rounds exact shares summing to ``total`` to integers summing to ``total``.

    Largest remainder: floors first, then one unit each to the largest fractional parts;
    ties go to the key that sorts first.

    Raises:
        SharingError: the exact shares do not sum to ``total`` or one is negative.
    """
    if sum(exact.values(), Fraction(0)) != total:
        raise SharingError("exact shares do not add up to the total")
    if any(value < 0 for value in exact.values()):
        raise SharingError("a share is negative")
    floors = {key: value.numerator // value.denominator for key, value in exact.items()}
    left = total - sum(floors.values())
    order = sorted(exact, key=lambda key: (-(exact[key] - floors[key]), key))
    for key in order[:left]:
        floors[key] += 1
    return floors


def validate(contributions: Sequence[Contribution]) -> None:
    """Raises SharingError when the participants cannot be shared between."""
    if not contributions:
        raise SharingError("no participant has asked for a share")
    seen: set[str] = set()
    fixed = 0
    for item in contributions:
        if item.agency_id in seen:
            raise SharingError(f"participant {item.agency_id} is listed twice")
        seen.add(item.agency_id)
        if item.work_hours < 0 or item.extraordinary_expenses_minor < 0:
            raise SharingError(f"{item.agency_id}: hours and expenses cannot be negative")
        if item.role is ShareRole.FOREIGN:
            if not item.agreement_ref:
                raise SharingError(
                    f"{item.agency_id}: a foreign participant needs the agreement it shares"
                    " under (e.g. US-MX 2001, TIAS 13163)"
                )
            if item.share_bps is not None:
                if not 0 <= item.share_bps <= 10_000:
                    raise SharingError(f"{item.agency_id}: share_bps is 0 to 10000")
                fixed += item.share_bps
        elif item.share_bps is not None:
            raise SharingError(f"{item.agency_id}: only a foreign agreement fixes a share")
    if fixed > 10_000:
        raise SharingError("fixed foreign shares exceed 100 %")


def plan(
    net_minor: int,
    contributions: Sequence[Contribution],
    *,
    federal_minimum: bool = True,
    federal_pct: int = MIN_FEDERAL_PCT,
) -> SharePlan:
    """Computes the sharing of ``net_minor`` (see the module docstring for the rule).

    Raises:
        SharingError: no proceeds, invalid participants, or ``federal_pct`` out of range.
    """
    if net_minor <= 0:
        raise SharingError("there are no net proceeds to share")
    if not MIN_FEDERAL_PCT <= federal_pct <= 100:
        raise SharingError(f"federal_pct is between {MIN_FEDERAL_PCT} and 100")
    validate(contributions)
    foreign = [item for item in contributions if item.role is ShareRole.FOREIGN]
    domestic = [item for item in contributions if item.role is not ShareRole.FOREIGN]

    # Stage 1: fixed foreign shares, then everyone else by weight; domestic pool as one.
    exact: dict[str, Fraction] = {}
    for item in foreign:
        if item.share_bps is not None:
            exact[item.agency_id] = Fraction(net_minor * item.share_bps, 10_000)
    rest = net_minor - sum(exact.values(), Fraction(0))
    weighted = [item for item in contributions if item.share_bps is None]
    total_weight = sum(item.weight for item in weighted)
    domestic_exact = rest
    for item in weighted:
        if item.role is ShareRole.FOREIGN:
            part = rest * item.weight / total_weight if total_weight else Fraction(0)
            exact[item.agency_id] = part
            domestic_exact -= part
    exact[DOMESTIC_POOL] = domestic_exact
    stage1 = apportion(net_minor, exact)
    pool = stage1.pop(DOMESTIC_POOL)

    # Stage 2: the domestic pool by weight, state and local capped, federal takes the rest.
    domestic_weight = sum(item.weight for item in domestic)
    state_local = [item for item in domestic if item.role.is_state_or_local]
    cap = pool * (100 - federal_pct) // 100 if federal_minimum else None
    sl_exact: dict[str, Fraction] = {
        item.agency_id: (
            Fraction(pool * item.weight, domestic_weight) if domestic_weight else Fraction(0)
        )
        for item in state_local
    }
    sl_total = sum(sl_exact.values(), Fraction(0))
    cap_applied = cap is not None and sl_total > cap
    if cap is not None and sl_total > cap:
        sl_exact = {key: value * cap / sl_total for key, value in sl_exact.items()}
    stage2_exact = {accounts.agency_payable(key): value for key, value in sl_exact.items()}
    stage2_exact[accounts.FEDERAL_SHARE] = pool - sum(sl_exact.values(), Fraction(0))
    stage2 = apportion(pool, stage2_exact)

    # Per participant: foreign and state/local amounts are theirs; federal participants'
    # parts are shown in proportion (their money is the one federal-share amount).
    shares: list[ParticipantShare] = []
    federal = [item for item in domestic if item.role is ShareRole.FEDERAL]
    federal_weight = sum(item.weight for item in federal)
    federal_amount = stage2[accounts.FEDERAL_SHARE]
    federal_parts = (
        apportion(
            federal_amount,
            {
                item.agency_id: (
                    Fraction(federal_amount * item.weight, federal_weight)
                    if federal_weight
                    else Fraction(federal_amount, len(federal))
                )
                for item in federal
            },
        )
        if federal
        else {}
    )
    for item in contributions:
        if item.role is ShareRole.FOREIGN:
            amount, share_exact = stage1[item.agency_id], exact[item.agency_id]
        elif item.role is ShareRole.FEDERAL:
            amount = federal_parts[item.agency_id]
            share_exact = (
                Fraction(federal_amount * item.weight, federal_weight)
                if federal_weight
                else Fraction(federal_amount, len(federal))
            )
        else:
            amount = stage2[accounts.agency_payable(item.agency_id)]
            share_exact = sl_exact[item.agency_id]
        shares.append(
            ParticipantShare(
                agency_id=item.agency_id,
                role=item.role,
                country=item.country,
                weight=item.weight,
                account=item.account,
                exact=share_exact,
                amount_minor=amount,
            )
        )
    by_account: dict[str, int] = {}
    for item in foreign:
        by_account[item.account] = by_account.get(item.account, 0) + stage1[item.agency_id]
    for account, amount in stage2.items():
        by_account[account] = by_account.get(account, 0) + amount
    by_account = {account: amount for account, amount in sorted(by_account.items()) if amount}
    assert sum(by_account.values()) == net_minor  # never a cent created or lost
    return SharePlan(
        net_minor=net_minor,
        foreign_minor=net_minor - pool,
        domestic_minor=pool,
        federal_pct=federal_pct,
        state_local_cap_minor=cap,
        cap_applied=cap_applied,
        participants=shares,
        accounts=by_account,
    )
