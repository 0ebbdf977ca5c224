"""Report intake and read-back: the rules, independent of HTTP and Kafka."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from refdata.wire import ReportV1, describe_errors
from services.auth.enums import Role
from services.auth.service import Principal
from services.errors import Forbidden, NotFound, ServiceError
from services.kit.time import utc_now
from services.reports.enums import ReportStatus
from services.reports.orm import Report
from services.reports.repository import ReportKey, ReportRepository


class ReportPublisher(Protocol):
    """Puts validated reports on the reports topic; returns only once the broker acked."""

    def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None: ...


class PublishFailed(ServiceError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the broker did not acknowledge the reports: {reason}", 503)


@dataclass(frozen=True, slots=True)
class SourcePosition:
    topic: str
    partition: int
    offset: int
    # The Kafka record timestamp (ms since the epoch), for produce-to-alert latency.
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class IncomingReport:
    """A validated report and where it was read from.

    ``document`` (the report as canonical JSON values) and ``digest`` (its content hash) are
    computed once, on first use: the store, the content check and detection all read them.
    """

    report: ReportV1
    source: SourcePosition | None = None
    _document: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _canonical: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def key(self) -> ReportKey:
        return (self.report.institution_id, self.report.report_id)

    @property
    def document(self) -> dict[str, Any]:
        """``report.model_dump(mode="json")``, computed once (treat it as read-only)."""
        document = self._document
        if document is None:
            document = self.report.model_dump(mode="json")
            object.__setattr__(self, "_document", document)
        return document

    @property
    def canonical(self) -> bytes:
        """:attr:`document` as canonical JSON (sorted keys): what is hashed and stored."""
        canonical = self._canonical
        if canonical is None:
            canonical = canonical_json(self.document)
            object.__setattr__(self, "_canonical", canonical)
        return canonical

    @property
    def digest(self) -> str:
        """The content hash (``content_digest`` of :attr:`document`), computed once."""
        digest = self._digest
        if digest is None:
            digest = hashlib.sha256(self.canonical).hexdigest()
            object.__setattr__(self, "_digest", digest)
        return digest


@dataclass(frozen=True, slots=True)
class Assessment:
    """Detection's verdict on a new report, stored with it in the same row."""

    score: float
    reasons: list[str]


@dataclass(slots=True)
class PersistOutcome:
    inserted: list[IncomingReport] = field(default_factory=list)
    duplicates: list[IncomingReport] = field(default_factory=list)
    conflicts: list[IncomingReport] = field(default_factory=list)


_RECEIVED = ReportStatus.RECEIVED.value
_PROCESSED = ReportStatus.PROCESSED.value
_NO_TRANSACTION: tuple[None, ...] = (None,) * 9


def _row(
    item: IncomingReport,
    received_at: datetime,
    assessment: Assessment | None,
    processed_at: datetime,
) -> tuple[Any, ...]:
    """One ``reports`` row, in ``REPORT_COLUMNS`` order.

    ``document`` is the canonical JSON text (the stored key order is the canonical one).
    """
    report = item.report
    txn = report.transaction
    source = item.source
    if txn is None:
        transaction: tuple[Any, ...] = _NO_TRANSACTION
    else:
        counterparty = txn.counterparty
        transaction = (
            txn.transaction_id,
            txn.timestamp,
            txn.amount_minor,
            txn.currency,
            txn.instrument._value_,
            txn.direction._value_,
            txn.account_id,
            counterparty.account_id if counterparty else None,
            counterparty.country if counterparty else None,
        )
    if assessment is None:
        verdict: tuple[Any, ...] = (None, None, None)
    else:
        verdict = (assessment.score, orjson.dumps(assessment.reasons).decode(), processed_at)
    return (
        report.institution_id,
        report.report_id,
        report.report_type._value_,
        report.jurisdiction._value_,
        report.filed_at,
        report.subject_key,
        report.subject.subject_id,
        *transaction,
        item.canonical.decode(),
        item.digest,
        _RECEIVED if assessment is None else _PROCESSED,
        received_at,
        source.topic if source else None,
        source.partition if source else None,
        source.offset if source else None,
        *verdict,
    )


