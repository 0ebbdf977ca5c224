"""Turns raw message bytes into a validated report, or a reason it is refused."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from refdata.wire import ReportV1, describe_errors


class DecodeFailure(StrEnum):
    """Why a message was refused; a bounded set, used as a metric label."""

    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    INVALID = "invalid"
    CONFLICT = "conflict"
    # The database refused the report's row (a data or integrity error), alone in its batch.
    REFUSED = "refused"
    # Processing the report raised an unexpected error, alone in its batch.
    ERROR = "error"
    # A report on an institution's Kafka topic naming another institution (DESIGN.md §8).
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True, slots=True)
class DecodeError:
    kind: DecodeFailure
    reason: str


def decode_report(raw: bytes | None, *, max_bytes: int) -> ReportV1 | DecodeError:
    """Validates one wire-format v1 message."""
    if raw is None:
        return DecodeError(DecodeFailure.NOT_JSON, "empty message (null value)")
    if len(raw) > max_bytes:
        return DecodeError(
            DecodeFailure.TOO_LARGE, f"message of {len(raw)} bytes exceeds {max_bytes} bytes"
        )
    try:
        return ReportV1.model_validate_json(raw)
    except ValidationError as error:
        errors = error.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as utf_error:
                return DecodeError(DecodeFailure.NOT_UTF8, f"not UTF-8: {utf_error.reason}")
            return DecodeError(DecodeFailure.NOT_JSON, f"not JSON: {errors[0]['msg']}")
        if errors and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
            return DecodeError(DecodeFailure.INVALID, "a report must be a JSON object")
        details = "; ".join(f"{e['field']}: {e['message']}" for e in describe_errors(error))
        return DecodeError(DecodeFailure.INVALID, details)
