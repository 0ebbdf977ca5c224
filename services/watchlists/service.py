"""Watchlists: loading versions, screening parties, dismissing false matches, rescreening.

The worker calls :func:`screen_reports` once per batch (inside its transaction) and
:func:`record_matches` once the batch's reports are inserted; ``rule_hits_of`` turns a
report's matches into the rule hits and reasons of its alert. The API lists lists, searches
by hand and dismisses matches; the CLI and the API load list files. Loading a version queues a
rescreen job (:func:`run_rescreens`), so a newly listed person's past reports are found.
"""

from __future__ import annotations

import getpass
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from models.rules import RuleHit
from services.alerts.schemas import AlertCreate
from services.alerts.service import raise_alerts
from services.audit import service as audit
from services.auth.enums import INVESTIGATIVE_ROLES, Role
from services.auth.service import Principal
from services.db import transaction
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.kit.time import utc_now
from services.watchlists.entries import ListEntry, ListFormatError, normalize_identifier
from services.watchlists.formats import (
    ListFormat,
    ParsedList,
    guess_format,
    parse_list_bytes,
    read_list,
)
from services.watchlists.matching import (
    IndexedEntry,
    Match,
    Party,
    ScreeningIndex,
    Strength,
)
from services.watchlists.names import kind_of
from services.watchlists.orm import (
    Watchlist,
    WatchlistDismissal,
    WatchlistMatch,
    WatchlistRescreen,
    WatchlistVersion,
)
from services.watchlists.repository import WatchlistRepository
from services.watchlists.schemas import LoadOutcome

log = logging.getLogger(__name__)

LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
LOADING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
DISMISSING_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.ADMIN})
RULE_ID = "watchlist"
FEATURE = "watchlist_score"
MATCH_ENTITY = "watchlist_match"


class InvalidList(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 422)


def require_investigator(principal: Principal) -> None:
    if principal.role not in INVESTIGATIVE_ROLES:
        raise Forbidden("watchlists are for investigators, supervisors, auditors and admins")


# ---- loading --------------------------------------------------------------------------------


def parse_file(path: Path, list_format: ListFormat | None) -> ParsedList:
    """Reads a list file; a bad file is a 422 naming the file and line."""
    try:
        return read_list(path, list_format or guess_format(path))
    except ListFormatError as error:
        raise InvalidList(str(error)) from None
    except UnicodeDecodeError as error:
        raise InvalidList(f"{path}: not UTF-8 text ({error.reason})") from None


def load_version(
    session: Session, *, name: str, parsed: ParsedList, list_format: ListFormat, loaded_by: str
) -> LoadOutcome:
    """Stores a list file as the list's next version (flush only).

    Entries are compared with the current version by their list id and content hash: new ids
    are added, missing ones removed, amended ones replaced. The same file loaded twice makes no
    second version. A new version queues a rescreen of the stored reports.
    """
    if not LIST_NAME.match(name):
        raise InvalidList(
            f"list name {name!r}: lower-case letters, digits, '.', '_' or '-', at most 64"
        )
    if not parsed.entries:
        raise InvalidList(f"{', '.join(parsed.files) or 'the file'}: no entries")
    repository = WatchlistRepository(session)
    now = utc_now()
    watchlist = repository.by_name(name)
    if watchlist is None:
        watchlist = Watchlist(name=name, current_version=None, created_at=now)
        repository.add(watchlist)
    current = {row.entry_key: row for row in repository.current_entries(watchlist.id)}
    if watchlist.current_version is not None:
        latest = repository.versions_of([watchlist.id])[0]
        if latest.content_sha256 == parsed.content_sha256:
            return LoadOutcome(
                name,
                latest.version,
                False,
                latest.entry_count,
                0,
                0,
                0,
                latest.content_sha256,
                None,
            )
    version = (watchlist.current_version or 0) + 1
    incoming = {entry.key: entry for entry in parsed.entries}
    hashes = {key: entry.content_hash() for key, entry in incoming.items()}
    added = [key for key in incoming if key not in current]
    removed = [key for key in current if key not in incoming]
    changed = [
        key for key in incoming if key in current and current[key].content_sha256 != hashes[key]
    ]
    repository.retire_entries([current[key].id for key in (*removed, *changed)], version)
    repository.insert_entries(
        [
            _entry_row(watchlist.id, incoming[key], hashes[key], version)
            for key in (*added, *changed)
        ]
    )
    record = WatchlistVersion(
        watchlist_id=watchlist.id,
        version=version,
        format=list_format.value,
        source=", ".join(parsed.files)[:255],
        content_sha256=parsed.content_sha256,
        loaded_at=now,
        loaded_by=loaded_by[:64],
        entry_count=len(incoming),
        added=len(added),
        removed=len(removed),
        changed=len(changed),
    )
    repository.add(record)
    watchlist.current_version = version
    job = WatchlistRescreen(
        version_id=record.id,
        status="queued",
        reports_total=repository.report_count(),
        reports_done=0,
        cursor=0,
        matches=0,
        alerts=0,
        created_at=now,
    )
    repository.add(job)
    return LoadOutcome(
        name,
        version,
        True,
        len(incoming),
        len(added),
        len(removed),
        len(changed),
        parsed.content_sha256,
        job.id,
    )


