"""The worker's alert flow: detection's candidates through the policy, into the store.

``route_alerts`` runs inside the worker's batch transaction (flushes, never commits). The
decisions are ``services.alerts.policy``'s; this module only reads what they need from the
store (open alerts, recent FALSE_POSITIVE closures, the institutions' budget thresholds) and
writes what they decided (new alerts, reports joining alerts, threshold versions).
``open_quiet_picks`` runs in a transaction of its own, between batches: the worker's sweep of
the institutions whose held reports wait for a recompute no candidate brings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.alerts.orm import Alert, HeldCandidate
from services.alerts.policy import (
    Action,
    AlertPolicy,
    BudgetEstimate,
    Candidate,
    Closure,
    Decision,
    Episode,
    EpisodeKey,
    Threshold,
    budget_threshold,
    decide,
    needs_recompute,
    ranked_picks,
    reaches,
    suppression_since,
)
from services.alerts.repository import AlertRepository
from services.alerts.schemas import AlertCreate
from services.alerts.service import raise_alerts
from services.audit.orm import AuditEvent
from services.audit.repository import AuditRepository
from services.audit.service import jsonable
from services.kit.time import utc_now

log = logging.getLogger(__name__)

# An episode's reasons are capped: the alert must stay readable (the reports are linked).
MAX_REASONS = 30
BUDGET_ACTOR = "system:alert-budget"


@dataclass(slots=True)
class Routed:
    """What a batch's candidates became."""

    # The alerts to publish on ``aml.alerts``: opened, or updated materially.
    published: list[Alert] = field(default_factory=list)
    decisions: list[Action] = field(default_factory=list)
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    # By alert id: "opened" (this batch opened it, whatever joined it since) or "updated".
    events: dict[int, str] = field(default_factory=dict)


