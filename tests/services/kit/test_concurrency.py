"""Two investigators change the same alert at the same time: one wins, the other is told."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from services.alerts.enums import AlertStatus
from services.alerts.orm import Alert
from services.alerts.schemas import AssignmentRequest, TransitionRequest
from services.alerts.service import assign_alert, transition_alert
from services.audit.orm import AuditEvent
from services.auth.enums import Role
from services.auth.service import Principal
from services.db import transaction
from services.errors import ServiceError
from services.kit.concurrency import Precondition
from tests.fixtures.alerts import create_alert

ALICE = Principal(token_id=1, role=Role.INVESTIGATOR, institution_id=None)
BOB = Principal(token_id=2, role=Role.INVESTIGATOR, institution_id=None)


def test_concurrent_writers_one_wins_the_other_gets_409(sessions):
    with transaction(sessions) as session:
        alert_id = create_alert(session).id

    both_read = threading.Barrier(2, timeout=30)
    outcomes: dict[str, object] = {}

    def work(name: str, principal: Principal, change) -> None:
        try:
            with transaction(sessions) as session:
                # Both read version 1 before either writes (and keep it in the identity map,
                # so that the loser's check passes and the versioned UPDATE has to catch it).
                read = session.get(Alert, alert_id)
                assert read.version == 1
                both_read.wait()
                change(session, principal)
                del read
            outcomes[name] = "ok"
        except ServiceError as error:
            outcomes[name] = error.status_code

    def close(session, principal):
        transition_alert(
            session,
            principal=principal,
            alert_id=alert_id,
            request=TransitionRequest(
                to=AlertStatus.CLOSED, disposition="FALSE_POSITIVE", rationale="payroll"
            ),
            precondition=Precondition(version=1, from_header=True),
        )

    def assign(session, principal):
        assign_alert(
            session,
            principal=principal,
            alert_id=alert_id,
            request=AssignmentRequest(assignee="bob"),
            precondition=Precondition(version=1, from_header=True),
        )

    threads = [
        threading.Thread(target=work, args=("alice", ALICE, close)),
        threading.Thread(target=work, args=("bob", BOB, assign)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes.values(), key=str) == [409, "ok"], outcomes
    winner = next(name for name, outcome in outcomes.items() if outcome == "ok")
    with transaction(sessions) as session:
        alert = session.get(Alert, alert_id)
        assert alert.version == 2
        if winner == "alice":
            assert (alert.status, alert.assignee) == ("CLOSED", None)
        else:
            assert (alert.status, alert.assignee) == ("NEW", "bob")
        # The loser's audit event was rolled back with its change.
        events = session.scalar(select(func.count()).where(AuditEvent.entity_id == str(alert_id)))
        assert events == 1


def test_a_stale_session_cannot_overwrite(sessions):
    with transaction(sessions) as session:
        alert_id = create_alert(session).id
    stale = sessions()
    try:
        stale_alert = stale.get(Alert, alert_id)
        assert stale_alert.version == 1
        with transaction(sessions) as session:
            assign_alert(
                session,
                principal=ALICE,
                alert_id=alert_id,
                request=AssignmentRequest(assignee="alice"),
                precondition=Precondition(version=1, from_header=False),
            )
        # The stale session still holds version 1 in its identity map: the check passes,
        # the versioned UPDATE matches no row, and the write becomes a 409.
        with pytest.raises(ServiceError) as raised:
            assign_alert(
                stale,
                principal=BOB,
                alert_id=alert_id,
                request=AssignmentRequest(assignee="bob"),
                precondition=Precondition(version=1, from_header=False),
            )
        assert raised.value.status_code == 409
    finally:
        stale.rollback()
        stale.close()
    with transaction(sessions) as session:
        assert session.get(Alert, alert_id).assignee == "alice"
