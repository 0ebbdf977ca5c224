"""Optimistic concurrency for versioned entities (alerts, cases): ETag and version checks.

Every read returns the entity's ``version`` (and an ``ETag: "<version>"``); every write must
say which version it was based on, with ``If-Match: "<version>"`` or a ``version`` field. A
stale If-Match is ``412 Precondition Failed``, a stale body version ``409 Conflict``, and a
write that names no version at all is ``428 Precondition Required``: two investigators can
never silently overwrite each other. The check is enforced twice: here against the row just
read, and by the ORM's ``version_id_col`` in the UPDATE itself (for the race between the two).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.errors import ServiceError

_ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')


class PreconditionFailed(ServiceError):
    def __init__(self, current: int) -> None:
        super().__init__(
            f"If-Match does not match the current version {current}: reload and retry",
            412,
            {"current_version": current},
        )


class VersionConflict(ServiceError):
    def __init__(self, current: int | None) -> None:
        super().__init__(
            "the entity was changed by someone else: reload and retry",
            409,
            {"current_version": current},
        )


@dataclass(frozen=True, slots=True)
class Precondition:
    version: int
    from_header: bool


def etag(version: int) -> str:
    """Returns the strong ETag of a version."""
    return f'"{version}"'


def precondition(if_match: str | None, body_version: int | None) -> Precondition:
    """Returns the version a write is based on.

    Raises:
        ServiceError: 428 when no version is given, 400 when If-Match is not one of ours,
            422 when If-Match and ``version`` disagree.
    """
    if if_match is not None:
        match = _ETAG.match(if_match.strip())
        if match is None:
            raise ServiceError('If-Match must be an ETag of this API, e.g. "3"', 400)
        version = int(match.group(1))
        if body_version is not None and body_version != version:
            raise ServiceError("If-Match and version disagree", 422)
        return Precondition(version=version, from_header=True)
    if body_version is not None:
        return Precondition(version=body_version, from_header=False)
    raise ServiceError(
        "say which version you are changing: If-Match header or a version field", 428
    )


def check(pre: Precondition, current: int) -> None:
    """Raises PreconditionFailed (If-Match) or VersionConflict (body) when stale."""
    if pre.version != current:
        if pre.from_header:
            raise PreconditionFailed(current)
        raise VersionConflict(current)
