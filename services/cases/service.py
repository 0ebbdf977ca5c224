"""Cases: grouping alerts, the narrative, the suspicion determination and the case lifecycle.

The case lifecycle is the alert one (``services.alerts.lifecycle``). A case's final decision
(FILED with a reference, or CLOSED with a disposition) is applied to its open alerts in the
same write, and recorded in the same single audit event. Determining suspicion on a case
starts the SAR clock of its alerts that have none yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from refdata.money import Money
from services.alerts import approvals
from services.alerts.deadlines import case_deadline
from services.alerts.enums import TERMINAL_STATUSES, AlertStatus, EntityType
from services.alerts.lifecycle import (
    apply_transition,
    authorize_write,
    cascade_decision,
    check_transition,
)
from services.alerts.orm import Alert, Note
from services.alerts.repository import AlertRepository
from services.alerts.schemas import AssignmentRequest, TransitionRequest
from services.alerts.service import (
    Moved,
    append_note,
    authorize_read,
    flush_versioned,
    refresh_deadline,
)
from services.alerts.subjects import SubjectSummaryData, summary
from services.audit import service as audit
from services.audit.repository import AuditRepository
from services.auth.service import Principal
from services.cases.orm import Case
from services.cases.repository import CaseRepository
from services.cases.schemas import CaseCreate, CaseUpdate
from services.errors import Conflict, NotFound, ServiceError
from services.kit import cursor as cursor_codec
from services.kit.concurrency import Precondition, check
from services.kit.time import utc_now
from services.reports.orm import Report


def case_state(case: Case, alert_ids: Sequence[int], subject_keys: Sequence[str]) -> dict[str, Any]:
    """The case fields investigators change: the before/after of audit events."""
    return {
        "title": case.title,
        "jurisdiction": case.jurisdiction,
        "status": case.status,
        "disposition": case.disposition,
        "rationale": case.rationale,
        "evidence": case.evidence,
        "filing_reference": case.filing_reference,
        "assignee": case.assignee,
        "narrative": case.narrative,
        "suspicion_determined_at": case.suspicion_determined_at,
        "decided_at": case.decided_at,
        "deadline_kind": case.deadline_kind,
        "deadline_at": case.deadline_at,
        "version": case.version,
        "alert_ids": sorted(alert_ids),
        "subject_keys": sorted(subject_keys),
    }


def _load_alerts(session: Session, alert_ids: Sequence[int]) -> list[Alert]:
    wanted = sorted(set(alert_ids))
    alerts = list(AlertRepository(session).get_many(wanted))
    missing = sorted(set(wanted) - {alert.id for alert in alerts})
    if missing:
        raise ServiceError(
            "unknown alerts",
            422,
            [{"field": "alert_ids", "message": f"no alert {i}"} for i in missing],
        )
    return alerts


def _claim(alerts: Sequence[Alert], case_id: int | None, repository: CaseRepository) -> None:
    """Refuses alerts already in another open case."""
    taken = []
    for alert in alerts:
        if alert.case_id is None or alert.case_id == case_id:
            continue
        other = repository.get(alert.case_id)
        if other is not None and AlertStatus(other.status) not in TERMINAL_STATUSES:
            taken.append({"alert_id": alert.id, "case_id": other.id})
    if taken:
        raise Conflict("alerts already belong to another open case", taken)


def _refresh_case_deadline(case: Case, alerts: Sequence[Alert]) -> None:
    deadline = case_deadline(
        jurisdiction=case.jurisdiction,
        first_alert_at=min((alert.created_at for alert in alerts), default=None),
        created_at=case.created_at,
        suspicion_determined_at=case.suspicion_determined_at,
        subject_identified=case.subject_identified,
    )
    case.deadline_kind = deadline.kind.value if deadline.kind else None
    case.deadline_at = deadline.at


def _propagate_suspicion(case: Case, alerts: Sequence[Alert], now: datetime) -> list[int]:
    """Starts the SAR clock of the case's open alerts that have none; returns their ids."""
    if case.suspicion_determined_at is None:
        return []
    changed = []
    for alert in alerts:
        if alert.suspicion_determined_at is None and AlertStatus(alert.status) not in (
            TERMINAL_STATUSES
        ):
            alert.suspicion_determined_at = case.suspicion_determined_at
            alert.updated_at = now
            refresh_deadline(alert)
            changed.append(alert.id)
    return changed


