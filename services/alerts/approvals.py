"""Four eyes on the decisions the law expects two people for (DESIGN.md §1, issue 18).

* The filing decision (leaving ``PENDING_FILING_DECISION``) is taken by someone other than
  whoever escalated the alert or case: the escalation is one person's suspicion, the filing
  another's decision.
* Closing as a ``FALSE_POSITIVE`` an alert (or a case holding an alert) scored at or above
  ``Settings.false_positive_second_approval_score`` takes two people: the first request is
  recorded as a proposal (an audit event, nothing changes), the same move asked by another
  person confirms it.

Who did what is read from the audit trail, which is append-only and written in the same
transaction as every move (``services.audit.service``): no column can drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.alerts.enums import AlertStatus, Disposition
from services.alerts.schemas import TransitionRequest
from services.audit import service as audit
from services.audit.orm import AuditEvent
from services.audit.repository import AuditRepository
from services.auth.service import Principal
from services.errors import Forbidden

PROPOSAL = "closure_proposed"
# On a 202 answer to a transition request: why a second person is needed.
AWAITING_HEADER = "X-Awaiting-Second-Approval"
# An alert or case has a few dozen events at most; this bounds the scan all the same.
HISTORY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SecondApproval:
    """A false-positive closure waiting for a second person; nothing was changed."""

    proposed_by: str
    message: str


def _history(session: Session, entity_type: str, entity_id: int) -> list[AuditEvent]:
    return list(
        AuditRepository(session).page(
            entity_type=entity_type, entity_id=str(entity_id), limit=HISTORY_LIMIT
        )
    )


def _status(state: dict[str, Any] | None) -> Any:
    return (state or {}).get("status")


def escalated_by(session: Session, entity_type: str, entity_id: int) -> str | None:
    """The actor of the latest move into ``ESCALATED``, if any."""
    for event in _history(session, entity_type, entity_id):
        if event.action.endswith(".transition") and _status(event.after) == "ESCALATED":
            if _status(event.before) != "ESCALATED":
                return event.actor
    return None


def check_filing_decider(
    session: Session, *, entity_type: str, entity_id: int, current: str, principal: Principal
) -> None:
    """Raises Forbidden when the filing decision would be taken by whoever escalated."""
    if current != AlertStatus.PENDING_FILING_DECISION:
        return
    escalator = escalated_by(session, entity_type, entity_id)
    if escalator is not None and escalator == principal.actor:
        raise Forbidden(
            f"the filing decision needs someone other than whoever escalated ({escalator})"
        )


def needs_second_approval(
    request: TransitionRequest, score: float | None, threshold: float | None
) -> bool:
    """True for a FALSE_POSITIVE closure of something scored at or above ``threshold``."""
    return (
        threshold is not None
        and score is not None
        and request.to is AlertStatus.CLOSED
        and request.disposition is Disposition.FALSE_POSITIVE
        and score >= threshold
    )


def _open_proposal(session: Session, entity_type: str, entity_id: int) -> AuditEvent | None:
    """The latest closure proposal, unless a move was made since (which voids it)."""
    for event in _history(session, entity_type, entity_id):
        if event.action.endswith(PROPOSAL):
            return event
        if event.action.endswith(".transition"):
            return None
    return None


def second_approval(
    session: Session,
    *,
    entity_type: str,
    entity_id: int,
    principal: Principal,
    request: TransitionRequest,
    state: dict[str, Any],
    score: float | None,
    threshold: float | None,
) -> SecondApproval | None:
    """None when the move may go ahead now; else records (once per person) the proposal.

    The move goes ahead when another person proposed the same closure since the last move.
    """
    if not needs_second_approval(request, score, threshold):
        return None
    proposal = _open_proposal(session, entity_type, entity_id)
    if proposal is not None and proposal.actor != principal.actor:
        return None
    if proposal is None:
        audit.record(
            session,
            principal=principal,
            action=f"{entity_type}.{PROPOSAL}",
            entity_type=entity_type,
            entity_id=entity_id,
            before=state,
            after={
                "proposed": {
                    "to": request.to.value,
                    "disposition": Disposition.FALSE_POSITIVE.value,
                    "rationale": request.rationale,
                },
                "score": score,
                "threshold": threshold,
            },
        )
    proposer = proposal.actor if proposal is not None else principal.actor
    return SecondApproval(
        proposed_by=proposer,
        message=(
            f"closing as a false positive with a score of {score:.2f} (at or above"
            f" {threshold:.2f}) needs a second person: proposed by {proposer}; another"
            " investigator or supervisor must confirm the same closure"
        ),
    )
