"""Asset vocabularies and the lifecycle of DOMAIN.md §3.5."""

from enum import StrEnum


class AssetType(StrEnum):
    CURRENCY = "currency"
    MONETARY_INSTRUMENT = "monetary_instrument"
    ACCOUNT_FUNDS = "account_funds"
    VEHICLE = "vehicle"
    VESSEL = "vessel"
    AIRCRAFT = "aircraft"
    REAL_PROPERTY = "real_property"
    JEWELRY = "jewelry"
    VIRTUAL_ASSET = "virtual_asset"
    OTHER = "other"

    @property
    def is_money(self) -> bool:
        """Money-like property: forfeiting it realises its value without a sale."""
        return self in (
            AssetType.CURRENCY,
            AssetType.MONETARY_INSTRUMENT,
            AssetType.ACCOUNT_FUNDS,
        )

    @property
    def admin_forfeitable_at_any_value(self) -> bool:
        """19 USC 1607(a)(4): monetary instruments of any amount (cash counts as one)."""
        return self in (AssetType.CURRENCY, AssetType.MONETARY_INSTRUMENT)


class SeizingAuthority(StrEnum):
    """Who seized: fixes the notice clock (18 USC 983(a)(1)): 60 or 90 days."""

    FEDERAL = "federal"
    STATE_LOCAL = "state_local"


class Disposition(StrEnum):
    SOLD = "SOLD"
    DESTROYED = "DESTROYED"
    OFFICIAL_USE = "OFFICIAL_USE"


class AssetStatus(StrEnum):
    IDENTIFIED = "IDENTIFIED"
    SEIZED = "SEIZED"
    RESTRAINED = "RESTRAINED"
    NOTICED = "NOTICED"
    CLAIM_FILED = "CLAIM_FILED"
    JUDICIAL_REFERRAL = "JUDICIAL_REFERRAL"
    FORFEITED_ADMIN = "FORFEITED_ADMIN"
    FORFEITED_JUDICIAL = "FORFEITED_JUDICIAL"
    REMISSION_PENDING = "REMISSION_PENDING"
    REMITTED = "REMITTED"
    RESTORED = "RESTORED"
    REMISSION_DENIED = "REMISSION_DENIED"
    DISPOSED = "DISPOSED"
    SHARING_REQUESTED = "SHARING_REQUESTED"
    SHARING_DECIDED = "SHARING_DECIDED"
    DISBURSED = "DISBURSED"
    TRANSFERRED_FOREIGN = "TRANSFERRED_FOREIGN"
    RETURNED = "RETURNED"


S = AssetStatus
_AFTER_REMISSION = frozenset({S.REMISSION_PENDING, S.DISPOSED, S.SHARING_REQUESTED})
# Money-like property needs no sale: it may go from forfeiture straight to the sharing request
# (the service refuses that for other property until it is disposed of).
_AFTER_FORFEITURE = frozenset({S.REMISSION_PENDING, S.DISPOSED, S.SHARING_REQUESTED})

# Allowed transitions. Guards that depend on data (deadlines, proceeds, concurrence, pending
# postings) are checked by the service on top of this table.
TRANSITIONS: dict[AssetStatus, frozenset[AssetStatus]] = {
    S.IDENTIFIED: frozenset({S.SEIZED, S.RESTRAINED}),
    S.RESTRAINED: frozenset({S.SEIZED, S.NOTICED, S.RETURNED}),
    S.SEIZED: frozenset({S.NOTICED, S.RETURNED}),
    S.NOTICED: frozenset({S.CLAIM_FILED, S.FORFEITED_ADMIN, S.RETURNED}),
    S.CLAIM_FILED: frozenset({S.JUDICIAL_REFERRAL, S.RETURNED}),
    S.JUDICIAL_REFERRAL: frozenset({S.FORFEITED_JUDICIAL, S.RETURNED}),
    S.FORFEITED_ADMIN: _AFTER_FORFEITURE,
    S.FORFEITED_JUDICIAL: _AFTER_FORFEITURE,
    S.REMISSION_PENDING: frozenset({S.REMITTED, S.RESTORED, S.REMISSION_DENIED}),
    # After a petition is decided the asset goes on where it was: to disposal, or (if it
    # was already disposed of) back to the sharing request; another petition may follow.
    S.REMITTED: _AFTER_REMISSION,
    S.RESTORED: _AFTER_REMISSION,
    S.REMISSION_DENIED: _AFTER_REMISSION,
    S.DISPOSED: frozenset({S.REMISSION_PENDING, S.SHARING_REQUESTED}),
    S.SHARING_REQUESTED: frozenset({S.REMISSION_PENDING, S.SHARING_DECIDED}),
    # A decision whose allocation was voided or reversed is decided again.
    S.SHARING_DECIDED: frozenset({S.SHARING_DECIDED, S.DISBURSED, S.TRANSFERRED_FOREIGN}),
    S.DISBURSED: frozenset(),
    S.TRANSFERRED_FOREIGN: frozenset(),
    S.RETURNED: frozenset(),
}

FORFEITED = frozenset({S.FORFEITED_ADMIN, S.FORFEITED_JUDICIAL})
# States in which a claim (before forfeiture) or a petition (after) is open.
CLAIM_OPEN = frozenset({S.CLAIM_FILED, S.JUDICIAL_REFERRAL})
PETITION_OPEN = frozenset({S.REMISSION_PENDING})
# After forfeiture and before the sharing decision: proceeds and expenses may be posted.
PROCEEDS_OPEN = frozenset(
    {
        S.FORFEITED_ADMIN,
        S.FORFEITED_JUDICIAL,
        S.REMISSION_PENDING,
        S.REMITTED,
        S.RESTORED,
        S.REMISSION_DENIED,
        S.DISPOSED,
        S.SHARING_REQUESTED,
    }
)
TERMINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)


class DeadlineKind(StrEnum):
    NOTICE = "notice"  # 60/90 days from seizure (18 USC 983(a)(1))
    COMPLAINT = "complaint"  # 90 days from a claim (18 USC 983(a)(3))
    SHARING_REQUEST = "sharing_request"  # 45 days from forfeiture (DAG-71 / TD F 92-22.46)


class EventKind(StrEnum):
    REGISTERED = "registered"
    TRANSITION = "transition"
    PARTICIPANT_ADDED = "participant_added"
    CONCURRENCE_RECORDED = "concurrence_recorded"
    CUSTODY_CHANGED = "custody_changed"
    POSTING_PROPOSED = "posting_proposed"
