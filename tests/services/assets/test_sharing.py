"""Equitable sharing: the worked examples of docs/ledger.md, and properties of the rule."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.assets.sharing import (
    DOMESTIC_POOL,
    Contribution,
    SharingError,
    apportion,
    plan,
)
from services.ledger.enums import ShareRole as R

MX = "US-MX 2001 (TIAS 13163)"


class TestWorkedExamples:
    """Each example is written out, with its arithmetic, in docs/ledger.md §5."""

    def test_1_joint_domestic_investigation(self) -> None:
        shares = plan(
            100_000_00,
            [
                Contribution("DEA-HOU", R.FEDERAL, "US", 1000),
                Contribution("TXDPS", R.STATE, "US", 2000, originated_info=True),
                Contribution("HPD", R.LOCAL, "US", 1000),
            ],
        )
        assert shares.accounts == {
            "agency:HPD:payable": 22_222_22,
            "agency:TXDPS:payable": 55_555_56,
            "federal-share": 22_222_22,
        }
        assert not shares.cap_applied

    def test_2_state_and_local_capped_at_80_percent(self) -> None:
        shares = plan(
            100_000_00,
            [
                Contribution("DEA-HOU", R.FEDERAL, "US", 100),
                Contribution("TXDPS", R.STATE, "US", 1000),
                Contribution("HPD", R.LOCAL, "US", 3000),
            ],
        )
        assert shares.cap_applied
        assert shares.state_local_cap_minor == 80_000_00
        assert shares.accounts == {
            "agency:HPD:payable": 60_000_00,
            "agency:TXDPS:payable": 20_000_00,
            "federal-share": 20_000_00,
        }

    def test_3_us_mexico_fixed_share_under_the_agreement(self) -> None:
        shares = plan(
            6_000_000_00,
            [
                Contribution("FGR", R.FOREIGN, "MX", 0, share_bps=4000, agreement_ref=MX),
                Contribution("DEA-HOU", R.FEDERAL, "US", 3000),
                Contribution("HPD", R.LOCAL, "US", 1000),
            ],
        )
        assert shares.foreign_minor == 2_400_000_00
        assert shares.domestic_minor == 3_600_000_00
        assert shares.accounts == {
            "agency:HPD:payable": 900_000_00,
            "federal-share": 2_700_000_00,
            "foreign:MX:payable": 2_400_000_00,
        }

    def test_4_rounding_by_largest_remainder(self) -> None:
        shares = plan(
            100,
            [
                Contribution("A", R.STATE, "US", 1),
                Contribution("B", R.STATE, "US", 1),
                Contribution("C", R.LOCAL, "US", 1),
            ],
        )
        # Capped to 80 cents: 26.67 each; the two spare cents go to A and B (name order).
        assert shares.accounts == {
            "agency:A:payable": 27,
            "agency:B:payable": 27,
            "agency:C:payable": 26,
            "federal-share": 20,
        }

    def test_5_foreign_participant_by_contribution(self) -> None:
        shares = plan(
            10_000_00,
            [
                Contribution("FGR", R.FOREIGN, "MX", 500, unique_assistance=True, agreement_ref=MX),
                Contribution("DEA-HOU", R.FEDERAL, "US", 1500),
                Contribution("HPD", R.LOCAL, "US", 500),
            ],
        )
        assert shares.accounts == {
            "agency:HPD:payable": 1_904_76,
            "federal-share": 5_714_29,
            "foreign:MX:payable": 2_380_95,
        }

    def test_no_cap_outside_us_forfeitures(self) -> None:
        shares = plan(
            1000,
            [Contribution("SSPC", R.FEDERAL, "MX", 1), Contribution("SSP-JAL", R.STATE, "MX", 9)],
            federal_minimum=False,
        )
        assert shares.accounts == {"agency:SSP-JAL:payable": 900, "federal-share": 100}


class TestRefusals:
    @pytest.mark.parametrize(
        ("net", "participants", "message"),
        [
            (0, [Contribution("A", R.STATE, "US", 1)], "no net proceeds"),
            (100, [], "no participant"),
            (100, [Contribution("F", R.FOREIGN, "MX", 1)], "agreement"),
            (100, [Contribution("A", R.STATE, "US", 1, share_bps=10)], "only a foreign"),
            (
                100,
                [Contribution("A", R.STATE, "US", 1), Contribution("A", R.LOCAL, "US", 1)],
                "twice",
            ),
            (
                100,
                [
                    Contribution("F", R.FOREIGN, "MX", 1, share_bps=6000, agreement_ref=MX),
                    Contribution("G", R.FOREIGN, "GT", 1, share_bps=5000, agreement_ref="x"),
                ],
                "exceed",
            ),
        ],
    )
    def test_refused(self, net: int, participants: list[Contribution], message: str) -> None:
        with pytest.raises(SharingError, match=message):
            plan(net, participants)

    def test_federal_pct_bounds(self) -> None:
        with pytest.raises(SharingError):
            plan(100, [Contribution("A", R.STATE, "US", 1)], federal_pct=19)


def test_apportion_ties_go_to_the_first_name() -> None:
    third = Fraction(1, 3)
    assert apportion(1, {"b": third, "a": third, "c": third}) == {"a": 1, "b": 0, "c": 0}


_roles = st.sampled_from([R.FEDERAL, R.STATE, R.LOCAL, R.FOREIGN])


@st.composite
def participants(draw: st.DrawFn) -> list[Contribution]:
    count = draw(st.integers(1, 7))
    items = []
    fixed_left = 10_000
    for index in range(count):
        role = draw(_roles)
        bps = None
        if role is R.FOREIGN and draw(st.booleans()):
            bps = draw(st.integers(0, fixed_left))
            fixed_left -= bps
        items.append(
            Contribution(
                agency_id=f"AG{index}",
                role=role,
                country="MX" if role is R.FOREIGN else "US",
                work_hours=draw(st.integers(0, 5000)),
                originated_info=draw(st.booleans()),
                unique_assistance=draw(st.booleans()),
                extraordinary_expenses_minor=draw(st.sampled_from([0, 0, 1_000_00])),
                share_bps=bps,
                agreement_ref=MX if role is R.FOREIGN else None,
            )
        )
    return items


class TestProperties:
    @settings(max_examples=400, deadline=None)
    @given(
        net=st.integers(1, 10**13),
        items=participants(),
        federal_pct=st.integers(20, 100),
        us=st.booleans(),
    )
    def test_no_cent_created_or_lost_and_the_cap_holds(
        self, net: int, items: list[Contribution], federal_pct: int, us: bool
    ) -> None:
        shares = plan(net, items, federal_minimum=us, federal_pct=federal_pct)
        assert sum(shares.accounts.values()) == net
        assert all(amount > 0 for amount in shares.accounts.values())
        assert shares.foreign_minor + shares.domestic_minor == net
        state_local = sum(
            amount for account, amount in shares.accounts.items() if account.startswith("agency:")
        )
        federal = shares.accounts.get("federal-share", 0)
        assert state_local + federal == shares.domestic_minor
        if us:
            assert state_local * 100 <= shares.domestic_minor * (100 - federal_pct)
            assert federal * 100 >= shares.domestic_minor * federal_pct
        for share in shares.participants:
            if share.role is R.FOREIGN or share.role.is_state_or_local:
                assert abs(share.amount_minor - share.exact) < 1
        for item in items:
            if item.share_bps is not None:
                exact = Fraction(net * item.share_bps, 10_000)
                mine = next(s for s in shares.participants if s.agency_id == item.agency_id)
                assert abs(mine.amount_minor - exact) < 1

    @settings(max_examples=200, deadline=None)
    @given(net=st.integers(1, 10**12), items=participants(), data=st.data())
    def test_order_of_participants_does_not_matter(
        self, net: int, items: list[Contribution], data: st.DataObject
    ) -> None:
        shuffled = data.draw(st.permutations(items))
        assert plan(net, items).accounts == plan(net, shuffled).accounts

    @settings(max_examples=300, deadline=None)
    @given(
        total=st.integers(0, 10**9),
        weights=st.lists(st.integers(0, 1000), min_size=1, max_size=12),
    )
    def test_apportion_is_exact_and_within_a_unit(self, total: int, weights: list[int]) -> None:
        if sum(weights) == 0:
            weights = [1, *weights[1:]]
        exact = {f"k{i}": Fraction(total * w, sum(weights)) for i, w in enumerate(weights)}
        rounded = apportion(total, exact)
        assert sum(rounded.values()) == total
        assert all(abs(rounded[k] - exact[k]) < 1 for k in exact)
        assert DOMESTIC_POOL not in rounded
