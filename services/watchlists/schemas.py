"""What the watchlist API reads and accepts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.watchlists.matching import Match
from services.watchlists.orm import WatchlistDismissal, WatchlistMatch


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    format: str
    source: str
    content_sha256: str
    loaded_at: datetime
    loaded_by: str
    entry_count: int
    added: int
    removed: int
    changed: int


class WatchlistRead(BaseModel):
    name: str
    current_version: int | None
    created_at: datetime
    versions: list[VersionRead]


class RescreenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    version_id: int
    status: str
    reports_total: int
    reports_done: int
    matches: int
    alerts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class WatchlistsRead(BaseModel):
    lists: list[WatchlistRead]
    rescreens: list[RescreenRead]


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What loading a list did (``services.watchlists.service.load_version``)."""

    watchlist: str
    version: int
    created: bool  # False: the file is the current version already
    entries: int
    added: int
    removed: int
    changed: int
    content_sha256: str
    rescreen_id: int | None


class LoadRead(BaseModel):
    watchlist: str
    version: int
    created: bool
    entries: int
    added: int
    removed: int
    changed: int
    content_sha256: str
    rescreen_id: int | None

    @classmethod
    def of(cls, outcome: LoadOutcome) -> LoadRead:
        return cls(
            watchlist=outcome.watchlist,
            version=outcome.version,
            created=outcome.created,
            entries=outcome.entries,
            added=outcome.added,
            removed=outcome.removed,
            changed=outcome.changed,
            content_sha256=outcome.content_sha256,
            rescreen_id=outcome.rescreen_id,
        )


class EntryRead(BaseModel):
    watchlist: str
    version: int
    key: str
    kind: str
    name: str
    aliases: list[dict[str, Any]]
    birth_dates: list[str]
    countries: list[str]
    programs: list[str]
    identifier_types: list[str]  # numbers stay out of API answers and logs


class SearchMatchRead(BaseModel):
    score: float
    strength: str
    fields: list[str]
    matched: dict[str, Any]
    entry: EntryRead

    @classmethod
    def of(cls, match: Match) -> SearchMatchRead:
        entry = match.entry
        matched = {key: value for key, value in match.matched.items() if key != "role"}
        return cls(
            score=match.score,
            strength=match.strength.value,
            fields=list(match.matched.get("fields", [])),
            matched=matched,
            entry=EntryRead(
                watchlist=match.indexed.watchlist,
                version=match.indexed.version,
                key=entry.key,
                kind=entry.kind.value,
                name=entry.name,
                aliases=[
                    {"name": alias.name, "weak": alias.weak, "kind": alias.kind}
                    for alias in entry.aliases
                ],
                birth_dates=list(entry.birth_dates),
                countries=list(entry.countries),
                programs=list(entry.programs),
                identifier_types=sorted({identifier.type for identifier in entry.identifiers}),
            ),
        )


class SearchRead(BaseModel):
    name: str
    matches: list[SearchMatchRead]


class DismissalRead(BaseModel):
    reason: str
    dismissed_by: str
    dismissed_at: datetime


class SubjectMatchRead(BaseModel):
    """A watchlist match on an alert's or a subject's page."""

    id: int
    subject_key: str
    watchlist: str
    entry_key: str
    role: str
    party_name: str | None
    score: float
    strength: str
    matched: dict[str, Any]
    institution_id: str
    report_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    found_by: str
    dismissal: DismissalRead | None

    @classmethod
    def of(
        cls, match: WatchlistMatch, watchlist: str, dismissal: WatchlistDismissal | None
    ) -> SubjectMatchRead:
        return cls(
            id=match.id,
            subject_key=match.subject_key,
            watchlist=watchlist,
            entry_key=match.entry_key,
            role=match.role,
            party_name=match.party_name,
            score=match.score,
            strength=match.strength,
            matched=match.matched,
            institution_id=match.institution_id,
            report_id=match.report_id,
            first_seen_at=match.first_seen_at,
            last_seen_at=match.last_seen_at,
            found_by=match.found_by,
            dismissal=DismissalRead(
                reason=dismissal.reason,
                dismissed_by=dismissal.dismissed_by,
                dismissed_at=dismissal.dismissed_at,
            )
            if dismissal is not None
            else None,
        )


class DismissalCreate(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
