"""Alerts: raised by detection, worked by investigators, turned into training labels.

``raise_alerts`` and ``alert_to_message`` are the interface the worker calls inside its batch
transaction; everything else serves the API. Every API write here appends exactly one audit
event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from services.alerts import approvals
from services.alerts.approvals import SecondApproval
from services.alerts.deadlines import DEFAULT_POLICY, DeadlinePolicy, alert_deadline
from services.alerts.enums import AlertStatus, EntityType
from services.alerts.lifecycle import apply_transition, authorize_write, check_transition
from services.alerts.orm import Alert, AlertReport, Note
from services.alerts.repository import SUMMARY_COLUMNS, AlertKey, AlertRepository
from services.alerts.schemas import (
    AlertCreate,
    AlertFilter,
    AlertSort,
    AssignmentRequest,
    TransitionRequest,
)
from services.alerts.subjects import (
    SubjectSummaryData,
    index_subject_names,
    name_rows,
    subject_is_identified,
    summary,
)
from services.audit import service as audit
from services.audit.repository import AuditRepository
from services.auth.enums import INVESTIGATIVE_ROLES
from services.auth.service import Principal
from services.errors import Conflict, Forbidden, NotFound
from services.kit import cursor as cursor_codec
from services.kit.concurrency import Precondition, VersionConflict, check
from services.kit.time import utc_now
from services.reports.orm import Report
from services.watchlists.schemas import SubjectMatchRead
from services.watchlists.views import subject_matches

ALERT_MESSAGE_VERSION = 1
SUMMARY_FIELDS = tuple(column.key for column in SUMMARY_COLUMNS)


def _aware(value: datetime | None) -> datetime | None:
    # Polars and pandas hand over naive UTC timestamps; everything stored is aware UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def raise_alerts(
    session: Session, alerts: Sequence[AlertCreate], *, policy: DeadlinePolicy = DEFAULT_POLICY
) -> list[Alert]:
    """Stores alerts, idempotently on (institution_id, report_id); flushes, never commits.

    A redelivered report never creates a second alert: the alert already stored is returned
    unchanged. The result holds the stored alert of every distinct input key, new or not, in
    input order, so a redelivered batch can republish its alerts (at-least-once on
    ``aml.alerts``, consumers dedupe on ``alert_id``).
    """
    unique: dict[AlertKey, AlertCreate] = {}
    for item in alerts:
        unique.setdefault((item.institution_id, item.report_id), item)
    if not unique:
        return []
    repository = AlertRepository(session)
    keys = list(unique)
    reports = repository.reports_by_keys(keys)
    now = utc_now()
    rows: list[dict[str, Any]] = []
    names: list[dict[str, Any]] = []
    for key in keys:
        item = unique[key]
        stored = reports.get(key)
        subject = stored.subject if stored else None
        identified = subject_is_identified(subject) if stored else True
        transaction_at = _aware(item.transaction_at) or (stored.txn_at if stored else None)
        deadline = alert_deadline(
            jurisdiction=item.jurisdiction,
            report_type=item.report_type,
            created_at=now,
            transaction_at=transaction_at,
            suspicion_determined_at=None,
            subject_identified=identified,
            policy=policy,
        )
        rows.append(
            {
                "institution_id": item.institution_id,
                "report_id": item.report_id,
                "report_pk": item.report_pk
                if item.report_pk is not None
                else (stored.pk if stored else None),
                "subject_key": item.subject_key,
                "subject_identified": identified,
                "jurisdiction": item.jurisdiction,
                "report_type": item.report_type,
                "score": float(item.score),
                "model_version": item.model_version,
                "rule_hits": item.rule_hits,
                "typology": item.typology,
                "reasons": item.reasons,
                "features": item.features,
                "source_topic": item.source_topic,
                "source_partition": item.source_partition,
                "source_offset": item.source_offset,
                "transaction_at": transaction_at,
                "status": AlertStatus.NEW.value,
                "created_at": now,
                "updated_at": now,
                "deadline_kind": deadline.kind.value if deadline.kind else None,
                "deadline_at": deadline.at,
                "version": 1,
                "report_count": 1,
                "last_report_at": transaction_at,
                "threshold": item.threshold,
                "threshold_version": item.threshold_version,
                "opened_for": _aware(item.opened_for),
            }
        )
        names.extend(name_rows(item.subject_key, subject))
    repository.insert_new(rows)
    index_subject_names(session, names)
    found = repository.by_keys(keys)
    return [found[key] for key in keys if key in found]


def alert_to_message(alert: Alert, event: str | None = None) -> bytes:
    """Returns the JSON message of an alert for the ``aml.alerts`` topic (no identifiers).

    ``event``: "opened" or "updated" (``services.alerts.flows.Routed.events``); by default,
    "opened" while the alert holds one report.
    """
    return orjson.dumps(
        {
            "schema_version": ALERT_MESSAGE_VERSION,
            "alert_id": alert.id,
            "institution_id": alert.institution_id,
            "report_id": alert.report_id,
            "subject_key": alert.subject_key,
            "jurisdiction": alert.jurisdiction,
            "report_type": alert.report_type,
            "score": alert.score,
            "model_version": alert.model_version,
            "rule_hits": alert.rule_hits,
            "typology": alert.typology,
            "reasons": alert.reasons,
            "status": alert.status,
            "created_at": alert.created_at.isoformat(),
            "updated_at": alert.updated_at.isoformat(),
            # "opened" for a new alert, "updated" when a report joined it materially.
            "event": event or ("opened" if (alert.report_count or 1) <= 1 else "updated"),
            "report_count": alert.report_count or 1,
            "threshold": alert.threshold,
            "threshold_version": alert.threshold_version,
            "deadline_kind": alert.deadline_kind,
            "deadline_at": alert.deadline_at.isoformat() if alert.deadline_at else None,
            "source": {
                "topic": alert.source_topic,
                "partition": alert.source_partition,
                "offset": alert.source_offset,
            },
        },
        option=orjson.OPT_SORT_KEYS,
    )


def labelled_outcomes(session: Session) -> list[dict[str, Any]]:
    """Returns training labels from investigators' decisions, one row per report decided.

    ``confirmed``: the alert was filed (a SAR/ROI went out). ``false_positive``: closed as
    FALSE_POSITIVE or EXPLAINED_LEGITIMATE. INSUFFICIENT_EVIDENCE and DUPLICATE say nothing
    about laundering and give no label; open alerts give none either. The decision labels
    every report of the alert's episode. ``typology`` is the investigator's (None when they
    gave none: the model's own guess, ``model_typology``, is never taken as a label).
    """
    repository = AlertRepository(session)
    rows = [
        row
        for row in repository.labelled()
        if AlertRepository.label_of(row.status, row.disposition) is not None
    ]
    links: dict[int, list[AlertReport]] = {}
    for link in repository.links_of([row.id for row in rows]):
        links.setdefault(link.alert_id, []).append(link)
    outcomes: list[dict[str, Any]] = []
    for row in rows:
        label = AlertRepository.label_of(row.status, row.disposition)
        reports = [
            (link.institution_id, link.report_id, link.report_pk) for link in links.get(row.id, [])
        ] or [(row.institution_id, row.report_id, row.report_pk)]
        for institution_id, report_id, report_pk in reports:
            outcomes.append(
                {
                    "alert_id": row.id,
                    "institution_id": institution_id,
                    "report_id": report_id,
                    "report_pk": report_pk,
                    "subject_key": row.subject_key,
                    "label": label,
                    "status": row.status,
                    "disposition": row.disposition,
                    "typology": row.investigator_typology,
                    "model_typology": row.typology,
                    "model_version": row.model_version,
                    "score": row.score,
                    "decided_at": row.decided_at,
                }
            )
    return outcomes


# -- API ----------------------------------------------------------------------------------


def authorize_read(principal: Principal) -> None:
    """Raises Forbidden unless the caller may read alerts (no tipping off: never reporters)."""
    if principal.role not in INVESTIGATIVE_ROLES:
        raise Forbidden("alerts are for investigators, supervisors, auditors and admins")


def list_alerts(
    session: Session,
    *,
    principal: Principal,
    filters: AlertFilter,
    sort: AlertSort = AlertSort.CREATED_DESC,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Returns a page of the queue (plain dicts: the hot path skips the ORM) and the next cursor."""
    authorize_read(principal)
    position = cursor_codec.decode(cursor, sort.value) if cursor else None
    rows = AlertRepository(session).page(filters, sort, position, limit + 1)
    items = [dict(zip(SUMMARY_FIELDS, row, strict=True)) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        sort_key = sort.value.lstrip("-")
        next_cursor = cursor_codec.encode(sort.value, last[sort_key], last["id"])
    return items, next_cursor


@dataclass(frozen=True, slots=True)
class HistoryItem:
    at: datetime
    kind: str
    actor: str | None
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AlertDetail:
    alert: Alert
    report: Report | None
    subject: SubjectSummaryData | None
    history: list[HistoryItem]
    watchlist_matches: list[SubjectMatchRead] = field(default_factory=list)
    episode: Sequence[AlertReport] = ()


def get_alert(session: Session, *, principal: Principal, alert_id: int) -> AlertDetail:
    """Returns an alert with its report, subject summary and history."""
    authorize_read(principal)
    repository = AlertRepository(session)
    alert = repository.get(alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return AlertDetail(
        alert=alert,
        report=repository.report_of(alert),
        subject=summary(session, alert.subject_key),
        history=history_of(session, alert),
        watchlist_matches=subject_matches(session, [alert.subject_key]),
        episode=repository.links_of([alert.id]),
    )


def episode_reports(session: Session, alert: Alert) -> list[Report]:
    """The stored reports the alert gathers (its episode), oldest transaction first."""
    return AlertRepository(session).reports_of_episode(alert)


def history_of(session: Session, alert: Alert) -> list[HistoryItem]:
    """Returns the alert's life: raised, then every audited change to it or to its case."""
    entities = [(EntityType.ALERT.value, str(alert.id))]
    if alert.case_id is not None:
        entities.append((EntityType.CASE.value, str(alert.case_id)))
    items = [
        HistoryItem(
            at=alert.created_at,
            kind="alert.raised",
            actor=None,
            entity_type=EntityType.ALERT.value,
            entity_id=str(alert.id),
            before=None,
            after={
                "score": alert.score,
                "model_version": alert.model_version,
                "typology": alert.typology,
            },
        )
    ]
    items.extend(
        HistoryItem(
            at=event.at,
            kind=event.action,
            actor=event.actor,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            before=event.before,
            after=event.after,
        )
        for event in AuditRepository(session).for_entities(entities)
    )
    return items


def alert_state(alert: Alert) -> dict[str, Any]:
    """The alert fields investigators change: the before/after of audit events."""
    return {
        "status": alert.status,
        "disposition": alert.disposition,
        "rationale": alert.rationale,
        "evidence": alert.evidence,
        "filing_reference": alert.filing_reference,
        "assignee": alert.assignee,
        "case_id": alert.case_id,
        "suspicion_determined_at": alert.suspicion_determined_at,
        "decided_at": alert.decided_at,
        "investigator_typology": alert.investigator_typology,
        "deadline_kind": alert.deadline_kind,
        "deadline_at": alert.deadline_at,
        "version": alert.version,
    }


def refresh_deadline(alert: Alert, policy: DeadlinePolicy = DEFAULT_POLICY) -> None:
    """Recomputes the alert's deadline from its current anchors."""
    deadline = alert_deadline(
        jurisdiction=alert.jurisdiction,
        report_type=alert.report_type,
        created_at=alert.created_at,
        transaction_at=alert.transaction_at,
        suspicion_determined_at=alert.suspicion_determined_at,
        subject_identified=alert.subject_identified,
        policy=policy,
    )
    alert.deadline_kind = deadline.kind.value if deadline.kind else None
    alert.deadline_at = deadline.at


def flush_versioned(session: Session) -> None:
    """Flushes; a lost race on a versioned row becomes a 409, never a silent overwrite."""
    try:
        session.flush()
    except StaleDataError:
        raise VersionConflict(None) from None


def _load_for_write(session: Session, principal: Principal, alert_id: int) -> Alert:
    authorize_write(principal)
    alert = AlertRepository(session).get(alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


@dataclass(frozen=True, slots=True)
class Moved:
    """The outcome of a transition request: the entity, moved unless a second person is
    needed (``awaiting`` then says why, and nothing was changed)."""

    entity: Any
    awaiting: SecondApproval | None = None


def transition_alert(
    session: Session,
    *,
    principal: Principal,
    alert_id: int,
    request: TransitionRequest,
    precondition: Precondition,
    second_approval_score: float | None = None,
) -> Moved:
    """Moves an alert along its lifecycle (see ``services.alerts.lifecycle``), four eyes
    where the law expects two people (``services.alerts.approvals``)."""
    alert = _load_for_write(session, principal, alert_id)
    check(precondition, alert.version)
    before = alert_state(alert)
    if AlertStatus(alert.status) is AlertStatus.CLOSED and request.to is not AlertStatus.CLOSED:
        # One open alert per subject and jurisdiction: a reopen while the subject's next
        # episode is open would make two (work the open one, it gathers the new reports).
        other = AlertRepository(session).other_open_alert(alert)
        if other is not None:
            raise Conflict(
                f"subject {alert.subject_key} already has open alert {other} in"
                f" {alert.jurisdiction}",
                {"open_alert_id": other},
            )
    now = utc_now()
    check_transition(AlertStatus(alert.status), request, principal=principal, now=now)
    entity_type = EntityType.ALERT.value
    approvals.check_filing_decider(
        session,
        entity_type=entity_type,
        entity_id=alert.id,
        current=alert.status,
        principal=principal,
    )
    awaiting = approvals.second_approval(
        session,
        entity_type=entity_type,
        entity_id=alert.id,
        principal=principal,
        request=request,
        state=before,
        score=alert.score,
        threshold=second_approval_score,
    )
    if awaiting is not None:
        return Moved(alert, awaiting)
    apply_transition(alert, request, principal=principal, now=now)
    if request.typology is not None:
        alert.investigator_typology = request.typology
    refresh_deadline(alert)
    flush_versioned(session)
    audit.record(
        session,
        principal=principal,
        action="alert.transition",
        entity_type=entity_type,
        entity_id=alert.id,
        before=before,
        after=alert_state(alert),
    )
    return Moved(alert)


def assign_alert(
    session: Session,
    *,
    principal: Principal,
    alert_id: int,
    request: AssignmentRequest,
    precondition: Precondition,
) -> Alert:
    """Assigns an alert to an investigator (or unassigns it with ``null``)."""
    alert = _load_for_write(session, principal, alert_id)
    check(precondition, alert.version)
    before = alert_state(alert)
    alert.assignee = request.assignee
    alert.updated_at = utc_now()
    flush_versioned(session)
    audit.record(
        session,
        principal=principal,
        action="alert.assign",
        entity_type=EntityType.ALERT.value,
        entity_id=alert.id,
        before=before,
        after=alert_state(alert),
    )
    return alert


def add_note(session: Session, *, principal: Principal, alert_id: int, text: str) -> Note:
    """Appends a note to an alert (notes change no state, so no version is needed)."""
    authorize_write(principal)
    if AlertRepository(session).get(alert_id) is None:
        raise NotFound(f"{EntityType.ALERT.value} {alert_id} not found")
    return append_note(
        session, principal=principal, entity_type=EntityType.ALERT, entity_id=alert_id, text=text
    )


def append_note(
    session: Session,
    *,
    principal: Principal,
    entity_type: EntityType,
    entity_id: int,
    text: str,
) -> Note:
    """Records a note on an alert or a case the caller found and may write (``add_note``,
    ``services.cases.service.add_note``), with its audit record."""
    note = AlertRepository(session).add_note(
        Note(
            entity_type=entity_type.value,
            entity_id=entity_id,
            author=principal.actor,
            body=text,
            created_at=utc_now(),
        )
    )
    audit.record(
        session,
        principal=principal,
        action=f"{entity_type.value}.note",
        entity_type=entity_type.value,
        entity_id=entity_id,
        before=None,
        after={"note_id": note.id, "text": text},
    )
    return note
