"""States of a stored report."""

from enum import StrEnum


class ReportStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
