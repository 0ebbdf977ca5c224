"""Closed vocabularies of the forfeiture-sharing ledger (DOMAIN.md §3.6-3.7)."""

from enum import StrEnum


class EntryKind(StrEnum):
    """What an entry records. Postings carry lines; decisions resolve a posting."""

    FORFEITURE = "forfeiture"  # money-like property forfeited: proceeds realised at once
    SALE = "sale"  # forfeited property sold: gross proceeds realised
    PROCEEDS = "proceeds"  # other realised proceeds (e.g. a late recovery)
    EXPENSE = "expense"  # custody, storage, sale costs paid from the proceeds
    REMISSION = "remission"  # amount granted to a petitioner (remission or restoration)
    ALLOCATION = "allocation"  # the equitable-sharing decision
    DISBURSEMENT = "disbursement"  # a payable paid out (agency, foreign government, claimant)
    REVERSAL = "reversal"  # the exact negation of an earlier posting
    APPROVE = "approve"  # checker approves a pending posting: it becomes posted
    VOID = "void"  # checker voids a pending posting: it never counts

    @property
    def is_decision(self) -> bool:
        return self in (EntryKind.APPROVE, EntryKind.VOID)


class EntryStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    DECISION = "decision"  # an approve/void record itself


class ShareRole(StrEnum):
    """A sharing participant's side; decides the account its share is credited to."""

    FEDERAL = "federal"
    STATE = "state"
    LOCAL = "local"
    FOREIGN = "foreign"

    @property
    def is_state_or_local(self) -> bool:
        return self in (ShareRole.STATE, ShareRole.LOCAL)