def candidate_of(item: AlertCreate) -> Candidate:
    rules = frozenset(str(hit.get("rule")) for hit in item.rule_hits if hit.get("rule"))
    forced = frozenset(
        str(hit.get("rule"))
        for hit in item.rule_hits
        if hit.get("forces_alert") and hit.get("rule")
    )
    return Candidate(
        institution_id=item.institution_id,
        report_id=item.report_id,
        subject_key=item.subject_key,
        jurisdiction=item.jurisdiction,
        score=float(item.score),
        rules=rules,
        forced_rules=forced,
        typology=item.typology,
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(slots=True)
class BudgetRound:
    """A batch's thresholds by institution, and under ranked spending the alerts the budget's
    recomputes open (``AlertCreate`` of each picked subject's held report, with the version)."""

    thresholds: dict[str, Threshold]
    picks: list[AlertCreate] = field(default_factory=list)


def current_thresholds(
    session: Session,
    items: Sequence[AlertCreate],
    policy: AlertPolicy,
    model_threshold: float,
) -> BudgetRound:
    """Each institution's threshold for this batch: the model's, or its budget's latest version.

    Under a budget the threshold is recomputed from the report and alert store (every worker
    reads the same store, so they agree, and a restart changes nothing) once
    ``budget_recompute_hours`` of event time have passed since its last version: the window's
    scores of subjects without an open alert and the alerts already opened in the window
    (``services.alerts.policy.budget_threshold``); a new version is inserted and audited.
    Under ranked spending the recompute also picks the subjects whose held reports open alerts
    (``services.alerts.policy.ranked_picks``); only the worker whose version was inserted opens
    them, and their held reports are deleted.
    """
    institutions = sorted({item.institution_id for item in items})
    if not policy.budgeted:
        return BudgetRound(
            {institution: Threshold(model_threshold, None) for institution in institutions}
        )
    repository = AlertRepository(session)
    thresholds: dict[str, Threshold] = {}
    latest_of = repository.latest_thresholds(institutions)
    current_of: dict[str, Threshold] = {}
    due: dict[str, datetime] = {}  # institution → the event time its new version is for
    for institution in institutions:
        latest = latest_of.get(institution)
        current_of[institution] = (
            policy.live_threshold(latest.threshold, latest.version)
            if latest is not None
            else Threshold(model_threshold, None)
        )
        times = [
            moment
            for item in items
            if item.institution_id == institution
            and (moment := _aware(item.transaction_at)) is not None
        ]
        at = max(times) if times else None
        if at is None or not needs_recompute(
            latest.computed_for if latest is not None else None, at, policy
        ):
            thresholds[institution] = current_of[institution]
        else:
            due[institution] = at
    if not due:
        return BudgetRound(thresholds)
    picks = _recompute(session, due, current_of, thresholds, policy)
    return BudgetRound(thresholds, picks)


def _recompute(
    session: Session,
    due: Mapping[str, datetime],
    current_of: Mapping[str, Threshold],
    thresholds: dict[str, Threshold],
    policy: AlertPolicy,
) -> list[AlertCreate]:
    """Recomputes the budget of each institution in ``due`` for its event time: inserts and
    audits the new versions, sets ``thresholds`` (from ``current_of`` where nothing new
    could be computed) and returns the alerts a ranked recompute opens."""
    repository = AlertRepository(session)
    # Every institution whose cadence has come, in one read of each kind (a replay or a
    # backfill crosses the cadence on nearly every batch).
    windows = {
        institution: (at - timedelta(days=policy.budget_window_days), at)
        for institution, at in due.items()
    }
    # Ranked spending ranks the held reports: of the window it needs only the counts.
    scores_of = (
        repository.window_counts_of(windows)
        if policy.ranked
        else repository.window_scores_of(windows)
    )
    opened_of = repository.opened_in_windows(windows)
    now = utc_now()
    new_rows: dict[str, tuple[BudgetEstimate, dict[str, Any]]] = {}
    held_of: dict[str, dict[str, HeldCandidate]] = {}
    picked_of: dict[str, list[str]] = {}
    for institution, at in due.items():
        window = scores_of[institution]
        earliest = _aware(window.earliest)
        span = min(
            (at - earliest).total_seconds() / 86_400 if earliest else 0.0,
            float(policy.budget_window_days),
        )
        estimate: BudgetEstimate | None
        if policy.ranked:
            since, until = windows[institution]
            held = repository.held_best(institution, since, until, policy.budget_floor)
            ranked = ranked_picks(
                [(key, row.score) for key, row in held.items()],
                subjects=window.subjects,
                opened=opened_of[institution],
                reports=window.reports,
                span_days=span,
                policy=policy,
            )
            estimate = ranked[0] if ranked is not None else None
            if ranked is not None:
                held_of[institution], picked_of[institution] = held, ranked[1]
        else:
            estimate = budget_threshold(
                np.asarray(window.unalerted, dtype=np.float64),
                subjects=window.subjects,
                opened=opened_of[institution],
                reports=window.reports,
                span_days=span,
                policy=policy,
            )
        if estimate is None:
            thresholds[institution] = current_of[institution]
            continue
        current = current_of[institution]
        new_rows[institution] = (
            estimate,
            {
                "institution_id": institution,
                "version": (current.version or 0) + 1,
                "threshold": estimate.threshold,
                "computed_for": at,
                "window_days": policy.budget_window_days,
                "budget": estimate.budget,
                "subjects": estimate.subjects,
                "reports": estimate.reports,
                "created_at": now,
            },
        )
    # Rows in institution order, as every worker inserts them: two workers versioning the same
    # institutions take the unique index's row locks in the same order (no deadlock).
    inserted = repository.insert_thresholds([row for _, row in new_rows.values()])
    events: list[AuditEvent] = []
    picks: list[AlertCreate] = []
    for institution, (estimate, row) in new_rows.items():
        current = current_of[institution]
        if institution not in inserted:
            # Another worker versioned it first: use theirs (and it opens the picks).
            taken = repository.latest_threshold(institution)
            thresholds[institution] = (
                policy.live_threshold(taken.threshold, taken.version)
                if taken is not None
                else current
            )
            continue
        picked = picked_of.get(institution, [])
        for key in picked:
            kept = held_of[institution][key]
            try:
                pick = AlertCreate.model_validate(kept.payload)
            except ValidationError as error:
                # A held row this worker cannot read (written by another version): skipped and
                # released with the others, never a batch that fails at every retry.
                log.warning(
                    "held report %s/%s not opened: unreadable (%s)",
                    institution,
                    kept.report_id,
                    error.errors()[0].get("msg") if error.errors() else error,
                )
                continue
            picks.append(
                pick.model_copy(
                    update={
                        "threshold": estimate.threshold,
                        "threshold_version": row["version"],
                        "opened_for": due[institution],
                    }
                )
            )
        if policy.ranked:
            repository.release_held(institution, picked)
            repository.prune_held(institution, windows[institution][0])
        events.append(
            AuditEvent(
                at=now,
                actor=BUDGET_ACTOR,
                role="system",
                action="alert.threshold",
                entity_type="institution",
                entity_id=institution,
                before={"threshold": current.value, "version": current.version},
                after=jsonable(
                    {
                        **row,
                        "allowance": estimate.allowance,
                        "opened": estimate.opened,
                        **({"spending": "ranked", "picked": len(picked)} if policy.ranked else {}),
                    }
                ),
            )
        )
        log.info(
            "alert threshold of %s: %.4f (version %d, %s over %d subjects, %d of %d opened)",
            institution,
            estimate.threshold,
            row["version"],
            estimate.budget,
            estimate.subjects,
            estimate.opened,
            estimate.allowance,
        )
        thresholds[institution] = policy.live_threshold(estimate.threshold, row["version"])
    AuditRepository(session).append_all(events)
    return picks


def route_alerts(
    session: Session,
    items: Sequence[AlertCreate],
    policy: AlertPolicy,
    *,
    model_threshold: float,
    typing: Callable[[Sequence[AlertCreate]], Sequence[str | None]] | None = None,
) -> Routed:
    """Applies the alert policy to the batch's candidates (in arrival order).

    A report opens an alert, joins its subject's open alert, is suppressed by a recent
    FALSE_POSITIVE closure of the same pattern, or stays below the institution's threshold.
    Idempotent: a report already gathered by an alert (a redelivery) is skipped.

    ``typing``: for callers that send candidates untyped (the worker), the typology of each
    candidate that reaches its institution's threshold or is forced, the only ones whose
    typology the policy reads (suppression, material updates) or stores.
    """
    repository = AlertRepository(session)
    linked = repository.linked_keys([(item.institution_id, item.report_id) for item in items])
    seen: set[tuple[str, str]] = set()
    fresh: list[AlertCreate] = []
    for item in items:
        key = (item.institution_id, item.report_id)
        if key not in linked and key not in seen:
            seen.add(key)
            fresh.append(item)
    routed = Routed()
    if not fresh:
        return routed
    budget_round = current_thresholds(session, fresh, policy, model_threshold)
    thresholds = budget_round.thresholds
    routed.thresholds = thresholds
    if typing is not None:
        fresh = _typed(fresh, thresholds, typing, policy)
    _route(session, budget_round.picks, fresh, thresholds, policy, routed)
    return routed


def open_quiet_picks(session: Session, policy: AlertPolicy, *, quiet_since: datetime) -> Routed:
    """Recomputes, under ranked spending, the budget of each institution whose held reports
    have waited since before ``quiet_since`` (wall clock) with none held after it, and opens
    the alerts its recompute picks.

    The budget recomputes when a candidate of the institution arrives; an institution that
    stops sending candidates would otherwise keep its last held reports forever (the end of a
    stream, an institution that files once a day). It is for the event time of the latest
    held report (or of the latest version, if later), and only when a report was held after
    the latest version was computed (one recompute per quiet spell); an institution without a
    version (cold start) is left alone. A backtest does the same at the end of its stream
    (``amlscreen.backtest``).
    """
    routed = Routed()
    if not (policy.budgeted and policy.ranked):
        return routed
    repository = AlertRepository(session)
    quiet = repository.quiet_held(quiet_since)
    latest_of = repository.latest_thresholds(sorted(quiet))
    due: dict[str, datetime] = {}
    current_of: dict[str, Threshold] = {}
    for institution, (last_event, last_held) in sorted(quiet.items()):
        latest = latest_of.get(institution)
        if latest is None:
            continue
        computed_for, versioned = _aware(latest.computed_for), _aware(latest.created_at)
        held_at, at = _aware(last_held), _aware(last_event)
        if computed_for is None or versioned is None or held_at is None or at is None:
            continue
        if held_at < versioned:
            continue  # the latest version has seen every held report: nothing new to rank
        due[institution] = max(at, computed_for)
        current_of[institution] = policy.live_threshold(latest.threshold, latest.version)
    if not due:
        return routed
    thresholds: dict[str, Threshold] = {}
    picks = _recompute(session, due, current_of, thresholds, policy)
    routed.thresholds = thresholds
    _route(session, picks, [], thresholds, policy, routed)
    return routed


def _route(
    session: Session,
    picks: Sequence[AlertCreate],
    fresh: Sequence[AlertCreate],
    thresholds: Mapping[str, Threshold],
    policy: AlertPolicy,
    routed: Routed,
) -> None:
    """Opens the budget's ``picks`` (each at the version that picked it), then decides the
    batch's ``fresh`` candidates against ``thresholds``; records what happened in ``routed``."""
    repository = AlertRepository(session)
    subjects = [item.subject_key for item in [*picks, *fresh]]
    stored: dict[EpisodeKey, Alert] = {}
    for alert in repository.open_for_subjects(subjects):
        stored.setdefault((alert.subject_key, alert.jurisdiction), alert)
    episodes = {
        key: Episode(alert.id, alert.score, _rules(alert.rule_hits), alert.typology)
        for key, alert in stored.items()
    }
    closures: dict[EpisodeKey, list[Closure]] = {}
    if policy.suppression_days > 0:
        for row in repository.false_positive_closures(
            subjects, suppression_since(utc_now(), policy)
        ):
            closures.setdefault((row.subject_key, row.jurisdiction), []).append(
                Closure(row.score, frozenset(_rules(row.rule_hits)), row.typology, row.decided_at)
            )
    # The budget's picks first (each with the version that picked it), then the batch.
    bars = {
        item.institution_id: Threshold(item.threshold or 0.0, item.threshold_version)
        for item in picks
    }
    decisions = decide(
        [candidate_of(item) for item in picks],
        thresholds=bars,
        episodes=episodes,
        closures=closures,
        policy=policy,
    )
    batch_decisions = decide(
        [candidate_of(item) for item in fresh],
        thresholds=thresholds,
        episodes=episodes,
        closures=closures,
        policy=policy,
    )
    routed.decisions = [decision.action for decision in batch_decisions]
    if policy.ranked:
        _hold(repository, fresh, batch_decisions, episodes, policy)
    items = [*picks, *fresh]
    decisions = [*decisions, *batch_decisions]

    # Opens first, in one insert: the alerts later reports of the batch may join.
    opening = [
        (item, decision)
        for item, decision in zip(items, decisions, strict=True)
        if decision.action is Action.OPEN
    ]
    opened = (
        raise_alerts(
            session,
            [
                item.model_copy(
                    update={
                        "threshold": decision.threshold.value if decision.threshold else None,
                        "threshold_version": decision.threshold.version
                        if decision.threshold
                        else None,
                    }
                )
                for item, decision in opening
            ],
        )
        if opening
        else []
    )
    for alert in opened:
        stored[(alert.subject_key, alert.jurisdiction)] = alert
        routed.published.append(alert)
        routed.events[alert.id] = "opened"

    now = utc_now()
    links: list[dict[str, Any]] = []
    joined: dict[int, dict[str, Any]] = {}
    material_ids: set[int] = set()
    for item, decision in zip(items, decisions, strict=True):
        if decision.action not in (Action.OPEN, Action.JOIN):
            continue
        target = stored.get((item.subject_key, item.jurisdiction))
        if target is None:
            continue
        alert = target
        links.append(
            {
                "alert_id": alert.id,
                "institution_id": item.institution_id,
                "report_id": item.report_id,
                "report_pk": item.report_pk,
                "score": float(item.score),
                "rules": sorted(candidate_of(item).rules),
                "typology": item.typology,
                "transaction_at": _aware(item.transaction_at),
                "joined_at": now,
            }
        )
        if decision.action is Action.JOIN:
            state = joined.setdefault(alert.id, _episode_state(alert))
            _join(state, item, now)
            if decision.material:
                material_ids.add(alert.id)
    _fill_report_pks(repository, links)
    repository.insert_links(links)
    by_id = {alert.id: alert for alert in stored.values()}
    repository.update_episodes([{"alert_id": key, **state} for key, state in joined.items()])
    for alert_id in joined:
        # The Core UPDATE bypassed the identity map: the next read reloads the alert.
        session.expire(by_id[alert_id])
    for alert_id in sorted(material_ids):
        alert = by_id[alert_id]
        if alert not in routed.published:
            routed.published.append(alert)
            routed.events[alert.id] = "updated"


def _hold(
    repository: AlertRepository,
    items: Sequence[AlertCreate],
    decisions: Sequence[Decision],
    episodes: Mapping[EpisodeKey, Episode],
    policy: AlertPolicy,
) -> None:
    """Stores the reports ranked spending holds back for the budget's next recompute: below
    (opening nothing), at or above the floor, of a subject without an open alert, with an
    event time (the window's clock)."""
    now = utc_now()
    rows = [
        {
            "institution_id": item.institution_id,
            "subject_key": item.subject_key,
            "report_id": item.report_id,
            "score": float(item.score),
            "transaction_at": moment,
            "payload": item.model_dump(mode="json"),
            "created_at": now,
        }
        for item, decision in zip(items, decisions, strict=True)
        if decision.action is Action.BELOW
        and item.score >= policy.budget_floor
        and (item.subject_key, item.jurisdiction) not in episodes
        and (moment := _aware(item.transaction_at)) is not None
    ]
    repository.hold(rows)


def _typed(
    items: list[AlertCreate],
    thresholds: Mapping[str, Threshold],
    typing: Callable[[Sequence[AlertCreate]], Sequence[str | None]],
    policy: AlertPolicy,
) -> list[AlertCreate]:
    """``items`` with the typology of those that pass their threshold or are forced, and under
    ranked spending of those at or above the floor (they may be held, and opened later)."""
    passing = [
        index
        for index, item in enumerate(items)
        if reaches(candidate_of(item), thresholds[item.institution_id])
        or (policy.ranked and item.score >= policy.budget_floor)
    ]
    if not passing:
        return items
    guesses = typing([items[index] for index in passing])
    typed = list(items)
    for index, typology in zip(passing, guesses, strict=True):
        typed[index] = items[index].model_copy(update={"typology": typology})
    return typed


def _rules(rule_hits: Sequence[dict[str, Any]] | None) -> set[str]:
    return {str(hit.get("rule")) for hit in rule_hits or () if hit.get("rule")}


def _episode_state(alert: Alert) -> dict[str, Any]:
    return {
        "score": alert.score,
        "typology": alert.typology,
        "reasons": list(alert.reasons),
        "rule_hits": list(alert.rule_hits),
        "report_count": alert.report_count or 1,
        "last_report_at": alert.last_report_at,
        "updated_at": alert.updated_at,
    }


def _join(state: dict[str, Any], item: AlertCreate, now: datetime) -> None:
    """The alert gathers a report: score is the episode's maximum, reasons and rules grow."""
    if item.score > state["score"]:
        state["score"] = float(item.score)
        state["typology"] = item.typology or state["typology"]
    known = {hit.get("rule") for hit in state["rule_hits"]}
    state["rule_hits"] = [
        *state["rule_hits"],
        *(hit for hit in item.rule_hits if hit.get("rule") not in known),
    ]
    reasons: list[str] = state["reasons"]
    for reason in item.reasons:
        if reason not in reasons and len(reasons) < MAX_REASONS:
            reasons.append(reason)
    state["report_count"] += 1
    moment = _aware(item.transaction_at)
    last = _aware(state["last_report_at"])
    if moment is not None and (last is None or moment > last):
        state["last_report_at"] = moment
    state["updated_at"] = now


def _fill_report_pks(repository: AlertRepository, links: list[dict[str, Any]]) -> None:
    missing = [
        (link["institution_id"], link["report_id"]) for link in links if link["report_pk"] is None
    ]
    if not missing:
        return
    stored = repository.reports_by_keys(missing)
    for link in links:
        if link["report_pk"] is None:
            found = stored.get((link["institution_id"], link["report_id"]))
            link["report_pk"] = found.pk if found else None
