"""Report intake and read-back: the rules, independent of HTTP and Kafka."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.auth.enums import Role
from services.auth.service import Principal
from services.errors import Forbidden, NotFound, ServiceError
from services.kit.time import utc_now
from services.reports.enums import ReportStatus
from services.reports.orm import Report
from services.reports.repository import ReportKey, ReportRepository
from services.reports.wire import ReportV1, describe_errors, identifier_digest


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


@dataclass(frozen=True, slots=True)
class IncomingReport:
    """A validated report and where it was read from."""

    report: ReportV1
    source: SourcePosition | None = None

    @property
    def key(self) -> ReportKey:
        return (self.report.institution_id, self.report.report_id)


@dataclass(slots=True)
class PersistOutcome:
    inserted: list[IncomingReport] = field(default_factory=list)
    duplicates: list[IncomingReport] = field(default_factory=list)
    conflicts: list[IncomingReport] = field(default_factory=list)


def _row(item: IncomingReport, document: dict[str, Any], sha: str) -> dict[str, Any]:
    report = item.report
    txn = report.transaction
    counterparty = txn.counterparty if txn else None
    return {
        "institution_id": report.institution_id,
        "report_id": report.report_id,
        "report_type": report.report_type.value,
        "jurisdiction": report.jurisdiction.value,
        "filed_at": report.filed_at,
        "subject_key": report.subject_key,
        "subject_id": report.subject.subject_id,
        "transaction_id": txn.transaction_id if txn else None,
        "txn_at": txn.timestamp if txn else None,
        "amount_minor": txn.amount_minor if txn else None,
        "currency": txn.currency if txn else None,
        "instrument": txn.instrument.value if txn else None,
        "direction": txn.direction.value if txn else None,
        "account_id": txn.account_id if txn else None,
        "counterparty_account_id": counterparty.account_id if counterparty else None,
        "counterparty_country": counterparty.country if counterparty else None,
        "document": document,
        "content_sha256": sha,
        "status": ReportStatus.RECEIVED.value,
        "received_at": utc_now(),
        "source_topic": item.source.topic if item.source else None,
        "source_partition": item.source.partition if item.source else None,
        "source_offset": item.source.offset if item.source else None,
    }


def content_digest(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a validated report document."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def persist_reports(session: Session, items: Sequence[IncomingReport]) -> PersistOutcome:
    """Stores new reports exactly once.

    A redelivered identical report is a duplicate and changes nothing; a different report that
    reuses an (institution_id, report_id) already stored, or seen earlier in the same batch,
    is a conflict and is never written over the first one.
    """
    outcome = PersistOutcome()
    repository = ReportRepository(session)
    first_seen: dict[ReportKey, str] = {}
    candidates: list[tuple[IncomingReport, dict[str, Any]]] = []
    for item in items:
        document = item.report.model_dump(mode="json")
        sha = content_digest(document)
        seen = first_seen.get(item.key)
        if seen is None:
            first_seen[item.key] = sha
            candidates.append((item, _row(item, document, sha)))
        elif seen == sha:
            outcome.duplicates.append(item)
        else:
            outcome.conflicts.append(item)

    inserted = repository.insert_new([row for _, row in candidates])
    not_inserted = [(item, row) for item, row in candidates if item.key not in inserted]
    stored = repository.content_hashes(item.key for item, _ in not_inserted)
    for item, row in not_inserted:
        if stored.get(item.key) == row["content_sha256"]:
            outcome.duplicates.append(item)
        else:
            outcome.conflicts.append(item)
    outcome.inserted = [item for item, _ in candidates if item.key in inserted]

    links = {
        (identifier_digest(identifier), item.report.subject_key): identifier
        for item in outcome.inserted
        for identifier in item.report.subject.identifiers
    }
    repository.link_identifiers(
        [
            {
                "digest": digest,
                "subject_key": subject_key,
                "id_type": identifier.type.value,
                "country": identifier.country,
            }
            for (digest, subject_key), identifier in links.items()
        ]
    )
    return outcome


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
