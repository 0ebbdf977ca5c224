"""Property-based: any sequence of operations keeps the ledger balanced and verifiable, and
any refused operation changes nothing.

A hypothesis state machine drives the real services (asset register and lifecycle, sharing,
postings, approvals, voids, reversals, payments, idempotent replays) against the real
database, with random actors: many operations are invalid (wrong state, wrong role, the maker
approving, overdrafts, unbalanced lines, reused keys) and must be refused without a trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services.assets import flows
from services.assets import service as assets
from services.assets.enums import TRANSITIONS, AssetStatus, AssetType, Disposition
from services.assets.schemas import (
    AssetCreate,
    ConcurrenceRequest,
    DisbursementRequest,
    ExpenseRequest,
    ParticipantCreate,
    ProceedsRequest,
    TransitionRequest,
)
from services.auth.enums import Role
from services.auth.service import Principal
from services.errors import Conflict, ServiceError
from services.kit.time import utc_now
from services.ledger import accounts
from services.ledger import service as ledger
from services.ledger.enums import EntryKind, EntryStatus
from services.ledger.service import Line
from tests.services.ledger.support import key, principal, snapshot

T = TypeVar("T")

ACTORS = [
    principal(Role.INVESTIGATOR),
    principal(Role.INVESTIGATOR),
    principal(Role.SUPERVISOR),
    principal(Role.SUPERVISOR),
    principal(Role.ADMIN),
    principal(Role.AUDITOR),
    Principal(token_id=99_999, role=Role.REPORTER, institution_id="US-FI-0001"),
]
ACCOUNTS = [
    "forfeiture-proceeds",
    "forfeited:CASE-1",
    "forfeited:CASE-2",
    "expenses",
    "remission:victim-1",
    "federal-share",
    "agency:HPD:payable",
    "foreign:MX:payable",
    "disbursed",
    "bogus",
]
actors = st.sampled_from(ACTORS)
amounts = st.integers(1, 5_000_00)


def build_machine(engine: Engine) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.connection = engine.connect()
            self.outer = self.connection.begin()
            self.session = Session(bind=self.connection, join_transaction_mode="create_savepoint")
            self.assets: list[int] = []
            self.proposals: list[dict[str, Any]] = []
            self.refused = 0
            self.done = 0

        def teardown(self) -> None:
            self.session.close()
            self.outer.rollback()
            self.connection.close()

        def attempt(self, call: Callable[[], T]) -> T | None:
            before = snapshot(self.session)
            try:
                with self.session.begin_nested():
                    result = call()
            except ServiceError:
                self.session.expire_all()
                assert snapshot(self.session) == before, "a refused operation changed state"
                self.refused += 1
                return None
            self.done += 1
            return result

        # -- assets ---------------------------------------------------------------------------

        @precondition(lambda self: len(self.assets) < 3)
        @rule(
            who=actors,
            kind=st.sampled_from([AssetType.CURRENCY, AssetType.ACCOUNT_FUNDS, AssetType.VEHICLE]),
            value=st.integers(1, 2_000_000_00),
            currency=st.sampled_from(["USD", "MXN"]),
            case=st.sampled_from(["CASE-1", "CASE-2", None]),
        )
        def register(
            self, who: Principal, kind: AssetType, value: int, currency: str, case: str | None
        ) -> None:
            data = AssetCreate(
                asset_type=kind,
                description="d",
                value_minor=value,
                currency=currency,
                jurisdiction="US",
                case_number=case,
            )
            created = self.attempt(lambda: assets.register(self.session, principal=who, data=data))
            if created is not None:
                self.assets.append(created[0].id)

        @precondition(lambda self: self.assets)
        @rule(
            data=st.data(),
            who=actors,
            sensible=st.integers(0, 9),
            authority=st.sampled_from(["federal", "state_local", None]),
            amount=st.none() | amounts,
            disposition=st.none() | st.sampled_from(list(Disposition)),
            claimant=st.sampled_from(["victim-1", "victim-1", None]),
            federal_pct=st.none() | st.integers(20, 100),
        )
        def transition(
            self,
            data: st.DataObject,
            who: Principal,
            sensible: int,
            authority: str | None,
            amount: int | None,
            disposition: Disposition | None,
            claimant: str | None,
            federal_pct: int | None,
        ) -> None:
            asset_id = data.draw(st.sampled_from(self.assets))
            current = AssetStatus(assets.load(self.session, asset_id).status)
            allowed = sorted(TRANSITIONS[current])
            # Mostly a next state the lifecycle allows (so runs get deep); sometimes any.
            if sensible and allowed:
                to = data.draw(st.sampled_from(allowed))
            else:
                to = data.draw(st.sampled_from(list(AssetStatus)))
            try:
                request = TransitionRequest(
                    to=to,
                    at=utc_now(),
                    seizing_authority=authority,
                    amount_minor=amount,
                    disposition=disposition,
                    proceeds_minor=amount,
                    claimant=claimant,
                    federal_pct=federal_pct,
                    rationale="property test",
                )
            except ValidationError:
                return
            self.attempt(
                lambda: flows.transition(
                    self.session,
                    principal=who,
                    asset_id=asset_id,
                    request=request,
                    idempotency_key=key(),
                )
            )

        @precondition(lambda self: self.assets)
        @rule(data=st.data(), who=actors)
        def concurrence(self, data: st.DataObject, who: Principal) -> None:
            asset_id = data.draw(st.sampled_from(self.assets))
            request = ConcurrenceRequest(
                agency_id="FGR", reference="State-1", concurred_at=utc_now()
            )
            self.attempt(
                lambda: assets.record_concurrence(
                    self.session, principal=who, asset_id=asset_id, data=request
                )
            )

        @precondition(lambda self: self.assets)
        @rule(
            data=st.data(),
            who=actors,
            amount=amounts,
            what=st.sampled_from(["expense", "proceeds", "disburse"]),
            account=st.sampled_from(
                [
                    "agency:HPD:payable",
                    "agency:TXDPS:payable",
                    "foreign:MX:payable",
                    "remission:victim-1",
                    "federal-share",
                ]
            ),
        )
        def money(
            self, data: st.DataObject, who: Principal, amount: int, what: str, account: str
        ) -> None:
            asset_id = data.draw(st.sampled_from(self.assets))
            if what == "expense":
                self.attempt(
                    lambda: flows.post_expense(
                        self.session,
                        principal=who,
                        asset_id=asset_id,
                        request=ExpenseRequest(amount_minor=amount, memo="m"),
                        idempotency_key=key(),
                    )
                )
            elif what == "proceeds":
                self.attempt(
                    lambda: flows.post_proceeds(
                        self.session,
                        principal=who,
                        asset_id=asset_id,
                        request=ProceedsRequest(amount_minor=amount),
                        idempotency_key=key(),
                    )
                )
            else:
                full = data.draw(st.booleans())
                request = DisbursementRequest(
                    account=account, amount_minor=None if full else amount
                )
                self.attempt(
                    lambda: flows.disburse(
                        self.session,
                        principal=who,
                        asset_id=asset_id,
                        request=request,
                        idempotency_key=key(),
                    )
                )

        @precondition(lambda self: self.assets)
        @rule(data=st.data(), steps=st.integers(1, 4))
        def advance(self, data: st.DataObject, steps: int) -> None:
            """Takes one asset a few sensible steps further (so runs reach sharing and payment)."""
            asset_id = data.draw(st.sampled_from(self.assets))
            for _ in range(steps):
                self._step(
                    asset_id,
                    data.draw(st.integers(0, 4)),
                    data.draw(st.integers(0, 3)),
                    data.draw(st.booleans()),
                    data,
                )

        def _step(
            self, asset_id: int, claim: int, remission: int, foreign: bool, data: st.DataObject
        ) -> None:
            maker, checker = ACTORS[0], ACTORS[2]
            for view in ledger.list_entries(
                self.session, principal=checker, asset_id=asset_id, status=EntryStatus.PENDING
            ):
                self.attempt(
                    lambda seq=view.entry.seq: ledger.decide(
                        self.session,
                        principal=checker,
                        seq=seq,
                        approve=True,
                        idempotency_key=key(),
                    )
                )
            asset = assets.load(self.session, asset_id)
            status = AssetStatus(asset.status)
            money = AssetType(asset.asset_type).is_money
            S = AssetStatus
            nxt: dict[str, Any] | None = {
                S.IDENTIFIED: {"to": S.SEIZED, "seizing_authority": "federal"},
                S.SEIZED: {"to": S.NOTICED},
                S.RESTRAINED: {"to": S.NOTICED},
                S.NOTICED: (
                    {"to": S.CLAIM_FILED, "claimant": "owner"}
                    if not claim
                    else {
                        "to": S.FORFEITED_JUDICIAL
                        if asset.value_minor > 50_000_000 and not money
                        else S.FORFEITED_ADMIN
                    }
                ),
                S.CLAIM_FILED: {"to": S.JUDICIAL_REFERRAL},
                S.JUDICIAL_REFERRAL: {"to": S.FORFEITED_JUDICIAL},
                S.REMISSION_PENDING: {
                    "to": S.REMITTED,
                    "amount_minor": 1 + asset.value_minor // 10,
                },
                S.SHARING_REQUESTED: {"to": S.SHARING_DECIDED, "rationale": "r"},
            }.get(status)
            if status in (
                S.FORFEITED_ADMIN,
                S.FORFEITED_JUDICIAL,
                S.REMITTED,
                S.RESTORED,
                S.REMISSION_DENIED,
                S.DISPOSED,
            ):
                if not remission and status in (S.FORFEITED_ADMIN, S.FORFEITED_JUDICIAL):
                    nxt = {"to": S.REMISSION_PENDING, "claimant": "victim-1"}
                elif not money and asset.disposition is None:
                    nxt = {
                        "to": S.DISPOSED,
                        "disposition": Disposition.SOLD,
                        "proceeds_minor": asset.value_minor or 1,
                    }
                else:
                    for agency, role, country in (
                        ("DEA", "federal", "US"),
                        ("HPD", "local", "US"),
                        ("FGR", "foreign", "MX"),
                    ):
                        if role == "foreign" and not foreign:
                            continue
                        self.attempt(
                            lambda a=agency, r=role, c=country: assets.add_participant(
                                self.session,
                                principal=maker,
                                asset_id=asset_id,
                                data=ParticipantCreate(
                                    agency_id=a,
                                    agency_name=a,
                                    country=c,
                                    role=r,
                                    work_hours=100,
                                    agreement_ref="US-MX 2001 (TIAS 13163)"
                                    if r == "foreign"
                                    else None,
                                    share_bps=2500 if r == "foreign" else None,
                                ),
                            )
                        )
                    nxt = {"to": S.SHARING_REQUESTED}
            if status is S.SHARING_DECIDED:
                self.attempt(
                    lambda: assets.record_concurrence(
                        self.session,
                        principal=maker,
                        asset_id=asset_id,
                        data=ConcurrenceRequest(
                            agency_id="FGR", reference="State-1", concurred_at=utc_now()
                        ),
                    )
                )
                owed = [
                    b.account
                    for b in ledger.balances(self.session, principal=checker, asset_id=asset_id)
                    if accounts.is_payable(b.account) and b.posted_minor > 0
                ]
                if owed:
                    self.attempt(
                        lambda: flows.disburse(
                            self.session,
                            principal=maker,
                            asset_id=asset_id,
                            request=DisbursementRequest(account=owed[0]),
                            idempotency_key=key(),
                        )
                    )
                    return
                nxt = {"to": data.draw(st.sampled_from([S.DISBURSED, S.TRANSFERRED_FOREIGN]))}
            if nxt is not None:
                request = TransitionRequest(at=utc_now(), **nxt)
                self.attempt(
                    lambda: flows.transition(
                        self.session,
                        principal=maker,
                        asset_id=asset_id,
                        request=request,
                        idempotency_key=key(),
                    )
                )

        # -- ledger primitives ----------------------------------------------------------------

        @rule(
            who=actors,
            asset_id=st.integers(1, 3),
            lines=st.lists(
                st.tuples(
                    st.sampled_from(ACCOUNTS),
                    st.sampled_from(["USD", "MXN", "XXX"]),
                    st.integers(-3_000_00, 3_000_00),
                ),
                min_size=0,
                max_size=4,
            ),
            balanced=st.booleans(),
        )
        def propose(
            self, who: Principal, asset_id: int, lines: list[tuple[str, str, int]], balanced: bool
        ) -> None:
            legs = [Line(a, c, x) for a, c, x in lines]
            if balanced and legs:
                # Close every currency against the proceeds source, so many are valid.
                totals: dict[str, int] = {}
                for leg in legs:
                    totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount_minor
                legs += [Line(accounts.PROCEEDS, c, -t) for c, t in totals.items() if t]
            request = {
                "principal": who,
                "idempotency_key": key(),
                "kind": EntryKind.PROCEEDS,
                "asset_id": asset_id,
                "lines": legs,
            }
            entry = self.attempt(lambda: ledger.propose(self.session, **request))
            if entry is not None:
                self.proposals.append({**request, "seq": entry.seq})

        @precondition(lambda self: self.proposals)
        @rule(data=st.data(), change=st.booleans())
        def replay(self, data: st.DataObject, change: bool) -> None:
            first = dict(data.draw(st.sampled_from(self.proposals)))
            seq = first.pop("seq")
            before = snapshot(self.session)
            if change:
                first["memo"] = "something else"
                try:
                    with self.session.begin_nested():
                        ledger.propose(self.session, **first)
                except Conflict:
                    pass
                else:
                    raise AssertionError("a reused key with another posting was accepted")
            else:
                assert ledger.propose(self.session, **first).seq == seq
            assert snapshot(self.session) == before

        @rule(who=actors, approve=st.integers(0, 3), data=st.data())
        def decide(self, who: Principal, approve: int, data: st.DataObject) -> None:
            head = snapshot(self.session)["head"]
            pending = [
                view.entry.seq
                for view in ledger.list_entries(
                    self.session, principal=ACTORS[5], status=EntryStatus.PENDING, limit=1000
                )
            ]
            if pending and data.draw(st.integers(0, 4)):
                seq = data.draw(st.sampled_from(pending))
            else:
                seq = data.draw(st.integers(1, (head[0] if head else 0) + 1))
            self.attempt(
                lambda: ledger.decide(
                    self.session, principal=who, seq=seq, approve=approve > 0, idempotency_key=key()
                )
            )

        @rule(who=actors, data=st.data())
        def reverse(self, who: Principal, data: st.DataObject) -> None:
            head = snapshot(self.session)["head"]
            seq = data.draw(st.integers(1, (head[0] if head else 0) + 1))
            self.attempt(
                lambda: ledger.reverse(self.session, principal=who, seq=seq, idempotency_key=key())
            )

        # -- invariants -----------------------------------------------------------------------

        @invariant()
        def ledger_is_consistent(self) -> None:
            report = ledger.verify(self.session)
            assert report.ok, report.first_error
            assert all(total == 0 for total in report.currency_totals.values())
            for balance in report.balances:
                assert accounts.normal_sign(balance.account) * balance.posted_minor >= 0

    return LedgerMachine


def test_any_sequence_of_operations_keeps_the_ledger_sound(engine: Engine) -> None:
    machine = build_machine(engine)
    machine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine.TestCase().runTest()
