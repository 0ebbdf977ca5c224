from enum import StrEnum


class Role(StrEnum):
    REPORTER = "reporter"
    INVESTIGATOR = "investigator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


# Roles that may read alerts, cases and filings (no tipping off: never reporters).
INVESTIGATIVE_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})