def _entry_row(watchlist_id: int, entry: ListEntry, digest: str, version: int) -> dict[str, Any]:
    return {
        "watchlist_id": watchlist_id,
        "entry_key": entry.key[:128],
        "kind": entry.kind.value,
        "name": entry.name[:300],
        "content_sha256": digest,
        "document": entry.to_document(),
        "added_in": version,
        "removed_in": None,
    }


def load_uploaded(
    session: Session,
    *,
    principal: Principal,
    name: str,
    list_format: ListFormat,
    data: bytes,
    filename: str,
) -> LoadOutcome:
    """A list file sent to the API (one file: ``sdn-csv`` is sdn.csv without its siblings)."""
    if principal.role not in LOADING_ROLES:
        raise Forbidden("loading a watchlist takes a supervisor or an admin")
    parsed = parse_bytes(data, list_format, filename)
    outcome = load_version(
        session, name=name, parsed=parsed, list_format=list_format, loaded_by=principal.actor
    )
    if outcome.created:
        audit.record(
            session,
            principal=principal,
            action="watchlist.load",
            entity_type="watchlist",
            entity_id=name,
            before=None,
            after={
                "version": outcome.version,
                "content_sha256": outcome.content_sha256,
                "entries": outcome.entries,
                "added": outcome.added,
                "removed": outcome.removed,
                "changed": outcome.changed,
            },
        )
    return outcome


def parse_bytes(data: bytes, list_format: ListFormat, filename: str) -> ParsedList:
    try:
        return parse_list_bytes(data, list_format, filename)
    except ListFormatError as error:
        raise InvalidList(str(error)) from None
    except UnicodeDecodeError as error:
        raise InvalidList(f"{filename}: not UTF-8 text ({error.reason})") from None


# ---- the index the worker and the API screen with ----------------------------------------


def build_index(session: Session) -> ScreeningIndex:
    """An index of the current version of every loaded list."""
    repository = WatchlistRepository(session)
    lists = repository.current_versions()
    names = {watchlist_id: (name, version) for watchlist_id, name, version in lists}
    entries = [
        IndexedEntry(
            entry_id,
            names[watchlist_id][0],
            names[watchlist_id][1],
            ListEntry.from_document(document),
        )
        for entry_id, watchlist_id, document in repository.current_entry_rows(list(names))
    ]
    return ScreeningIndex(entries)


