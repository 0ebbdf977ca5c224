"""The canonical serialisation of a ledger entry and its SHA-256 chain hash.

The hash covers every stored field of the entry and of its lines, and the previous entry's
hash, so changing, inserting or removing anything before the head breaks the chain at that
entry. Canonical form: JSON with sorted keys and no whitespace (orjson), datetimes as ISO 8601
UTC with microseconds and a ``Z``, integers as JSON integers (never floats), lines as
``[line_no, account, currency, amount_minor]`` in ``line_no`` order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS_HASH = "0" * 64
CHAIN_VERSION = 1


def format_time(value: datetime) -> str:
    """Renders an aware datetime as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_plain_json(value: Any, path: str = "data") -> None:
    """Refuses floats and other values whose JSON form would not round-trip exactly.

    Raises:
        ValueError: a float, or a type JSON cannot carry, somewhere inside ``value``.
    """
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise ValueError(f"{path}: integer out of the 64-bit range")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_plain_json(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be strings")
            check_plain_json(item, f"{path}.{key}")
        return
    raise ValueError(f"{path}: {type(value).__name__} is not allowed (use strings or integers)")


def canonical_entry(
    *,
    seq: int,
    prev_hash: str,
    kind: str,
    created_at: datetime,
    actor: str,
    actor_role: str,
    idempotency_key: str,
    asset_id: int | None,
    memo: str | None,
    decision_for: int | None,
    reverses: int | None,
    data: dict[str, Any],
    lines: Sequence[tuple[int, str, str, int]],
) -> bytes:
    """Returns the canonical bytes of an entry (see the module docstring)."""
    document = {
        "v": CHAIN_VERSION,
        "seq": seq,
        "prev_hash": prev_hash,
        "kind": kind,
        "created_at": format_time(created_at),
        "actor": actor,
        "actor_role": actor_role,
        "idempotency_key": idempotency_key,
        "asset_id": asset_id,
        "memo": memo,
        "decision_for": decision_for,
        "reverses": reverses,
        "data": data,
        "lines": [list(line) for line in sorted(lines)],
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def entry_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def fingerprint(document: Any) -> str:
    """SHA-256 of a JSON-able document in canonical form (idempotency comparisons)."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