def create_case(session: Session, *, principal: Principal, request: CaseCreate) -> Case:
    """Opens a case over alerts; its subjects are theirs plus any named in the request."""
    authorize_write(principal)
    now = utc_now()
    if request.suspicion_determined_at is not None and request.suspicion_determined_at > now:
        raise ServiceError(
            "invalid case",
            422,
            [{"field": "suspicion_determined_at", "message": "is in the future"}],
        )
    repository = CaseRepository(session)
    alerts = _load_alerts(session, request.alert_ids)
    _claim(alerts, None, repository)
    jurisdictions = sorted({alert.jurisdiction for alert in alerts})
    jurisdiction = request.jurisdiction
    if jurisdiction is None:
        if len(jurisdictions) != 1:
            raise ServiceError(
                "the alerts span several jurisdictions: say which one the case is filed in",
                422,
                [{"field": "jurisdiction", "message": f"one of {jurisdictions}"}],
            )
        jurisdiction = jurisdictions[0]
    subject_keys = sorted({alert.subject_key for alert in alerts} | set(request.subject_keys))
    case = Case(
        title=request.title,
        jurisdiction=jurisdiction,
        narrative=request.narrative,
        status=AlertStatus.NEW.value,
        assignee=request.assignee,
        subject_identified=any(alert.subject_identified for alert in alerts),
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
        suspicion_determined_at=request.suspicion_determined_at,
        version=1,
    )
    # Everything is set before the INSERT, so the case is born at version 1.
    _refresh_case_deadline(case, alerts)
    repository.add(case)
    repository.add_subjects(case.id, subject_keys, now)
    for alert in alerts:
        alert.case_id = case.id
        alert.updated_at = now
    propagated = _propagate_suspicion(case, alerts, now)
    flush_versioned(session)
    audit.record(
        session,
        principal=principal,
        action="case.create",
        entity_type=EntityType.CASE.value,
        entity_id=case.id,
        before=None,
        after={
            **case_state(case, [alert.id for alert in alerts], subject_keys),
            "alerts_clock_started": propagated,
        },
    )
    return case


