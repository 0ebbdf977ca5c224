"""The subject key: how one person or entity is recognised across reports and institutions.

One rule, used for the Kafka partition key, the store's lookups, detection's windows and the
simulator: the key is ``<TYPE>-<digest>`` of the subject's strongest identifier (SSN, ITIN,
EIN, RFC, CURP, passport, in that order; the value normalised to upper-case alphanumerics;
its country included), so the same person reported by two institutions shares one key.
Without such an identifier the key is ``LOCAL-<digest>`` of the institution and its own
subject id. Raw identifier values never leave the report: only their digests do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# Strongest first: a tax or national identifier links a subject across institutions.
IDENTIFIER_PRIORITY: tuple[str, ...] = ("SSN", "ITIN", "EIN", "RFC", "CURP", "PASSPORT")

_NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]")


class KeyedIdentifier(Protocol):
    """An identifier of a subject, with its digest (see :func:`identifier_digest`)."""

    @property
    def type(self) -> str: ...

    @property
    def digest(self) -> str: ...


def normalize_identifier(value: str) -> str:
    """Returns an identifier value without separators, upper-cased."""
    return _NOT_ALPHANUMERIC.sub("", value).upper()


def identifier_digest(id_type: str, country: str | None, value: str) -> str:
    """Returns a stable digest of an identifier, so raw SSN/RFC/CURP never leave the record."""
    material = f"{id_type}|{country or ''}|{normalize_identifier(value)}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def subject_key(
    institution_id: str, subject_id: str, identifiers: Iterable[KeyedIdentifier]
) -> str:
    """Returns the subject key (module docstring) of a subject with these identifiers.

    Of several identifiers of one type the last counts; the digest is read only from the
    identifier that is chosen.
    """
    by_type = {identifier.type: identifier for identifier in identifiers}
    for id_type in IDENTIFIER_PRIORITY:
        chosen = by_type.get(id_type)
        if chosen is not None:
            return f"{id_type}-{chosen.digest}"
    material = f"{institution_id}|{subject_id}"
    return f"LOCAL-{hashlib.sha256(material.encode()).hexdigest()[:32]}"


@dataclass(frozen=True, slots=True)
class _DocumentIdentifier:
    """An identifier object of a wire document (a plain mapping, not validated)."""

    type: str
    country: str | None
    value: str

    @property
    def digest(self) -> str:
        return identifier_digest(self.type, self.country, self.value)


def document_subject_key(institution_id: str, subject: Mapping[str, Any]) -> str:
    """The subject key of a wire ``subject`` object given as plain JSON values.

    For documents read back from the store or made by the simulator, which are not validated
    again: surrounding whitespace is ignored as validation would strip it, so a raw document
    and its validated report get the same key.
    """
    identifiers = [
        _DocumentIdentifier(
            str(identifier["type"]).strip(),
            (identifier.get("country") or "").strip() or None,
            str(identifier["value"]),
        )
        for identifier in subject.get("identifiers") or ()
    ]
    return subject_key(institution_id.strip(), str(subject["subject_id"]).strip(), identifiers)
