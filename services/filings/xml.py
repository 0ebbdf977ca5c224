"""Building and checking filing XML: ElementTree only, never string concatenation."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET  # noqa: S405 - building documents, never parsing input
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import xmlschema

from services.errors import ServiceError

FINCEN_NS = "www.fincen.gov/base"
XSD_DIR = Path(__file__).parent / "xsd"
SCHEMAS = {"SARX": "EFL_SARXBatchSchema.xsd", "CTRX": "EFL_CTRXBatchSchema.xsd"}

ET.register_namespace("fc2", FINCEN_NS)


# Characters XML 1.0 does not allow (C0 controls but tab, LF, CR; lone surrogates; U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class ValueTooLong(ServiceError):
    """A value longer than the filing format allows: refused, never cut."""

    def __init__(self, field_name: str, max_length: int, length: int) -> None:
        super().__init__(
            f"{field_name} allows {max_length} characters, the value has {length}: shorten it",
            422,
            [
                {
                    "field": field_name,
                    "message": f"at most {max_length} characters ({length} given)",
                }
            ],
        )


def clean(value: Any, max_length: int, field_name: str = "value") -> str:
    """Returns a value FinCEN accepts: no CR/LF/TAB or control characters, no edge spaces;
    longer than ``max_length``, it is refused (:class:`ValueTooLong`), never cut."""
    text = " ".join(_NOT_XML.sub(" ", str(value)).split())
    if len(text) > max_length:
        raise ValueTooLong(field_name, max_length, len(text))
    return text


def whole_dollars(amount: Decimal) -> int:
    """FinCEN amounts are whole US dollars, rounded up (e.g. 5,265.25 → 5,266)."""
    return int(math.ceil(amount))


@dataclass
class FinCENBuilder:
    """Creates FinCEN elements; every complex element gets a batch-unique ``SeqNum``."""

    seq: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**9)))

    def tag(self, name: str) -> str:
        return f"{{{FINCEN_NS}}}{name}"

    def complex(self, parent: ET.Element | None, name: str) -> ET.Element:
        attrib = {"SeqNum": str(next(self.seq))}
        if parent is None:
            return ET.Element(self.tag(name), attrib)
        return ET.SubElement(parent, self.tag(name), attrib)

    def text(self, parent: ET.Element, name: str, value: Any, max_length: int = 150) -> ET.Element:
        element = ET.SubElement(parent, self.tag(name))
        element.text = clean(value, max_length, name) if value is not None else ""
        return element

    def flag(self, parent: ET.Element, name: str, on: bool = True) -> ET.Element:
        """An indicator: "Y", or empty when the schema wants the element present but unset."""
        return self.text(parent, name, "Y" if on else "")


def serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


@lru_cache(maxsize=4)
def fincen_schema(form: str) -> xmlschema.XMLSchema11:
    """The official FinCEN batch schema of ``form`` (XSD 1.1), loaded once per process."""
    return xmlschema.XMLSchema11(str(XSD_DIR / SCHEMAS[form]))


class InvalidFiling(ServiceError):
    """The generated document does not validate: a bug here, never the caller's fault."""

    def __init__(self, form: str, errors: list[str]) -> None:
        super().__init__(f"the generated {form} batch failed XSD validation", 500, errors[:20])


def validate_fincen(form: str, document: bytes) -> None:
    """Validates a batch against the official schema; raises InvalidFiling if it fails."""
    schema = fincen_schema(form)
    errors = [
        f"{error.path}: {error.reason}" for error in schema.iter_errors(document.decode("utf-8"))
    ]
    if errors:
        raise InvalidFiling(form, errors)


class MissingData(ServiceError):
    """Mandatory data is missing: 422 listing each field, never an invalid file."""

    def __init__(self, missing: list[dict[str, str]]) -> None:
        super().__init__("mandatory filing data is missing", 422, missing)