def _load_case_for_write(session: Session, principal: Principal, case_id: int) -> Case:
    authorize_write(principal)
    case = CaseRepository(session).get(case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def update_case(
    session: Session,
    *,
    principal: Principal,
    case_id: int,
    request: CaseUpdate,
    precondition: Precondition,
) -> Case:
    """Edits an open case: title, narrative, suspicion determination, alerts and subjects."""
    case = _load_case_for_write(session, principal, case_id)
    check(precondition, case.version)
    if AlertStatus(case.status) in TERMINAL_STATUSES:
        raise Conflict(f"case {case_id} is {case.status}: a decided case is not edited")
    now = utc_now()
    if request.suspicion_determined_at is not None and request.suspicion_determined_at > now:
        raise ServiceError(
            "invalid update", 422, [{"field": "suspicion_determined_at", "message": "future"}]
        )
    repository = CaseRepository(session)
    alert_repository = AlertRepository(session)
    before_alerts = list(alert_repository.in_case(case.id))
    before_subjects = repository.subject_keys(case.id)
    before = case_state(case, [alert.id for alert in before_alerts], before_subjects)

    overlap = set(request.add_alert_ids) & set(request.remove_alert_ids)
    if overlap:
        raise ServiceError("an alert cannot be added and removed at once", 422, sorted(overlap))
    added = _load_alerts(session, request.add_alert_ids) if request.add_alert_ids else []
    _claim(added, case.id, repository)
    # One flush at the end: the case and each alert it touches move up exactly one version.
    with session.no_autoflush:
        for alert in added:
            alert.case_id = case.id
            alert.updated_at = now
        removed_ids = set(request.remove_alert_ids)
        for alert in before_alerts:
            if alert.id in removed_ids:
                alert.case_id = None
                alert.updated_at = now
        kept = [alert for alert in before_alerts if alert.id not in removed_ids]
        alerts = kept + [alert for alert in added if alert not in kept]
        if not alerts:
            raise ServiceError("a case keeps at least one alert", 422)
        if request.title is not None:
            case.title = request.title
        if request.narrative is not None:
            case.narrative = request.narrative
        if request.suspicion_determined_at is not None:
            case.suspicion_determined_at = request.suspicion_determined_at
        repository.add_subjects(
            case.id, sorted({a.subject_key for a in added} | set(request.add_subject_keys)), now
        )
        repository.remove_subjects(case.id, request.remove_subject_keys)
        case.subject_identified = any(alert.subject_identified for alert in alerts)
        propagated = _propagate_suspicion(case, alerts, now)
        _refresh_case_deadline(case, alerts)
        case.updated_at = now
    flush_versioned(session)
    audit.record(
        session,
        principal=principal,
        action="case.update",
        entity_type=EntityType.CASE.value,
        entity_id=case.id,
        before=before,
        after={
            **case_state(case, [alert.id for alert in alerts], repository.subject_keys(case.id)),
            "alerts_clock_started": propagated,
        },
    )
    return case


def transition_case(
    session: Session,
    *,
    principal: Principal,
    case_id: int,
    request: TransitionRequest,
    precondition: Precondition,
    second_approval_score: float | None = None,
) -> Moved:
    """Moves a case along the lifecycle; FILED and CLOSED carry over to its open alerts.

    Four eyes as for alerts (``services.alerts.approvals``); a case's score is the highest of
    its alerts', so closing a case is no way around an alert's second approval.
    """
    case = _load_case_for_write(session, principal, case_id)
    check(precondition, case.version)
    repository = CaseRepository(session)
    alerts = list(AlertRepository(session).in_case(case.id))
    subject_keys = repository.subject_keys(case.id)
    before = case_state(case, [alert.id for alert in alerts], subject_keys)
    now = utc_now()
    check_transition(AlertStatus(case.status), request, principal=principal, now=now)
    entity_type = EntityType.CASE.value
    approvals.check_filing_decider(
        session,
        entity_type=entity_type,
        entity_id=case.id,
        current=case.status,
        principal=principal,
    )
    scores = [alert.score for alert in alerts if alert.score is not None]
    awaiting = approvals.second_approval(
        session,
        entity_type=entity_type,
        entity_id=case.id,
        principal=principal,
        request=request,
        state=before,
        score=max(scores) if scores else None,
        threshold=second_approval_score,
    )
    if awaiting is not None:
        return Moved(case, awaiting)
    apply_transition(case, request, principal=principal, now=now)
    cascaded: list[dict[str, Any]] = []
    if AlertStatus(case.status) in TERMINAL_STATUSES:
        for alert in alerts:
            previous = alert.status
            if cascade_decision(alert, case, now):
                if request.typology is not None:
                    # The case's decision names the typology of every alert it decides.
                    alert.investigator_typology = request.typology
                cascaded.append({"alert_id": alert.id, "from": previous, "to": alert.status})
    propagated = _propagate_suspicion(case, alerts, now)
    _refresh_case_deadline(case, alerts)
    flush_versioned(session)
    audit.record(
        session,
        principal=principal,
        action="case.transition",
        entity_type=entity_type,
        entity_id=case.id,
        before=before,
        after={
            **case_state(case, [alert.id for alert in alerts], subject_keys),
            "alerts_decided": cascaded,
            "alerts_clock_started": propagated,
        },
    )
    return Moved(case)


def assign_case(
    session: Session,
    *,
    principal: Principal,
    case_id: int,
    request: AssignmentRequest,
    precondition: Precondition,
) -> Case:
    """Assigns a case to an investigator (or unassigns it)."""
    case = _load_case_for_write(session, principal, case_id)
    check(precondition, case.version)
    repository = CaseRepository(session)
    alert_ids = repository.alert_ids(case.id)
    subject_keys = repository.subject_keys(case.id)
    before = case_state(case, alert_ids, subject_keys)
    case.assignee = request.assignee
    case.updated_at = utc_now()
    flush_versioned(session)
    audit.record(
        session,
        principal=principal,
        action="case.assign",
        entity_type=EntityType.CASE.value,
        entity_id=case.id,
        before=before,
        after=case_state(case, alert_ids, subject_keys),
    )
    return case


def list_cases(
    session: Session,
    *,
    principal: Principal,
    status: Sequence[AlertStatus] = (),
    assignee: str | None = None,
    jurisdiction: str | None = None,
    subject_key: str | None = None,
    deadline_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Case], str | None]:
    """Returns a page of cases, newest first, and the next cursor."""
    authorize_read(principal)
    position = cursor_codec.decode(cursor, "-created_at") if cursor else None
    rows = CaseRepository(session).page(
        status=[item.value for item in status],
        assignee=assignee,
        jurisdiction=jurisdiction,
        subject_key=subject_key,
        deadline_before=deadline_before,
        cursor=position,
        limit=limit + 1,
    )
    page = list(rows[:limit])
    next_cursor = None
    if len(rows) > limit and page:
        next_cursor = cursor_codec.encode("-created_at", page[-1].created_at, page[-1].id)
    return page, next_cursor


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: datetime
    kind: str
    actor: str | None
    summary: str
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: Case
    alerts: list[Alert]
    subjects: list[SubjectSummaryData]
    reports: list[Report]
    timeline: list[TimelineItem]