class IndexHolder:
    """The current index, rebuilt when a list version changes.

    The list versions are read at most every ``refresh_s`` seconds (one small query); a change
    rebuilds the index in the caller's session, which for a 20,000-entry list takes seconds
    once per load (docs/watchlists.md).
    """

    def __init__(
        self, *, refresh_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.refresh_s = refresh_s
        self._clock = clock
        self._index: ScreeningIndex | None = None
        self._versions: list[tuple[int, str, int]] | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()  # API threads share one holder

    def get(self, session: Session) -> ScreeningIndex:
        now = self._clock()
        index = self._index
        if index is not None and now - self._checked < self.refresh_s:
            return index
        with self._lock:
            return self._refresh(session, now)

    def _refresh(self, session: Session, now: float) -> ScreeningIndex:
        if self._index is not None and now - self._checked < self.refresh_s:
            return self._index
        versions = WatchlistRepository(session).current_versions()
        self._checked = now
        if self._index is None or versions != self._versions:
            started = time.perf_counter()
            self._index = build_index(session)
            self._versions = versions
            if versions:
                log.info(
                    "watchlist index: %d entries of %s built in %.1f s",
                    len(self._index),
                    ", ".join(f"{name} v{version}" for _, name, version in versions),
                    time.perf_counter() - started,
                )
        return self._index


# ---- screening ------------------------------------------------------------------------------


def _birth_date(party: Mapping[str, Any]) -> str | None:
    """A party's date of birth, if the reporter sent one (an extension field of wire v1)."""
    value = party.get("birth_date") or party.get("date_of_birth")
    return str(value)[:10] if value else None


def subject_party(subject: Mapping[str, Any]) -> Party:
    """The screening view of a report's subject (its JSON document)."""
    name = subject.get("name")
    identifiers = tuple(
        (str(item["type"]), normalize_identifier(str(item["value"])))
        for item in subject.get("identifiers") or ()
        if isinstance(item, dict) and item.get("type") and item.get("value")
    )
    return Party(
        name,
        kind_of(subject.get("type"), name),
        subject.get("country"),
        _birth_date(subject),
        identifiers,
    )


def counterparty_party(counterparty: Mapping[str, Any] | None) -> Party | None:
    """The screening view of a report's counterparty (its JSON document), if it has a name."""
    if not counterparty:
        return None
    name = counterparty.get("name")
    if not name:
        return None
    return Party(
        name,
        kind_of(counterparty.get("type"), name),
        counterparty.get("country"),
        _birth_date(counterparty),
    )


class ScreeningInput(NamedTuple):
    """A report's parties, keyed by the subject whose alert a match raises or joins."""

    subject_key: str
    subject: Party
    counterparty: Party | None = None


@dataclass(slots=True)
class ReportScreening:
    """What screening found for one report."""

    subject_key: str
    matches: list[Match] = field(default_factory=list)
    dismissed: list[Match] = field(default_factory=list)

    @property
    def strong(self) -> list[Match]:
        return [match for match in self.matches if match.strength is Strength.STRONG]

    @property
    def weak(self) -> list[Match]:
        return [match for match in self.matches if match.strength is Strength.WEAK]

    @property
    def best_score(self) -> float:
        return max((match.score for match in self.matches), default=0.0)


def screen_parties(
    session: Session, index: ScreeningIndex, inputs: Sequence[ScreeningInput]
) -> list[ReportScreening]:
    """Screens each input's subject and counterparty; a dismissed pair is set apart."""
    found = screen_documents(
        session,
        index,
        [(item.subject_key, item.subject, item.counterparty) for item in inputs],
    )
    return [
        found.get(position, ReportScreening(item.subject_key))
        for position, item in enumerate(inputs)
    ]


PartyInput = Party | Mapping[str, Any] | None


def screen_documents(
    session: Session,
    index: ScreeningIndex,
    reports: Sequence[tuple[str, PartyInput, PartyInput]],
) -> dict[int, ReportScreening]:
    """Screens reports' subjects and counterparties: (subject key, subject, counterparty),
    each party a JSON document (or a :class:`Party`). Returns the screenings of the reports
    that matched, by position; a dismissed (subject, entry) pair is set apart.

    The worker's path: a party whose name has no candidate and no listed identifier (nearly
    all of them) costs a cached lookup. One query for the batch's dismissals, and only when
    something matched.
    """
    results: dict[int, ReportScreening] = {}
    if not len(index):
        return results
    for position, (subject_key, subject, counterparty) in enumerate(reports):
        matches: list[Match] = []
        for role, party in (("subject", subject), ("counterparty", counterparty)):
            if party is None:
                continue
            if isinstance(party, Party):
                matches.extend(index.screen(party, role=role))
            elif index.could_match(party):
                screened = subject_party(party) if role == "subject" else counterparty_party(party)
                if screened is not None:
                    matches.extend(index.screen(screened, role=role))
        if matches:
            results[position] = ReportScreening(subject_key, matches)
    pairs = {
        _dismissal_key(result.subject_key, match)
        for result in results.values()
        for match in result.matches
    }
    if pairs:
        ids = watchlist_ids(session)
        dismissed = WatchlistRepository(session).dismissed(
            (key, ids.get(name, -1), entry) for key, name, entry in pairs
        )
        names = {watchlist_id: name for name, watchlist_id in ids.items()}
        dismissed_names = {(key, names.get(wid, ""), entry) for key, wid, entry in dismissed}
        for result in results.values():
            kept: list[Match] = []
            for match in result.matches:
                if _dismissal_key(result.subject_key, match) in dismissed_names:
                    result.dismissed.append(match)
                else:
                    kept.append(match)
            result.matches = kept
    return results


def _dismissal_key(subject_key: str, match: Match) -> tuple[str, str, str]:
    return (subject_key, match.indexed.watchlist, match.entry.key)


def watchlist_ids(session: Session) -> dict[str, int]:
    return {
        name: watchlist_id
        for watchlist_id, name, _ in WatchlistRepository(session).current_versions()
    }


def rule_hits_of(screening: ReportScreening) -> tuple[list[RuleHit], float | None]:
    """The rule hits of a report's matches (strong ones force an alert) and its feature value."""
    hits = [
        RuleHit(RULE_ID, match.strength is Strength.STRONG, match.describe())
        for match in screening.matches
    ]
    return hits, (screening.best_score if screening.matches else None)


def match_rows(
    screening: ReportScreening,
    *,
    institution_id: str,
    report_id: str,
    found_by: str,
    watchlist_ids: dict[str, int],
) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for match in screening.matches:
        role = str(match.matched.get("role", "subject"))
        key = (match.indexed.watchlist, match.entry.key, role)
        if key in rows or match.indexed.watchlist not in watchlist_ids:
            continue
        rows[key] = {
            "subject_key": screening.subject_key,
            "watchlist_id": watchlist_ids[match.indexed.watchlist],
            "entry_id": match.indexed.entry_id,
            "entry_key": match.entry.key,
            "role": role,
            "party_name": (match.matched.get("name") or {}).get("query"),
            "score": match.score,
            "strength": match.strength.value,
            "matched": match.matched,
            "institution_id": institution_id,
            "report_id": report_id,
            "found_by": found_by,
        }
    return list(rows.values())


def record_matches(session: Session, rows_by_report: Sequence[list[dict[str, Any]]]) -> None:
    """Stores the matches of the reports a batch inserted (flush only)."""
    rows = [row for rows in rows_by_report for row in rows]
    if rows:
        WatchlistRepository(session).record_matches(rows, utc_now())


# ---- the API --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchlistSummary:
    watchlist: Watchlist
    versions: list[WatchlistVersion]


def list_watchlists(
    session: Session, *, principal: Principal
) -> tuple[list[WatchlistSummary], list[WatchlistRescreen]]:
    require_investigator(principal)
    repository = WatchlistRepository(session)
    lists = list(repository.all_lists())
    versions = repository.versions_of([item.id for item in lists])
    by_list: dict[int, list[WatchlistVersion]] = {}
    for version in versions:
        by_list.setdefault(version.watchlist_id, []).append(version)
    return (
        [WatchlistSummary(item, by_list.get(item.id, [])) for item in lists],
        list(repository.rescreens()),
    )


def search(
    session: Session,
    holder: IndexHolder,
    *,
    principal: Principal,
    name: str,
    kind: str | None = None,
    birth_date: str | None = None,
    country: str | None = None,
    limit: int = 10,
) -> list[Match]:
    """Looks a name up by hand, with what else is known of the person or company."""
    require_investigator(principal)
    if not name.strip():
        raise ServiceError("name must not be empty", 422)
    party = Party(
        name=name.strip(),
        kind=kind_of(kind, name),
        country=country.upper() if country else None,
        birth_date=birth_date,
    )
    return holder.get(session).screen(party, role="search", limit=limit)


@dataclass(frozen=True, slots=True)
class MatchView:
    match: WatchlistMatch
    watchlist: str
    dismissal: WatchlistDismissal | None


def matches_of_subjects(session: Session, subject_keys: Sequence[str]) -> list[MatchView]:
    """Watchlist matches of subjects (for the alert and subject read models)."""
    return [
        MatchView(match, name, dismissal)
        for match, name, dismissal in WatchlistRepository(session).matches_for_subjects(
            subject_keys
        )
    ]


def dismiss_match(
    session: Session, *, principal: Principal, match_id: int, reason: str
) -> MatchView:
    """Marks a match false: no alert again for this (subject, list entry) pair (audited)."""
    if principal.role not in DISMISSING_ROLES:
        raise Forbidden("dismissing a match takes an investigator, a supervisor or an admin")
    if not reason.strip():
        raise ServiceError("reason must not be empty", 422)
    repository = WatchlistRepository(session)
    match = repository.match(match_id)
    if match is None:
        raise NotFound(f"watchlist match {match_id} not found")
    now = utc_now()
    dismissal = WatchlistDismissal(
        subject_key=match.subject_key,
        watchlist_id=match.watchlist_id,
        entry_key=match.entry_key,
        reason=reason.strip(),
        dismissed_by=principal.actor,
        dismissed_at=now,
    )
    if not repository.add_dismissal(dismissal):
        raise Conflict(
            f"subject {match.subject_key} and entry {match.entry_key} are dismissed already"
        )
    audit.record(
        session,
        principal=principal,
        action="watchlist.dismiss",
        entity_type=MATCH_ENTITY,
        entity_id=match.id,
        before={"subject_key": match.subject_key, "entry_key": match.entry_key, "dismissed": False},
        after={
            "subject_key": match.subject_key,
            "entry_key": match.entry_key,
            "dismissed": True,
            "reason": dismissal.reason,
        },
    )
    views = [
        view
        for view in matches_of_subjects(session, [match.subject_key])
        if view.match.id == match.id
    ]
    return views[0]


def get_rescreen(session: Session, *, principal: Principal, job_id: int) -> WatchlistRescreen:
    require_investigator(principal)
    job = WatchlistRepository(session).rescreen(job_id)
    if job is None:
        raise NotFound(f"rescreen job {job_id} not found")
    return job


# ---- rescreening ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RescreenProgress:
    job_id: int
    status: str
    reports_done: int
    reports_total: int
    matches: int
    alerts: int


def run_rescreens(
    sessions: sessionmaker[Session],
    holder: IndexHolder,
    *,
    chunk: int = 2_000,
    max_reports: int | None = None,
    progress: Callable[[RescreenProgress], None] | None = None,
) -> list[RescreenProgress]:
    """Runs queued rescreen jobs, one transaction per ``chunk`` reports, until none is left
    (or ``max_reports`` were screened). A job stopped midway resumes at its cursor."""
    finished: list[RescreenProgress] = []
    budget = max_reports
    while budget is None or budget > 0:
        with transaction(sessions) as session:
            job = WatchlistRepository(session).next_rescreen()
            if job is None:
                break
            job_id = job.id
            if job.status == "queued":
                job.status = "running"
                job.started_at = utc_now()
        while budget is None or budget > 0:
            size = chunk if budget is None else min(chunk, budget)
            with transaction(sessions) as session:
                state = _rescreen_chunk(session, holder, job_id, size)
            if budget is not None:
                budget -= size
            if progress is not None:
                progress(state)
            if state.status == "done":
                finished.append(state)
                break
    return finished


def _rescreen_chunk(
    session: Session, holder: IndexHolder, job_id: int, size: int
) -> RescreenProgress:
    repository = WatchlistRepository(session)
    job = repository.rescreen(job_id)
    assert job is not None
    rows = repository.reports_after(job.cursor, size)
    index = holder.get(session)
    inputs = [
        ScreeningInput(
            subject_key,
            subject_party(document.get("subject") or {}),
            counterparty_party((document.get("transaction") or {}).get("counterparty")),
        )
        for _, _, _, subject_key, document in rows
    ]
    screenings = screen_parties(session, index, inputs)
    ids = watchlist_ids(session)
    found_by = f"rescreen:{job.id}"
    new_rows: list[dict[str, Any]] = []
    strong_by_subject: dict[str, tuple[tuple[int, str, str, str, dict[str, Any]], Match]] = {}
    for row, screening in zip(rows, screenings, strict=True):
        candidates = match_rows(
            screening,
            institution_id=row[1],
            report_id=row[2],
            found_by=found_by,
            watchlist_ids=ids,
        )
        if not candidates:
            continue
        known = repository.known_matches(
            (item["subject_key"], item["watchlist_id"], item["entry_key"], item["role"])
            for item in candidates
        )
        for item in candidates:
            key = (item["subject_key"], item["watchlist_id"], item["entry_key"], item["role"])
            if key in known:
                continue
            new_rows.append(item)
        for match in screening.strong:
            pair = (
                screening.subject_key,
                ids.get(match.indexed.watchlist, -1),
                match.entry.key,
                str(match.matched.get("role")),
            )
            if pair not in known and screening.subject_key not in strong_by_subject:
                strong_by_subject[screening.subject_key] = (row, match)
    # Several reports of one subject in a chunk: the row is stored once.
    unique = {
        (row["subject_key"], row["watchlist_id"], row["entry_key"], row["role"]): row
        for row in new_rows
    }
    repository.record_matches(list(unique.values()), utc_now())
    alerts = sum(
        _raise_or_join(session, repository, row, match) for row, match in strong_by_subject.values()
    )
    job.cursor = rows[-1][0] if rows else job.cursor
    job.reports_done += len(rows)
    job.matches += len(unique)
    job.alerts += alerts
    if len(rows) < size:
        job.status = "done"
        job.finished_at = utc_now()
        job.reports_total = max(job.reports_total, job.reports_done)
    session.flush()
    return RescreenProgress(
        job.id, job.status, job.reports_done, job.reports_total, job.matches, job.alerts
    )


def _raise_or_join(
    session: Session,
    repository: WatchlistRepository,
    row: tuple[int, str, str, str, dict[str, Any]],
    match: Match,
) -> int:
    """A strong match found by a rescreen joins the subject's open alert or raises one on the
    report that matched; returns 1 when an alert was raised or joined."""
    _, institution_id, report_id, subject_key, document = row
    hit = RuleHit(RULE_ID, True, match.describe())
    alert = repository.open_alert_of(subject_key)
    if alert is not None:
        alert.rule_hits = [*alert.rule_hits, hit.as_dict()]
        alert.reasons = [*alert.reasons, hit.reason]
        alert.features = {**alert.features, FEATURE: match.score}
        alert.updated_at = utc_now()
        session.flush()
        return 1
    report = document
    transaction_at = (report.get("transaction") or {}).get("timestamp")
    stored = raise_alerts(
        session,
        [
            AlertCreate(
                institution_id=institution_id,
                report_id=report_id,
                subject_key=subject_key,
                jurisdiction=str(report.get("jurisdiction", "US")),
                report_type=str(report.get("report_type", "TXN")),
                score=0.0,
                model_version=RULE_ID,
                rule_hits=[hit.as_dict()],
                reasons=[hit.reason],
                features={FEATURE: match.score},
                transaction_at=transaction_at,
            )
        ],
    )
    created = stored and RULE_ID in [item.get("rule") for item in stored[0].rule_hits]
    return 1 if created else 0


def loaded_by_cli() -> str:
    """``cli:<operating-system user>``: who ran ``amlscreen watchlist load``."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli:unknown"
