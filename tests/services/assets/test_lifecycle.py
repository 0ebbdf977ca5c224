"""Asset lifecycle (DOMAIN.md §3.5): guards, deadlines, the postings each step makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from services.assets import flows
from services.assets import service as assets
from services.assets.enums import AssetStatus, DeadlineKind
from services.assets.orm import Asset
from services.assets.schemas import (
    AssetCreate,
    ConcurrenceRequest,
    CustodyRequest,
    DisbursementRequest,
    ExpenseRequest,
    ParticipantCreate,
    TransitionRequest,
)
from services.auth.service import Principal
from services.errors import Conflict, Forbidden, ServiceError
from services.ledger import service as ledger
from services.ledger.enums import EntryStatus
from services.ledger.service import Invalid
from tests.services.ledger.support import People, key, snapshot

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MX = "US-MX 2001 (TIAS 13163)"


def register(session: Session, people: People, **fields: Any) -> Asset:
    data: dict[str, Any] = {
        "asset_type": "vehicle",
        "description": "2024 pickup truck",
        "identifiers": [{"type": "VIN", "value": "1FTFW1E50PFA00001"}],
        "value_minor": 45_000_00,
        "currency": "USD",
        "jurisdiction": "US",
        "case_number": "TX-2026-0042",
        "case_ids": ["case-17"],
        "alert_ids": ["alert-3"],
        "report_refs": ["US-FI-0001/R-1"],
    }
    data.update(fields)
    asset, _event = assets.register(
        session, principal=people.investigator, data=AssetCreate(**data)
    )
    return asset


def move(
    session: Session, who: Principal, asset: Asset, to: AssetStatus, **fields: Any
) -> flows.Change:
    return flows.transition(
        session,
        principal=who,
        asset_id=asset.id,
        request=TransitionRequest(to=to, **fields),
        idempotency_key=key(),
    )


def approve_all(session: Session, people: People, change: flows.Change) -> None:
    for view in change.entries:
        ledger.decide(
            session,
            principal=people.supervisor,
            seq=view.entry.seq,
            approve=True,
            idempotency_key=key(),
        )


def participant(session: Session, people: People, asset: Asset, **fields: Any) -> None:
    assets.add_participant(
        session, principal=people.investigator, asset_id=asset.id, data=ParticipantCreate(**fields)
    )


def forfeit(session: Session, people: People, asset: Asset, *, authority: str = "federal") -> None:
    move(session, people.investigator, asset, AssetStatus.SEIZED, at=T, seizing_authority=authority)
    move(session, people.investigator, asset, AssetStatus.NOTICED, at=T + timedelta(days=10))
    change = move(
        session, people.investigator, asset, AssetStatus.FORFEITED_ADMIN, at=T + timedelta(days=60)
    )
    approve_all(session, people, change)


def refused(session: Session, error: type[ServiceError], match: str, call: Any) -> None:
    before = snapshot(session)
    with pytest.raises(error, match=match):
        with session.begin_nested():
            call()
    assert snapshot(session) == before


class TestDomesticCase:
    def test_sold_vehicle_from_seizure_to_disbursement(
        self, session: Session, people: People
    ) -> None:
        asset = register(session, people)
        forfeit(session, people, asset)
        assert asset.status == AssetStatus.FORFEITED_ADMIN
        assert asset.sharing_request_due_at == T + timedelta(days=105)
        sale = move(
            session,
            people.investigator,
            asset,
            AssetStatus.DISPOSED,
            at=T + timedelta(days=80),
            disposition="SOLD",
            proceeds_minor=130_000_00,
        )
        approve_all(session, people, sale)
        expense = flows.post_expense(
            session,
            principal=people.investigator,
            asset_id=asset.id,
            request=ExpenseRequest(amount_minor=5_000_00, memo="towing, storage, auction fee"),
            idempotency_key=key(),
        )
        approve_all(session, people, expense)
        move(
            session, people.investigator, asset, AssetStatus.REMISSION_PENDING, claimant="victim-1"
        )
        remission = move(
            session, people.investigator, asset, AssetStatus.REMITTED, amount_minor=25_000_00
        )
        approve_all(session, people, remission)
        paid = flows.disburse(
            session,
            principal=people.investigator,
            asset_id=asset.id,
            request=DisbursementRequest(account="remission:victim-1", method="check"),
            idempotency_key=key(),
        )
        approve_all(session, people, paid)
        assert flows.net_proceeds(session, asset) == 100_000_00

        participant(
            session,
            people,
            asset,
            agency_id="DEA-HOU",
            agency_name="DEA Houston",
            country="US",
            role="federal",
            work_hours=1000,
        )
        participant(
            session,
            people,
            asset,
            agency_id="TXDPS",
            agency_name="Texas DPS",
            ori="TXDPS0000",
            country="US",
            role="state",
            work_hours=2000,
            originated_info=True,
        )
        participant(
            session,
            people,
            asset,
            agency_id="HPD",
            agency_name="Houston PD",
            ori="TXHPD0000",
            country="US",
            role="local",
            work_hours=1000,
        )
        move(
            session,
            people.investigator,
            asset,
            AssetStatus.SHARING_REQUESTED,
            at=T + timedelta(days=90),
        )
        decided = move(
            session,
            people.investigator,
            asset,
            AssetStatus.SHARING_DECIDED,
            rationale="hours and originated information, per DAG-71",
        )
        allocation = decided.entries[0].entry
        assert sorted((line.account, line.amount_minor) for line in allocation.lines) == [
            ("agency:HPD:payable", 22_222_22),
            ("agency:TXDPS:payable", 55_555_56),
            ("federal-share", 22_222_22),
            ("forfeited:TX-2026-0042", -100_000_00),
        ]
        refused(
            session,
            Conflict,
            "await approval",
            lambda: move(session, people.investigator, asset, AssetStatus.DISBURSED),
        )
        approve_all(session, people, decided)
        refused(
            session,
            Conflict,
            "not paid",
            lambda: move(session, people.investigator, asset, AssetStatus.DISBURSED),
        )
        for payable in ("agency:HPD:payable", "agency:TXDPS:payable"):
            approve_all(
                session,
                people,
                flows.disburse(
                    session,
                    principal=people.investigator,
                    asset_id=asset.id,
                    request=DisbursementRequest(account=payable),
                    idempotency_key=key(),
                ),
            )
        refused(
            session,
            Conflict,
            "DISBURSED",
            lambda: move(session, people.investigator, asset, AssetStatus.TRANSFERRED_FOREIGN),
        )
        move(session, people.investigator, asset, AssetStatus.DISBURSED)
        assert asset.status == AssetStatus.DISBURSED
        assert asset.next_deadline_at is None

        report = ledger.verify(session)
        assert report.ok, report.first_error
        balances = {(b.account, b.currency): b.posted_minor for b in report.balances}
        assert balances[("forfeiture-proceeds", "USD")] == -130_000_00
        assert balances[("forfeited:TX-2026-0042", "USD")] == 0
        assert balances[("expenses", "USD")] == 5_000_00
        assert balances[("federal-share", "USD")] == 22_222_22
        assert balances[("disbursed", "USD")] == 25_000_00 + 55_555_56 + 22_222_22
        by_agency = {
            row.key: row
            for row in assets.share_totals(session, principal=people.auditor, by="agency")
        }
        assert by_agency["TXDPS"].allocated_minor == 55_555_56
        assert by_agency["TXDPS"].outstanding_minor == 0
        assert by_agency["federal:US"].allocated_minor == 22_222_22
        items = assets.timeline(session, principal=people.auditor, asset_id=asset.id)
        # In effective-time order: the seizure (dated T) comes before the registration (now).
        assert items[0].summary == "IDENTIFIED → SEIZED"
        kinds = [item.kind for item in items]
        assert {"registered", "participant_added", "allocation", "approve"} <= set(kinds)
        assert [i.to_status for i in items if i.kind == "transition"][-1] == "DISBURSED"


class TestUsMexico:
    def test_foreign_transfer_needs_concurrence_and_agreement(
        self, session: Session, people: People
    ) -> None:
        asset = register(
            session,
            people,
            asset_type="currency",
            description="bulk cash",
            identifiers=[],
            value_minor=6_000_000_00,
        )
        forfeit(session, people, asset, authority="state_local")
        assert asset.notice_due_at == T + timedelta(days=90)
        participant(
            session,
            people,
            asset,
            agency_id="FGR",
            agency_name="Fiscalía General",
            country="MX",
            role="foreign",
            work_hours=0,
            agreement_ref=MX,
            share_bps=4000,
        )
        participant(
            session,
            people,
            asset,
            agency_id="DEA-HOU",
            agency_name="DEA Houston",
            country="US",
            role="federal",
            work_hours=3000,
        )
        participant(
            session,
            people,
            asset,
            agency_id="HPD",
            agency_name="Houston PD",
            country="US",
            role="local",
            work_hours=1000,
        )
        move(session, people.investigator, asset, AssetStatus.SHARING_REQUESTED)
        approve_all(
            session,
            people,
            move(
                session,
                people.investigator,
                asset,
                AssetStatus.SHARING_DECIDED,
                rationale="agreement",
            ),
        )
        pay_mx = DisbursementRequest(account="foreign:MX:payable", method="wire")
        refused(
            session,
            Conflict,
            "concurrence",
            lambda: flows.disburse(
                session,
                principal=people.investigator,
                asset_id=asset.id,
                request=pay_mx,
                idempotency_key=key(),
            ),
        )
        assets.record_concurrence(
            session,
            principal=people.investigator,
            asset_id=asset.id,
            data=ConcurrenceRequest(
                agency_id="FGR", reference="State-2026-117", concurred_at=T + timedelta(days=100)
            ),
        )
        approve_all(
            session,
            people,
            flows.disburse(
                session,
                principal=people.investigator,
                asset_id=asset.id,
                request=pay_mx,
                idempotency_key=key(),
            ),
        )
        approve_all(
            session,
            people,
            flows.disburse(
                session,
                principal=people.investigator,
                asset_id=asset.id,
                request=DisbursementRequest(account="agency:HPD:payable"),
                idempotency_key=key(),
            ),
        )
        refused(
            session,
            Conflict,
            "TRANSFERRED_FOREIGN",
            lambda: move(session, people.investigator, asset, AssetStatus.DISBURSED),
        )
        move(session, people.investigator, asset, AssetStatus.TRANSFERRED_FOREIGN)
        by_country = {
            row.key: row
            for row in assets.share_totals(session, principal=people.auditor, by="country")
        }
        assert by_country["MX"].allocated_minor == 2_400_000_00
        assert by_country["MX"].disbursed_minor == 2_400_000_00
        assert by_country["US"].allocated_minor == 3_600_000_00
        assert ledger.verify(session).ok

    def test_foreign_participant_needs_an_agreement(self, session: Session, people: People) -> None:
        asset = register(session, people)
        refused(
            session,
            Invalid,
            "agreement",
            lambda: participant(
                session,
                people,
                asset,
                agency_id="FGR",
                agency_name="FGR",
                country="MX",
                role="foreign",
                work_hours=10,
            ),
        )


class TestGuards:
    def test_illegal_transition_is_refused(self, session: Session, people: People) -> None:
        asset = register(session, people)
        refused(
            session,
            Conflict,
            "cannot move",
            lambda: move(session, people.investigator, asset, AssetStatus.FORFEITED_ADMIN),
        )

    def test_no_sharing_while_a_claim_is_open(self, session: Session, people: People) -> None:
        asset = register(session, people)
        move(
            session,
            people.investigator,
            asset,
            AssetStatus.SEIZED,
            at=T,
            seizing_authority="federal",
        )
        move(session, people.investigator, asset, AssetStatus.NOTICED, at=T)
        move(session, people.investigator, asset, AssetStatus.CLAIM_FILED, at=T, claimant="owner-1")
        refused(
            session,
            Conflict,
            "claim is open",
            lambda: move(session, people.investigator, asset, AssetStatus.SHARING_REQUESTED),
        )
        refused(
            session,
            Conflict,
            "cannot move",
            lambda: move(session, people.investigator, asset, AssetStatus.FORFEITED_ADMIN),
        )

    def test_no_sharing_while_a_petition_is_open(self, session: Session, people: People) -> None:
        asset = register(session, people, asset_type="currency", value_minor=1_000_00)
        forfeit(session, people, asset)
        move(
            session, people.investigator, asset, AssetStatus.REMISSION_PENDING, claimant="victim-2"
        )
        refused(
            session,
            Conflict,
            "petition is open",
            lambda: move(session, people.investigator, asset, AssetStatus.SHARING_REQUESTED),
        )

    def test_no_sharing_before_net_proceeds_exist(self, session: Session, people: People) -> None:
        asset = register(session, people, asset_type="currency", value_minor=1_000_00)
        move(
            session,
            people.investigator,
            asset,
            AssetStatus.SEIZED,
            at=T,
            seizing_authority="federal",
        )
        move(session, people.investigator, asset, AssetStatus.NOTICED, at=T)
        change = move(session, people.investigator, asset, AssetStatus.FORFEITED_ADMIN, at=T)
        participant(
            session,
            people,
            asset,
            agency_id="HPD",
            agency_name="Houston PD",
            country="US",
            role="local",
            work_hours=10,
        )
        refused(
            session,
            Conflict,
            "await approval",
            lambda: move(session, people.investigator, asset, AssetStatus.SHARING_REQUESTED),
        )
        ledger.decide(
            session,
            principal=people.supervisor,
            seq=change.entries[0].entry.seq,
            approve=False,
            idempotency_key=key(),
        )
        refused(
            session,
            Conflict,
            "no net proceeds",
            lambda: move(session, people.investigator, asset, AssetStatus.SHARING_REQUESTED),
        )

    def test_property_is_shared_only_after_its_sale(self, session: Session, people: People) -> None:
        asset = register(session, people)
        forfeit(session, people, asset)
        refused(
            session,
            Conflict,
            "dispose of it first",
            lambda: move(session, people.investigator, asset, AssetStatus.SHARING_REQUESTED),
        )

    def test_administrative_forfeiture_limit(self, session: Session, people: People) -> None:
        asset = register(session, people, asset_type="real_property", value_minor=750_000_00)
        move(
            session,
            people.investigator,
            asset,
            AssetStatus.SEIZED,
            at=T,
            seizing_authority="federal",
        )
        move(session, people.investigator, asset, AssetStatus.NOTICED, at=T)
        refused(
            session,
            Conflict,
            "1607",
            lambda: move(session, people.investigator, asset, AssetStatus.FORFEITED_ADMIN, at=T),
        )
        cash = register(session, people, asset_type="currency", value_minor=750_000_00)
        forfeit(session, people, cash)  # monetary instruments of any amount

    def test_redeciding_needs_the_allocation_undone(self, session: Session, people: People) -> None:
        asset = register(session, people, asset_type="currency", value_minor=1_000_00)
        forfeit(session, people, asset)
        participant(
            session,
            people,
            asset,
            agency_id="HPD",
            agency_name="Houston PD",
            country="US",
            role="local",
            work_hours=10,
        )
        move(session, people.investigator, asset, AssetStatus.SHARING_REQUESTED)
        first = move(
            session, people.investigator, asset, AssetStatus.SHARING_DECIDED, rationale="r"
        )
        refused(
            session,
            Conflict,
            "allocation stands",
            lambda: move(
                session, people.investigator, asset, AssetStatus.SHARING_DECIDED, rationale="r2"
            ),
        )
        ledger.decide(
            session,
            principal=people.supervisor,
            seq=first.entries[0].entry.seq,
            approve=False,
            idempotency_key=key(),
        )
        again = move(
            session, people.investigator, asset, AssetStatus.SHARING_DECIDED, rationale="r2"
        )
        assert again.entries[0].status is EntryStatus.PENDING

    def test_auditor_and_reporter_cannot_write(self, session: Session, people: People) -> None:
        asset = register(session, people)
        for who in (people.auditor, people.reporter):
            with pytest.raises(Forbidden):
                move(session, who, asset, AssetStatus.SEIZED, at=T, seizing_authority="federal")
        with pytest.raises(Forbidden):
            assets.get(session, principal=people.reporter, asset_id=asset.id)


class TestDeadlines:
    def test_clocks_and_filter(self, session: Session, people: People) -> None:
        federal = register(session, people, case_number="F-1")
        state = register(session, people, case_number="S-1", case_ids=["case-99"])
        idle = register(session, people, case_number="I-1")
        move(
            session,
            people.investigator,
            federal,
            AssetStatus.SEIZED,
            at=T,
            seizing_authority="federal",
        )
        move(
            session,
            people.investigator,
            state,
            AssetStatus.SEIZED,
            at=T,
            seizing_authority="state_local",
        )
        assert federal.notice_due_at == T + timedelta(days=60)
        assert state.notice_due_at == T + timedelta(days=90)
        assert federal.next_deadline_kind == DeadlineKind.NOTICE

        def due_before(days: int, **filters: Any) -> list[int]:
            return [
                a.id
                for a in assets.list_assets(
                    session,
                    principal=people.auditor,
                    deadline_before=T + timedelta(days=days),
                    **filters,
                )
            ]

        assert due_before(61) == [federal.id]
        assert due_before(91) == [federal.id, state.id]
        assert idle.id not in due_before(10_000)
        assert [
            a.id for a in assets.list_assets(session, principal=people.auditor, case_id="case-99")
        ] == [state.id]

        late = move(
            session, people.investigator, federal, AssetStatus.NOTICED, at=T + timedelta(days=61)
        )
        assert late.event.data["late"] is True
        assert federal.next_deadline_at is None
        move(
            session,
            people.investigator,
            federal,
            AssetStatus.CLAIM_FILED,
            at=T + timedelta(days=70),
            claimant="owner",
        )
        assert federal.next_deadline_kind == DeadlineKind.COMPLAINT
        assert federal.next_deadline_at == T + timedelta(days=160)
        move(
            session,
            people.investigator,
            federal,
            AssetStatus.JUDICIAL_REFERRAL,
            at=T + timedelta(days=100),
        )
        move(
            session,
            people.investigator,
            federal,
            AssetStatus.FORFEITED_JUDICIAL,
            at=T + timedelta(days=200),
        )
        assert federal.next_deadline_kind == DeadlineKind.SHARING_REQUEST
        assert federal.next_deadline_at == T + timedelta(days=245)
        assert due_before(246, deadline_kind=DeadlineKind.SHARING_REQUEST) == [federal.id]

    def test_custody_history_in_the_timeline(self, session: Session, people: People) -> None:
        asset = register(session, people, custodian="HPD impound")
        assets.change_custody(
            session,
            principal=people.investigator,
            asset_id=asset.id,
            data=CustodyRequest(custodian="USMS", at=T, note="transfer"),
        )
        assert asset.custodian == "USMS"
        custody = [
            item
            for item in assets.timeline(session, principal=people.auditor, asset_id=asset.id)
            if item.kind == "custody_changed"
        ]
        assert custody[0].data["from"] == "HPD impound"
        assert custody[0].data["to"] == "USMS"