def load_case(session: Session, case_id: int) -> tuple[Case, list[Alert], list[str]]:
    """Returns a case, its alerts and its subject keys (no authorization: for services)."""
    case = CaseRepository(session).get(case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    alerts = list(AlertRepository(session).in_case(case.id))
    return case, alerts, CaseRepository(session).subject_keys(case.id)


def get_case(session: Session, *, principal: Principal, case_id: int) -> CaseDetail:
    """Returns a case with its alerts, subjects, transactions and timeline."""
    authorize_read(principal)
    case, alerts, subject_keys = load_case(session, case_id)
    reports = CaseRepository(session).reports_of_alerts(alerts)
    return CaseDetail(
        case=case,
        alerts=alerts,
        subjects=[summary(session, key) for key in subject_keys],
        reports=reports,
        timeline=_timeline(session, case, alerts, reports),
    )


def describe_amount(report: Report) -> str | None:
    if report.amount_minor is None or report.currency is None:
        return None
    return Money(report.amount_minor, report.currency).format()


def _timeline(
    session: Session, case: Case, alerts: Sequence[Alert], reports: Sequence[Report]
) -> list[TimelineItem]:
    """What happened (transactions), what was seen (alerts) and what was done (audit)."""
    items: list[TimelineItem] = []
    for report in reports:
        amount = describe_amount(report)
        items.append(
            TimelineItem(
                at=report.txn_at or report.filed_at,
                kind="transaction" if report.txn_at else "report",
                actor=None,
                summary=" ".join(
                    part
                    for part in (
                        report.report_type,
                        report.instrument,
                        report.direction,
                        f"{amount} {report.currency}" if amount else None,
                        f"account {report.account_id}" if report.account_id else None,
                    )
                    if part
                ),
                data={"institution_id": report.institution_id, "report_id": report.report_id},
            )
        )
    for alert in alerts:
        items.append(
            TimelineItem(
                at=alert.created_at,
                kind="alert.raised",
                actor=None,
                summary=f"alert {alert.id} score {alert.score:.2f}"
                + (f" ({alert.typology})" if alert.typology else ""),
                data={"alert_id": alert.id, "reasons": alert.reasons},
            )
        )
    entities = [(EntityType.CASE.value, str(case.id))] + [
        (EntityType.ALERT.value, str(alert.id)) for alert in alerts
    ]
    for event in AuditRepository(session).for_entities(entities):
        status = (event.after or {}).get("status")
        text = (event.after or {}).get("text")
        items.append(
            TimelineItem(
                at=event.at,
                kind=event.action,
                actor=event.actor,
                summary=f"{event.entity_type} {event.entity_id} {event.action}"
                + (f" → {status}" if status else "")
                + (f": {text}" if isinstance(text, str) else ""),
                data={"before": event.before, "after": event.after},
            )
        )
    if case.suspicion_determined_at is not None:
        items.append(
            TimelineItem(
                at=case.suspicion_determined_at,
                kind="suspicion.determined",
                actor=None,
                summary="suspicion determined: the SAR clock starts",
                data=None,
            )
        )
    return sorted(items, key=lambda item: item.at)


def add_note(session: Session, *, principal: Principal, case_id: int, text: str) -> Note:
    """Appends a note to a case (notes change no state, so no version is needed)."""
    authorize_write(principal)
    if CaseRepository(session).get(case_id) is None:
        raise NotFound(f"{EntityType.CASE.value} {case_id} not found")
    return append_note(
        session, principal=principal, entity_type=EntityType.CASE, entity_id=case_id, text=text
    )
