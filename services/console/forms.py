"""Turning HTML forms into the services' request models, and describing the forms to show.

A browser sends strings; empty fields mean "not given". Validation errors become the same
422 the API gives (every field listed), rendered as a checklist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from refdata.money import to_minor_units
from refdata.typologies import TYPOLOGIES
from services.alerts.enums import AlertStatus, Disposition
from services.alerts.lifecycle import DECISION_ROLES, allowed_targets, needs_decision_role
from services.assets.enums import AssetStatus, SeizingAuthority
from services.assets.enums import Disposition as AssetDisposition
from services.auth.enums import Role
from services.errors import ServiceError

M = TypeVar("M", bound=BaseModel)


def blank_to_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: (None if value == "" else value) for key, value in data.items()}


def parse_model(model: type[M], data: Mapping[str, Any]) -> M:
    """Validates form data as ``model``; raises a 422 listing every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ServiceError(
            "the form has errors",
            422,
            [
                {
                    "field": ".".join(str(part) for part in item["loc"]) or "form",
                    "message": item["msg"],
                }
                for item in error.errors(include_url=False)
            ],
        ) from None


def utc_datetime(value: str | None, field_name: str) -> datetime | None:
    """A ``datetime-local`` value read as UTC (the console shows every time in UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ServiceError(
            "the form has errors", 422, [{"field": field_name, "message": "not a date and time"}]
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def minor_units(value: str | None, currency: str, field_name: str) -> int | None:
    """An amount typed in major units (``1,250.00``) as integer minor units."""
    if not value:
        return None
    try:
        return to_minor_units(value.replace(",", "").strip(), currency)
    except ValueError as error:
        raise ServiceError(
            "the form has errors", 422, [{"field": field_name, "message": str(error)}]
        ) from None


def lines(value: str | None) -> list[str]:
    """A textarea of one item per line."""
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str  # text | textarea | select | datetime | number | money
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Move:
    """A lifecycle move the user may take, and the fields it needs."""

    target: str
    label: str
    fields: tuple[Field, ...] = field(default_factory=tuple)


_DISPOSITIONS = tuple((d.value, d.value.replace("_", " ").lower()) for d in Disposition)
# The investigator's typology on filing or closing: the label retraining learns from.
_TYPOLOGY = Field(
    "typology",
    "Typology (your finding)",
    "select",
    options=tuple((name, name.replace("_", " ")) for name in TYPOLOGIES),
    hint="what the activity was; retraining learns from it, not from the model's guess",
)
_EVIDENCE = Field("evidence", "Evidence references (one per line)", "textarea")
_RATIONALE = Field("rationale", "Rationale", "textarea")
_MOVE_LABELS = {
    AlertStatus.TRIAGE: "Start triage",
    AlertStatus.INVESTIGATING: "Investigate",
    AlertStatus.INFO_REQUESTED: "Request information",
    AlertStatus.ESCALATED: "Escalate (suspicion determined)",
    AlertStatus.PENDING_FILING_DECISION: "Send for the filing decision",
    AlertStatus.FILED: "File",
    AlertStatus.CLOSED: "Close",
}


def alert_moves(status: str, role: Role) -> list[Move]:
    """The moves of the alert/case lifecycle this role may take from ``status``.

    The same table and role rules the service applies (``services.alerts.lifecycle``): a
    move the role may not take is not offered, and the service refuses it anyway.
    """
    current = AlertStatus(status)
    moves = []
    for target in sorted(allowed_targets(current), key=list(AlertStatus).index):
        if needs_decision_role(current, target) and role not in DECISION_ROLES:
            continue
        fields: list[Field] = []
        if target is AlertStatus.CLOSED:
            fields.append(
                Field(
                    "disposition",
                    "Disposition",
                    "select",
                    required=True,
                    options=_DISPOSITIONS,
                )
            )
            fields.append(Field("rationale", "Rationale", "textarea", required=True))
            fields.append(_TYPOLOGY)
        elif target is AlertStatus.FILED:
            fields.append(
                Field(
                    "filing_reference",
                    "Filing reference",
                    "text",
                    required=True,
                    hint="the BSA ID or the FIU's acknowledgement number",
                )
            )
            fields.append(_RATIONALE)
            fields.append(_TYPOLOGY)
        elif current is AlertStatus.CLOSED:
            fields.append(Field("rationale", "Why reopen", "textarea", required=True))
        else:
            fields.append(_RATIONALE)
        if target is AlertStatus.ESCALATED:
            fields.append(
                Field(
                    "suspicion_determined_at",
                    "Suspicion determined at (UTC)",
                    "datetime",
                    hint="leave empty for now: the SAR clock starts at this moment",
                )
            )
        fields.append(_EVIDENCE)
        label = _MOVE_LABELS.get(target, target.value)
        if current is AlertStatus.CLOSED:
            label = "Reopen"
        moves.append(Move(target.value, label, tuple(fields)))
    return moves


_STATUS_OPTIONS = tuple((s.value, s.value.replace("_", " ").lower()) for s in SeizingAuthority)


def asset_fields(target: AssetStatus) -> tuple[Field, ...]:
    """What an asset lifecycle step asks for (the service checks what it requires)."""
    S = AssetStatus
    common = (
        Field("at", "When it happened (UTC)", "datetime", hint="empty: now"),
        Field("note", "Note", "textarea"),
    )
    specific: tuple[Field, ...] = ()
    if target is S.SEIZED:
        specific = (
            Field("seizing_authority", "Seizing authority", "select", True, _STATUS_OPTIONS),
            Field("seizure_number", "Seizure number", "text"),
            Field("custodian", "Custodian", "text"),
        )
    elif target is S.CLAIM_FILED:
        specific = (Field("claimant", "Claimant id", "text", True),)
    elif target in (S.FORFEITED_ADMIN, S.FORFEITED_JUDICIAL):
        specific = (
            Field("amount_minor", "Forfeited amount", "money", hint="empty: the asset's value"),
        )
    elif target in (S.REMITTED, S.RESTORED):
        specific = (
            Field("amount_minor", "Amount", "money", True),
            Field("claimant", "Claimant id", "text", hint="empty: the petitioner"),
        )
    elif target is S.DISPOSED:
        specific = (
            Field(
                "disposition",
                "Disposition",
                "select",
                True,
                tuple((d.value, d.value.replace("_", " ").lower()) for d in AssetDisposition),
            ),
            Field("proceeds_minor", "Sale proceeds", "money", hint="when sold"),
        )
    elif target is S.SHARING_DECIDED:
        specific = (
            Field("rationale", "Rationale", "textarea", True),
            Field("federal_pct", "Federal share (%)", "number", hint="at least 20; empty: 20"),
        )
    return specific + common
