"""The alert and case lifecycle: which moves are legal and what each one requires.

``NEW → TRIAGE → INVESTIGATING ⇄ INFO_REQUESTED → ESCALATED → PENDING_FILING_DECISION →
FILED | CLOSED`` (DOMAIN.md §4.1). Besides that spine:

* any open state may be closed (a false positive is usually closed at triage);
* an escalation can be sent back to ``INVESTIGATING``;
* a closed alert can be reopened to ``INVESTIGATING`` (Marble's reopen); a filed one cannot —
  a filing is corrected by a new filing, never by rewriting history.

The filing decision (leaving ``PENDING_FILING_DECISION``) and a reopen change what was
decided, so they need a supervisor or an admin (maker–checker, DESIGN.md §1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from services.alerts.enums import TERMINAL_STATUSES, AlertStatus
from services.alerts.schemas import TransitionRequest
from services.auth.enums import Role
from services.auth.service import Principal
from services.errors import Conflict, Forbidden, ServiceError

S = AlertStatus

TRANSITIONS: Mapping[AlertStatus, frozenset[AlertStatus]] = {
    S.NEW: frozenset({S.TRIAGE, S.CLOSED}),
    S.TRIAGE: frozenset({S.INVESTIGATING, S.CLOSED}),
    S.INVESTIGATING: frozenset({S.INFO_REQUESTED, S.ESCALATED, S.CLOSED}),
    S.INFO_REQUESTED: frozenset({S.INVESTIGATING, S.CLOSED}),
    S.ESCALATED: frozenset({S.PENDING_FILING_DECISION, S.INVESTIGATING, S.CLOSED}),
    S.PENDING_FILING_DECISION: frozenset({S.FILED, S.CLOSED}),
    S.FILED: frozenset(),
    S.CLOSED: frozenset({S.INVESTIGATING}),
}

# Roles that may move alerts and cases at all (auditors read, reporters never see them).
WRITE_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.ADMIN})
# Roles that may take the filing decision or reopen a closed alert or case.
DECISION_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


def allowed_targets(current: AlertStatus) -> frozenset[AlertStatus]:
    """Returns the states reachable in one move from ``current``."""
    return TRANSITIONS[current]


def is_legal(current: AlertStatus, target: AlertStatus) -> bool:
    """True when ``current → target`` is a move of the lifecycle."""
    return target in TRANSITIONS[current]


def needs_decision_role(current: AlertStatus, target: AlertStatus) -> bool:
    """True when the move is a filing decision or a reopen."""
    return current is S.PENDING_FILING_DECISION or (
        current is S.CLOSED and target is S.INVESTIGATING
    )


class Workable(Protocol):
    """What alerts and cases share: the fields a lifecycle move changes."""

    status: str
    disposition: str | None
    rationale: str | None
    evidence: list[str] | None
    filing_reference: str | None
    suspicion_determined_at: datetime | None
    decided_at: datetime | None
    updated_at: datetime


class IllegalTransition(Conflict):
    def __init__(self, current: AlertStatus, target: AlertStatus) -> None:
        super().__init__(
            f"illegal transition {current} → {target}",
            {"status": current.value, "allowed": sorted(t.value for t in allowed_targets(current))},
        )


def authorize_write(principal: Principal) -> None:
    """Raises Forbidden unless the caller may change alerts and cases."""
    if principal.role not in WRITE_ROLES:
        raise Forbidden(f"role {principal.role} cannot change alerts or cases")


def check_transition(
    current: AlertStatus, request: TransitionRequest, *, principal: Principal, now: datetime
) -> None:
    """Raises unless the lifecycle and the caller's role allow ``current → request.to``.

    Raises:
        Forbidden: not a writing role, or a filing decision / reopen by a non-supervisor.
        IllegalTransition: not a move of the lifecycle (409).
        ServiceError: 422 listing what the move requires and lacks.
    """
    authorize_write(principal)
    target = request.to
    if not is_legal(current, target):
        raise IllegalTransition(current, target)
    if needs_decision_role(current, target) and principal.role not in DECISION_ROLES:
        raise Forbidden("the filing decision and reopening need a supervisor or an admin")

    errors: list[dict[str, str]] = []
    if target is S.CLOSED:
        if request.disposition is None:
            errors.append({"field": "disposition", "message": "closing needs a disposition"})
        if request.rationale is None:
            errors.append({"field": "rationale", "message": "closing needs a rationale"})
    elif request.disposition is not None:
        errors.append({"field": "disposition", "message": "a disposition is given only to close"})
    if target is S.FILED:
        if request.filing_reference is None:
            errors.append(
                {"field": "filing_reference", "message": "filing needs the filing reference"}
            )
    elif request.filing_reference is not None:
        errors.append({"field": "filing_reference", "message": "given only when filing"})
    if request.typology is not None and target not in (S.CLOSED, S.FILED):
        errors.append({"field": "typology", "message": "given only when filing or closing"})
    if current is S.CLOSED and request.rationale is None:
        errors.append({"field": "rationale", "message": "reopening needs a rationale"})
    if request.suspicion_determined_at is not None and request.suspicion_determined_at > now:
        errors.append({"field": "suspicion_determined_at", "message": "is in the future"})
    if errors:
        raise ServiceError(f"the move to {target} is incomplete", 422, errors)


def apply_transition(
    entity: Workable, request: TransitionRequest, *, principal: Principal, now: datetime
) -> None:
    """Moves ``entity`` to ``request.to`` if the lifecycle and the caller's role allow it
    (raises as :func:`check_transition`)."""
    current = AlertStatus(entity.status)
    target = request.to
    check_transition(current, request, principal=principal, now=now)

    entity.status = target.value
    if request.rationale is not None:
        entity.rationale = request.rationale
    if request.evidence:
        entity.evidence = list(request.evidence)
    if target is S.CLOSED:
        entity.disposition = request.disposition.value if request.disposition else None
        entity.decided_at = now
    elif target is S.FILED:
        entity.filing_reference = request.filing_reference
        entity.decided_at = now
    elif current is S.CLOSED:
        entity.disposition = None
        entity.decided_at = None
    if request.suspicion_determined_at is not None:
        entity.suspicion_determined_at = request.suspicion_determined_at
    elif target is S.ESCALATED and entity.suspicion_determined_at is None:
        # Escalating is the investigator's conclusion that there is reason to suspect: the
        # SAR clock starts here unless an earlier determination is recorded explicitly.
        entity.suspicion_determined_at = now
    entity.updated_at = now


def cascade_decision(entity: Workable, decided: Workable, now: datetime) -> bool:
    """Applies a case's final decision to one of its alerts; returns False if already final."""
    if AlertStatus(entity.status) in TERMINAL_STATUSES:
        return False
    entity.status = decided.status
    entity.disposition = decided.disposition
    entity.rationale = decided.rationale
    entity.filing_reference = decided.filing_reference
    entity.decided_at = now
    entity.updated_at = now
    return True
