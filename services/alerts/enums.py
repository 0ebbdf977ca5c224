"""Closed vocabularies of the investigation workflow (DOMAIN.md §4)."""

from enum import StrEnum


class AlertStatus(StrEnum):
    """Where an alert (or a case) stands; the lifecycle is in ``services.alerts.lifecycle``."""

    NEW = "NEW"
    TRIAGE = "TRIAGE"
    INVESTIGATING = "INVESTIGATING"
    INFO_REQUESTED = "INFO_REQUESTED"
    ESCALATED = "ESCALATED"
    PENDING_FILING_DECISION = "PENDING_FILING_DECISION"
    FILED = "FILED"
    CLOSED = "CLOSED"


TERMINAL_STATUSES = frozenset({AlertStatus.FILED, AlertStatus.CLOSED})
OPEN_STATUSES = frozenset(AlertStatus) - TERMINAL_STATUSES


class Disposition(StrEnum):
    """Why an alert or case was closed without a filing."""

    FALSE_POSITIVE = "FALSE_POSITIVE"
    EXPLAINED_LEGITIMATE = "EXPLAINED_LEGITIMATE"
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT_EVIDENCE"
    DUPLICATE = "DUPLICATE"


class DeadlineKind(StrEnum):
    """Which regulatory clock an alert or case runs against (DOMAIN.md §4.2)."""

    US_SAR = "US_SAR"
    US_CTR = "US_CTR"
    MX_ROI = "MX_ROI"


class EntityType(StrEnum):
    """What an audit event or a note is about."""

    ALERT = "alert"
    CASE = "case"
    REPORT_EXPORT = "report_export"