def canonical_json(document: dict[str, Any]) -> bytes:
    """The canonical JSON of a validated report document (sorted keys, compact)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def content_digest(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a validated report document."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(slots=True)
class Classified:
    """A batch sorted against itself and the store, before anything is written."""

    new: list[IncomingReport] = field(default_factory=list)
    duplicates: list[IncomingReport] = field(default_factory=list)
    conflicts: list[IncomingReport] = field(default_factory=list)


def _within_batch(items: Sequence[IncomingReport]) -> Classified:
    """The first report of each key is a candidate; a later one is a duplicate or a conflict."""
    batch = Classified()
    first_seen: dict[ReportKey, str] = {}
    for item in items:
        sha = item.digest
        seen = first_seen.get(item.key)
        if seen is None:
            first_seen[item.key] = sha
            batch.new.append(item)
        elif seen == sha:
            batch.duplicates.append(item)
        else:
            batch.conflicts.append(item)
    return batch


def classify(session: Session, items: Sequence[IncomingReport]) -> Classified:
    """Sorts a batch into new reports, identical redeliveries and conflicting reuses of an id.

    A different report that reuses an (institution_id, report_id) already stored, or seen
    earlier in the same batch, is a conflict and is never written over the first one.
    """
    batch = _within_batch(items)
    if not batch.new:
        return batch
    stored = ReportRepository(session).content_hashes(item.key for item in batch.new)
    candidates, batch.new = batch.new, []
    for item in candidates:
        known = stored.get(item.key)
        if known is None:
            batch.new.append(item)
        elif known == item.digest:
            batch.duplicates.append(item)
        else:
            batch.conflicts.append(item)
    return batch


def store_classified(
    session: Session, batch: Classified, assessments: Sequence[Assessment]
) -> PersistOutcome:
    """Writes the new reports of a classified batch once each, with their assessment.

    Each row carries its score, reasons and ``status="processed"``: no second write of the
    rows. The insert still ignores keys that appeared since :func:`classify` (another worker
    after a rebalance); those are classified again and are not in ``inserted``, so whatever
    was prepared for them (alerts) must be dropped.
    """
    if len(assessments) != len(batch.new):
        raise ValueError("one assessment per new report is required")
    outcome = PersistOutcome(duplicates=list(batch.duplicates), conflicts=list(batch.conflicts))
    _insert(session, batch.new, assessments, outcome, checked=True)
    return outcome


def persist_reports(session: Session, items: Sequence[IncomingReport]) -> PersistOutcome:
    """Stores new reports exactly once, unassessed (``status="received"``).

    A redelivered identical report is a duplicate and changes nothing; a conflicting reuse of
    an id (:func:`classify`) is never written over the first report.
    """
    batch = _within_batch(items)
    outcome = PersistOutcome(duplicates=batch.duplicates, conflicts=batch.conflicts)
    _insert(session, batch.new, [None] * len(batch.new), outcome, checked=False)
    return outcome


def _insert(
    session: Session,
    candidates: list[IncomingReport],
    assessments: Sequence[Assessment | None],
    outcome: PersistOutcome,
    *,
    checked: bool,
) -> None:
    """Inserts the candidates, sorts out those stored meanwhile, links their identifiers."""
    repository = ReportRepository(session)
    now = utc_now()
    processed_at = utc_now() if checked else now
    rows = [
        _row(item, now, assessment, processed_at)
        for item, assessment in zip(candidates, assessments, strict=True)
    ]
    # Classified rows are expected to be new: they are copied straight into the table.
    inserted = repository.insert_new(rows, expect_new=checked)
    if len(inserted) == len(candidates):
        outcome.inserted = candidates
    else:
        not_inserted = [item for item in candidates if item.key not in inserted]
        stored = repository.content_hashes(item.key for item in not_inserted)
        for item in not_inserted:
            if stored.get(item.key) == item.digest:
                outcome.duplicates.append(item)
            else:
                outcome.conflicts.append(item)
        outcome.inserted = [item for item in candidates if item.key in inserted]

    links = {
        (identifier.digest, item.report.subject_key): identifier
        for item in outcome.inserted
        for identifier in item.report.subject.identifiers
    }
    repository.link_identifiers(
        [
            (digest, identifier.type.value, identifier.country, subject_key)
            for (digest, subject_key), identifier in links.items()
        ]
    )


@dataclass(slots=True)
class IngestResult:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


SUBMITTING_ROLES = frozenset({Role.REPORTER, Role.ADMIN})


def ingest(
    items: Sequence[Any], *, principal: Principal, publisher: ReportPublisher
) -> IngestResult:
    """Validates submitted reports and publishes the valid ones to the reports topic.

    Raises:
        Forbidden: the caller may not submit, or submits for another institution.
        ServiceError: 422 when no item is valid; 503 when the broker does not acknowledge.
    """
    if principal.role not in SUBMITTING_ROLES:
        raise Forbidden(f"role {principal.role} cannot submit reports")
    result = IngestResult()
    valid: list[ReportV1] = []
    for index, item in enumerate(items):
        try:
            report = ReportV1.model_validate(item)
        except ValidationError as error:
            result.rejected.append({"index": index, "errors": describe_errors(error)})
            continue
        if principal.role is Role.REPORTER and report.institution_id != principal.institution_id:
            raise Forbidden(
                f"item {index}: a reporter of {principal.institution_id} cannot submit reports"
                f" of {report.institution_id}"
            )
        valid.append(report)
        result.accepted.append(
            {"index": index, "institution_id": report.institution_id, "report_id": report.report_id}
        )
    if not valid:
        raise ServiceError("no valid report in the request", 422, {"rejected": result.rejected})
    publisher.publish(
        [(report.subject_key.encode(), report.model_dump_json().encode()) for report in valid]
    )
    return result


def get_report(
    session: Session, *, principal: Principal, institution_id: str, report_id: str
) -> Report:
    """Returns one stored report, if the caller may read it."""
    if principal.role is Role.REPORTER and principal.institution_id != institution_id:
        raise Forbidden("a reporter can read only its own institution's reports")
    report = ReportRepository(session).get(institution_id, report_id)
    if report is None:
        raise NotFound(
            "report not found (it may still be queued: reports are stored once the worker"
            " has read them from the broker)"
        )
    return report
