"""Ledger rules: propose, approve or void (maker-checker), reverse, verify, idempotency.

Every write first locks the chain head (``LedgerRepository.lock_head``), so writes are
serialised: the chain cannot fork, "at most once" decisions and balance checks see a stable
ledger, and a retried request with the same idempotency key finds the first one's record.
Services only flush; the caller owns the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from refdata.money import currency_exponent
from services.auth.enums import INVESTIGATIVE_ROLES, Role
from services.auth.service import Principal
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.kit.time import utc_now
from services.ledger import accounts
from services.ledger.chain import (
    GENESIS_HASH,
    canonical_entry,
    check_plain_json,
    entry_hash,
    fingerprint,
)
from services.ledger.enums import EntryKind, EntryStatus
from services.ledger.orm import IdempotencyRecord, LedgerChainHead, LedgerEntry, LedgerLine
from services.ledger.repository import AccountPosition, LedgerRepository

WRITE_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.ADMIN})
APPROVER_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
READ_ROLES = INVESTIGATIVE_ROLES
POSTING_KINDS = frozenset(kind for kind in EntryKind if not kind.is_decision)
# No single line may move more than this (10^15 minor units: ten trillion dollars).
MAX_LINE_AMOUNT = 10**15
MAX_LINES = 200
# ``session.info`` key of a callable told the status of each committed entry (metrics).
POSTING_OBSERVER = "amlscreen.ledger.posting_observer"


class Invalid(ServiceError):
    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message, 422, details)


def require_read(principal: Principal) -> None:
    if principal.role not in READ_ROLES:
        raise Forbidden("the ledger is for investigators, supervisors, auditors and admins")


def require_write(principal: Principal) -> None:
    if principal.role not in WRITE_ROLES:
        raise Forbidden(f"role {principal.role} cannot write to the ledger or the asset register")


def require_approver(principal: Principal) -> None:
    if principal.role not in APPROVER_ROLES:
        raise Forbidden("only a supervisor or an admin can approve or void a posting")


@dataclass(frozen=True, slots=True)
class Line:
    account: str
    currency: str
    amount_minor: int


def validate_lines(lines: Sequence[Line]) -> list[Line]:
    """Checks a posting's lines: known accounts, ISO currencies, non-zero integers, and a zero
    sum in every currency.

    Raises:
        Invalid: the first rule broken.
    """
    if len(lines) < 2:
        raise Invalid("a posting needs at least two lines")
    if len(lines) > MAX_LINES:
        raise Invalid(f"a posting has at most {MAX_LINES} lines")
    totals: dict[str, int] = defaultdict(int)
    for index, line in enumerate(lines):
        if not accounts.is_valid(line.account):
            raise Invalid(f"line {index}: unknown account {line.account!r}")
        try:
            currency_exponent(line.currency)
        except ValueError as error:
            raise Invalid(f"line {index}: {error}") from None
        if isinstance(line.amount_minor, bool) or not isinstance(line.amount_minor, int):
            raise Invalid(f"line {index}: amounts are integers in minor units")
        if line.amount_minor == 0 or abs(line.amount_minor) > MAX_LINE_AMOUNT:
            raise Invalid(f"line {index}: amount must be non-zero and at most {MAX_LINE_AMOUNT}")
        totals[line.currency] += line.amount_minor
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise Invalid("a posting must sum to zero in every currency", {"unbalanced": unbalanced})
    return list(lines)


def acquire_write_lock(session: Session) -> LedgerChainHead:
    """Serialises this transaction with every other ledger or asset write."""
    return LedgerRepository(session).lock_head()


def _available(position: AccountPosition, account: str) -> int:
    """What the account may still give up: approved balance less pending outgoing lines."""
    sign = accounts.normal_sign(account)
    reserved = position.pending_credits if sign > 0 else position.pending_debits
    return sign * (position.posted + reserved)


def _check_cover(
    repository: LedgerRepository,
    asset_id: int | None,
    lines: Sequence[Line],
    *,
    already_pending: bool,
) -> None:
    """Refuses lines that would take an account below zero for this asset.

    Outgoing lines of pending postings are reserved, so two pending postings can never spend
    the same money; incoming pending lines do not count until approved.
    """
    delta: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        delta[(line.account, line.currency)] += line.amount_minor
    positions = repository.positions(asset_id, delta)
    for (account, currency), change in sorted(delta.items()):
        signed = accounts.normal_sign(account) * change
        if signed >= 0:
            continue
        available = _available(positions[(account, currency)], account)
        # A pending posting's own outgoing lines are already among the reservations.
        needed = 0 if already_pending else -signed
        if available - needed < 0:
            raise Conflict(
                f"{account} has {available} {currency} available for asset {asset_id}; "
                f"the posting needs {-signed}",
                {"account": account, "currency": currency, "available": available},
            )


def _append(
    session: Session,
    head: LedgerChainHead,
    *,
    kind: EntryKind,
    principal: Principal,
    idempotency_key: str,
    asset_id: int | None,
    memo: str | None,
    data: dict[str, Any],
    lines: Sequence[Line] = (),
    decision_for: int | None = None,
    reverses: int | None = None,
) -> LedgerEntry:
    seq = head.last_seq + 1
    created_at = utc_now()
    numbered = [
        (number, line.account, line.currency, line.amount_minor)
        for number, line in enumerate(lines, start=1)
    ]
    digest = entry_hash(
        canonical_entry(
            seq=seq,
            prev_hash=head.last_hash,
            kind=kind.value,
            created_at=created_at,
            actor=principal.actor,
            actor_role=principal.role.value,
            idempotency_key=idempotency_key,
            asset_id=asset_id,
            memo=memo,
            decision_for=decision_for,
            reverses=reverses,
            data=data,
            lines=numbered,
        )
    )
    entry = LedgerEntry(
        seq=seq,
        prev_hash=head.last_hash,
        entry_hash=digest,
        kind=kind.value,
        created_at=created_at,
        actor=principal.actor,
        actor_role=principal.role.value,
        idempotency_key=idempotency_key,
        asset_id=asset_id,
        memo=memo,
        decision_for=decision_for,
        reverses=reverses,
        data=data,
    )
    rows = [
        LedgerLine(
            entry_seq=seq, line_no=number, account=account, currency=currency, amount_minor=amount
        )
        for number, account, currency, amount in numbered
    ]
    LedgerRepository(session).add(entry, rows)
    head.last_seq = seq
    head.last_hash = digest
    session.flush()
    _count_on_commit(session, _reached(kind))
    # Make the lines readable on the returned object without a lazy load.
    session.refresh(entry, attribute_names=["lines"])
    return entry


def _reached(kind: EntryKind) -> EntryStatus:
    """The status a new entry of ``kind`` gives the posting it concerns."""
    if kind is EntryKind.APPROVE:
        return EntryStatus.POSTED
    if kind is EntryKind.VOID:
        return EntryStatus.VOIDED
    return EntryStatus.PENDING


def _count_on_commit(session: Session, status: EntryStatus) -> None:
    """Tells the session's posting observer (``session.info``), once the entry is committed.

    The API puts ``ApiMetrics.ledger_postings`` there; a rolled-back entry is never counted.
    """
    observe: Callable[[str], None] | None = session.info.get(POSTING_OBSERVER)
    if observe is None:
        return

    def _committed(_session: Session) -> None:
        observe(status.value)

    event.listen(session, "after_commit", _committed, once=True)


def _check_key(key: str) -> str:
    if not key or len(key) > 200 or not key.isprintable():
        raise Invalid("an idempotency key is 1 to 200 printable characters")
    return key


def _same_request(existing: LedgerEntry, expected: dict[str, Any]) -> LedgerEntry:
    actual = {
        "kind": existing.kind,
        "actor": existing.actor,
        "asset_id": existing.asset_id,
        "memo": existing.memo,
        "decision_for": existing.decision_for,
        "reverses": existing.reverses,
        "data": existing.data,
        "lines": [[line.account, line.currency, line.amount_minor] for line in existing.lines],
    }
    if fingerprint(actual) != fingerprint(expected):
        raise Conflict(
            f"idempotency key {existing.idempotency_key!r} was used for a different entry"
            f" (seq {existing.seq})"
        )
    return existing


def propose(
    session: Session,
    *,
    principal: Principal,
    idempotency_key: str,
    kind: EntryKind,
    asset_id: int | None,
    lines: Sequence[Line],
    memo: str | None = None,
    data: dict[str, Any] | None = None,
) -> LedgerEntry:
    """Appends a pending posting; it counts once a different supervisor approves it.

    The same key with the same posting returns the first entry; with a different one, 409.

    Raises:
        Forbidden: the caller may not write.
        Invalid: unknown account or currency, zero amount, unbalanced currency, bad data.
        Conflict: an account would go below zero, or the key was used for another entry.
    """
    require_write(principal)
    _check_key(idempotency_key)
    if kind not in POSTING_KINDS or kind is EntryKind.REVERSAL:
        raise Invalid(f"{kind} entries are not proposed directly")
    checked = validate_lines(lines)
    payload = dict(data or {})
    try:
        check_plain_json(payload)
    except ValueError as error:
        raise Invalid(str(error)) from None
    if memo is not None and len(memo) > 1000:
        raise Invalid("memo is at most 1000 characters")
    head = acquire_write_lock(session)
    repository = LedgerRepository(session)
    existing = repository.by_key(idempotency_key)
    if existing is not None:
        return _same_request(
            existing,
            {
                "kind": kind.value,
                "actor": principal.actor,
                "asset_id": asset_id,
                "memo": memo,
                "decision_for": None,
                "reverses": None,
                "data": payload,
                "lines": [[line.account, line.currency, line.amount_minor] for line in checked],
            },
        )
    _check_cover(repository, asset_id, checked, already_pending=False)
    return _append(
        session,
        head,
        kind=kind,
        principal=principal,
        idempotency_key=idempotency_key,
        asset_id=asset_id,
        memo=memo,
        data=payload,
        lines=checked,
    )


def decide(
    session: Session,
    *,
    principal: Principal,
    seq: int,
    approve: bool,
    idempotency_key: str,
    memo: str | None = None,
) -> LedgerEntry:
    """Approves or voids a pending posting, at most once, never by its maker.

    Returns the decision entry.

    Raises:
        Forbidden: not a supervisor or admin, or the caller proposed the posting.
        NotFound: no entry ``seq``.
        Conflict: not a posting, or already decided.
    """
    require_approver(principal)
    _check_key(idempotency_key)
    kind = EntryKind.APPROVE if approve else EntryKind.VOID
    head = acquire_write_lock(session)
    repository = LedgerRepository(session)
    existing = repository.by_key(idempotency_key)
    if existing is not None:
        return _same_request(
            existing,
            {
                "kind": kind.value,
                "actor": principal.actor,
                "asset_id": existing.asset_id,
                "memo": memo,
                "decision_for": seq,
                "reverses": None,
                "data": {},
                "lines": [],
            },
        )
    target = repository.get(seq)
    if target is None:
        raise NotFound(f"no ledger entry {seq}")
    if EntryKind(target.kind).is_decision:
        raise Conflict(f"entry {seq} is a decision, not a posting")
    decided = repository.decisions_for([seq]).get(seq)
    if decided is not None:
        raise Conflict(
            f"entry {seq} was already {'approved' if decided.kind == 'approve' else 'voided'}"
            f" (decision {decided.seq})"
        )
    if target.actor == principal.actor:
        raise Forbidden("maker-checker: a posting must be decided by someone other than its maker")
    if approve:
        lines = [Line(line.account, line.currency, line.amount_minor) for line in target.lines]
        _check_cover(repository, target.asset_id, lines, already_pending=True)
    return _append(
        session,
        head,
        kind=kind,
        principal=principal,
        idempotency_key=idempotency_key,
        asset_id=target.asset_id,
        memo=memo,
        data={},
        decision_for=seq,
    )


def reverse(
    session: Session,
    *,
    principal: Principal,
    seq: int,
    idempotency_key: str,
    memo: str | None = None,
) -> LedgerEntry:
    """Proposes the exact negation of an approved posting (the only way to correct one).

    Raises:
        NotFound: no entry ``seq``.
        Conflict: not an approved posting, already reversed (or a reversal is pending), or
            the reversal would take an account below zero (e.g. money already paid out).
    """
    require_write(principal)
    _check_key(idempotency_key)
    head = acquire_write_lock(session)
    repository = LedgerRepository(session)
    existing = repository.by_key(idempotency_key)
    target = repository.get(seq)
    if target is None:
        raise NotFound(f"no ledger entry {seq}")
    negated = [Line(line.account, line.currency, -line.amount_minor) for line in target.lines]
    if existing is not None:
        return _same_request(
            existing,
            {
                "kind": EntryKind.REVERSAL.value,
                "actor": principal.actor,
                "asset_id": target.asset_id,
                "memo": memo,
                "decision_for": None,
                "reverses": seq,
                "data": {"reverses_kind": target.kind},
                "lines": [[line.account, line.currency, line.amount_minor] for line in negated],
            },
        )
    if EntryKind(target.kind).is_decision:
        raise Conflict(f"entry {seq} is a decision; decisions are final")
    decision = repository.decisions_for([seq]).get(seq)
    if decision is None or decision.kind != EntryKind.APPROVE.value:
        raise Conflict(f"entry {seq} is not posted: void a pending posting instead of reversing")
    reversals = repository.reversals_of(seq)
    decisions = repository.decisions_for(entry.seq for entry in reversals)
    for reversal in reversals:
        outcome = decisions.get(reversal.seq)
        if outcome is None or outcome.kind == EntryKind.APPROVE.value:
            raise Conflict(f"entry {seq} is already reversed by entry {reversal.seq}")
    _check_cover(repository, target.asset_id, negated, already_pending=False)
    return _append(
        session,
        head,
        kind=EntryKind.REVERSAL,
        principal=principal,
        idempotency_key=idempotency_key,
        asset_id=target.asset_id,
        memo=memo,
        data={"reverses_kind": target.kind},
        lines=negated,
        reverses=seq,
    )


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryView:
    entry: LedgerEntry
    status: EntryStatus
    decision: LedgerEntry | None


def status_of(entry: LedgerEntry, decision: LedgerEntry | None) -> EntryStatus:
    if EntryKind(entry.kind).is_decision:
        return EntryStatus.DECISION
    if decision is None:
        return EntryStatus.PENDING
    return EntryStatus.POSTED if decision.kind == EntryKind.APPROVE.value else EntryStatus.VOIDED


def _views(session: Session, entries: Sequence[LedgerEntry]) -> list[EntryView]:
    decisions = LedgerRepository(session).decisions_for(entry.seq for entry in entries)
    return [
        EntryView(entry, status_of(entry, decisions.get(entry.seq)), decisions.get(entry.seq))
        for entry in entries
    ]


def view(session: Session, entry: LedgerEntry) -> EntryView:
    return _views(session, [entry])[0]


def get_entry(session: Session, *, principal: Principal, seq: int) -> EntryView:
    require_read(principal)
    entry = LedgerRepository(session).get(seq)
    if entry is None:
        raise NotFound(f"no ledger entry {seq}")
    return view(session, entry)


def list_entries(
    session: Session,
    *,
    principal: Principal,
    asset_id: int | None = None,
    kinds: Sequence[str] | None = None,
    status: EntryStatus | None = None,
    account: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[EntryView]:
    """Returns entries in chain order after ``after_seq`` (cursor pagination)."""
    require_read(principal)
    repository = LedgerRepository(session)
    found: list[EntryView] = []
    cursor = after_seq
    # A status filter is applied after reading, so read on until the page is full.
    while len(found) < limit:
        batch = repository.page(
            asset_id=asset_id, kinds=kinds, after_seq=cursor, limit=limit, account=account
        )
        if not batch:
            break
        found.extend(v for v in _views(session, batch) if status is None or v.status is status)
        cursor = batch[-1].seq
    return found[:limit]


@dataclass(frozen=True, slots=True)
class Balance:
    account: str
    currency: str
    posted_minor: int
    pending_minor: int


def balances(
    session: Session,
    *,
    principal: Principal,
    asset_id: int | None = None,
    currency: str | None = None,
    prefix: str | None = None,
) -> list[Balance]:
    """Derives balances from the lines: approved postings, and the net of pending ones."""
    require_read(principal)
    rows = LedgerRepository(session).balances(asset_id=asset_id, currency=currency, prefix=prefix)
    return [Balance(*row) for row in rows]


def asset_position(
    session: Session, asset_id: int, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], AccountPosition]:
    return LedgerRepository(session).positions(asset_id, keys)


# -- verification ---------------------------------------------------------------------------


@dataclass(slots=True)
class VerifyProblem:
    seq: int | None
    reason: str


@dataclass(slots=True)
class VerifyReport:
    ok: bool = True
    entries: int = 0
    postings: int = 0
    posted: int = 0
    pending: int = 0
    voided: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    first_error: VerifyProblem | None = None
    currency_totals: dict[str, int] = field(default_factory=dict)
    balances: list[Balance] = field(default_factory=list)

    def fail(self, seq: int | None, reason: str) -> None:
        if self.first_error is None:
            self.ok = False
            self.first_error = VerifyProblem(seq, reason)


@dataclass(slots=True)
class _Posting:
    actor: str
    asset_id: int | None
    kind: str
    lines: list[tuple[str, str, int]]
    state: EntryStatus = EntryStatus.PENDING


def verify(
    session: Session,
    *,
    principal: Principal | None = None,
    expect_seq: int | None = None,
    expect_hash: str | None = None,
) -> VerifyReport:
    """Replays the whole ledger: recomputes every hash and link, every rule, every balance.

    Checks, entry by entry: sequence without gaps, ``prev_hash`` equal to the previous entry's
    hash, the stored hash equal to the recomputed one (so any changed field or line shows),
    lines balanced per currency on known accounts, decisions made once, by an approver other
    than the maker, on an earlier pending posting, reversals the exact negation of a posted
    entry, and no account below zero for any asset after each approval. At the end: the chain
    head names the last entry, the derived balances equal the SQL aggregation served by the
    API, every currency sums to zero, and (if given) the anchor ``expect_seq``/``expect_hash``
    from an earlier run still matches. Stops at the first inconsistent entry.
    """
    if principal is not None:
        require_read(principal)
    report = VerifyReport()
    repository = LedgerRepository(session)
    previous = GENESIS_HASH
    expected = 1
    postings: dict[int, _Posting] = {}
    totals: dict[tuple[int | None, str, str], int] = defaultdict(int)
    anchor_seen = expect_seq is None
    for entry in repository.stream():
        report.entries += 1
        seq = entry.seq
        if seq != expected:
            report.fail(seq, f"sequence gap: expected entry {expected}, found {seq}")
            break
        if entry.prev_hash != previous:
            report.fail(seq, "prev_hash does not match the previous entry's hash")
            break
        lines = [
            (line.line_no, line.account, line.currency, line.amount_minor) for line in entry.lines
        ]
        recomputed = entry_hash(
            canonical_entry(
                seq=seq,
                prev_hash=entry.prev_hash,
                kind=entry.kind,
                created_at=entry.created_at,
                actor=entry.actor,
                actor_role=entry.actor_role,
                idempotency_key=entry.idempotency_key,
                asset_id=entry.asset_id,
                memo=entry.memo,
                decision_for=entry.decision_for,
                reverses=entry.reverses,
                data=entry.data,
                lines=lines,
            )
        )
        if recomputed != entry.entry_hash:
            report.fail(seq, "hash mismatch: the entry or its lines changed after it was written")
            break
        if expect_seq is not None and seq == expect_seq:
            anchor_seen = True
            if expect_hash is not None and entry.entry_hash != expect_hash:
                report.fail(seq, "anchor mismatch: this entry's hash differs from the anchor")
                break
        problem = _check_entry(entry, postings, totals)
        if problem is not None:
            report.fail(seq, problem)
            break
        previous = entry.entry_hash
        expected += 1
    report.head_seq = expected - 1
    report.head_hash = previous
    if report.ok and not anchor_seen:
        report.fail(expect_seq, "anchor entry not found: the ledger is shorter than the anchor")
    if report.ok:
        head = repository.read_head()
        head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
        if (head_seq, head_hash) != (report.head_seq, report.head_hash):
            report.fail(
                report.head_seq + 1 if head_seq > report.head_seq else head_seq or None,
                f"chain head names entry {head_seq} but the chain ends at {report.head_seq}:"
                " entries were removed or written outside the ledger service",
            )
    report.postings = len(postings)
    for posting in postings.values():
        if posting.state is EntryStatus.POSTED:
            report.posted += 1
        elif posting.state is EntryStatus.VOIDED:
            report.voided += 1
        else:
            report.pending += 1
    derived: dict[tuple[str, str], int] = defaultdict(int)
    currency_totals: dict[str, int] = defaultdict(int)
    for (_asset, account, currency), amount in totals.items():
        derived[(account, currency)] += amount
        currency_totals[currency] += amount
    report.currency_totals = dict(sorted(currency_totals.items()))
    if report.ok:
        for currency, total in currency_totals.items():
            if total:
                report.fail(None, f"posted balances in {currency} sum to {total}, not zero")
        served = {(a, c): posted for a, c, posted, _ in repository.balances()}
        for key in sorted(set(served) | set(derived)):
            if served.get(key, 0) != derived.get(key, 0):
                report.fail(
                    None,
                    f"balance of {key[0]} {key[1]} is {served.get(key, 0)} in the database"
                    f" view but {derived.get(key, 0)} replaying the chain",
                )
                break
    report.balances = [
        Balance(account, currency, amount, 0)
        for (account, currency), amount in sorted(derived.items())
    ]
    return report


def _check_entry(
    entry: LedgerEntry,
    postings: dict[int, _Posting],
    totals: dict[tuple[int | None, str, str], int],
) -> str | None:
    """Applies one entry to the replay state; returns what is wrong with it, if anything."""
    try:
        kind = EntryKind(entry.kind)
    except ValueError:
        return f"unknown entry kind {entry.kind!r}"
    try:
        check_plain_json(entry.data)
    except ValueError as error:
        return str(error)
    if kind.is_decision:
        if entry.lines:
            return "a decision carries no lines"
        target = postings.get(entry.decision_for or 0)
        if target is None:
            return f"decision for entry {entry.decision_for}, which is not an earlier posting"
        if target.state is not EntryStatus.PENDING:
            return f"entry {entry.decision_for} was already decided"
        if entry.actor == target.actor:
            return "maker-checker broken: the maker decided their own posting"
        if entry.actor_role not in {role.value for role in APPROVER_ROLES}:
            return f"decision by role {entry.actor_role}, which may not approve"
        if kind is EntryKind.VOID:
            target.state = EntryStatus.VOIDED
            return None
        target.state = EntryStatus.POSTED
        # An entry applies as a whole: balances are checked after all of its lines.
        touched = []
        for account, currency, amount in target.lines:
            key = (target.asset_id, account, currency)
            totals[key] += amount
            touched.append(key)
        for asset_id, account, currency in touched:
            if accounts.normal_sign(account) * totals[(asset_id, account, currency)] < 0:
                return (
                    f"approving entry {entry.decision_for} takes {account} {currency} below zero"
                    f" for asset {asset_id}"
                )
        return None
    if entry.decision_for is not None:
        return "a posting cannot name a decision target"
    lines = [Line(line.account, line.currency, line.amount_minor) for line in entry.lines]
    try:
        validate_lines(lines)
    except Invalid as error:
        return f"invalid posting: {error.message}"
    if kind is EntryKind.REVERSAL:
        target = postings.get(entry.reverses or 0)
        if target is None or target.state is not EntryStatus.POSTED:
            return f"reversal of entry {entry.reverses}, which is not a posted entry"
        if sorted((a, c, -x) for a, c, x in target.lines) != sorted(
            (line.account, line.currency, line.amount_minor) for line in lines
        ):
            return f"reversal lines are not the negation of entry {entry.reverses}"
        if entry.asset_id != target.asset_id:
            return "a reversal belongs to the asset of the entry it reverses"
    elif entry.reverses is not None:
        return "only a reversal may name an entry it reverses"
    postings[entry.seq] = _Posting(
        actor=entry.actor,
        asset_id=entry.asset_id,
        kind=entry.kind,
        lines=[(line.account, line.currency, line.amount_minor) for line in lines],
    )
    return None


# -- idempotent requests --------------------------------------------------------------------


def run_idempotent(
    session: Session,
    *,
    principal: Principal,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    operation: Callable[[], Any],
    status_code: int = 200,
) -> Any:
    """Runs a write once per idempotency key and replays its stored response afterwards.

    The same key with the same request (method, path, caller and body) returns the first
    response without doing anything; with a different request, 409. A refused request
    stores nothing (it rolls back), so retrying it with the same key tries again.
    """
    require_write(principal)
    if key is None:
        raise Invalid("the Idempotency-Key header is required on every write")
    _check_key(key)
    acquire_write_lock(session)
    repository = LedgerRepository(session)
    request = fingerprint({"method": method, "path": path, "actor": principal.actor, "body": body})
    record = repository.idempotency_record(key)
    if record is not None:
        if record.fingerprint != request:
            raise Conflict(
                "this Idempotency-Key was already used for a different request",
                {"key": key, "first_used_for": f"{record.method} {record.path}"},
            )
        return record.response
    response = operation()
    repository.add_idempotency_record(
        IdempotencyRecord(
            key=key,
            fingerprint=request,
            actor=principal.actor,
            method=method,
            path=path,
            status_code=status_code,
            response=response,
            created_at=utc_now(),
        )
    )
    return response
