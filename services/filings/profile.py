"""The filing profile: who transmits, who files, and each FIU's goAML codes.

None of this is in a report, so it is configuration: ``AMLSCREEN_FILING_PROFILE``
(default ``<data dir>/filing-profile.json``), read when it changes. Keys starting with ``//``
are comments (``amlscreen profile init`` writes a template explained that way) and are
ignored. Without it, or without the block an export needs, exports answer 422 and list what
is missing. A block that is present must be complete and well-formed; a malformed file is a
503 naming the problem.

goAML report codes and lookups (``transmode_codes``, ``funds_codes``, ``account_type``...) are
FIU-specific (DOMAIN.md §1.6, §5 item 8): the defaults below are placeholders in goAML's style
that an operator replaces with the target FIU's tables.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.errors import ServiceError

PROFILE_FILE = "filing-profile.json"

Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostalAddress(_Strict):
    street: Text
    city: Text
    state: Annotated[str, Field(min_length=1, max_length=3)] | None = None
    zip: Annotated[str, Field(min_length=1, max_length=9)] | None = None
    country: Annotated[str, Field(min_length=2, max_length=2)] = "US"


class Transmitter(_Strict):
    """The party sending the batch to BSA E-Filing (Party 35) and its contact (Party 37)."""

    name: Text
    tcc: Annotated[str, Field(min_length=1, max_length=25)]  # Transmitter Control Code
    tin: Annotated[str, Field(min_length=1, max_length=25)]
    address: PostalAddress
    phone: Annotated[str, Field(min_length=1, max_length=16)]
    contact_name: Text


class FilingInstitution(_Strict):
    """A reporting institution (Parties 30, 8 and 34), keyed by ``institution_id``."""

    name: Text
    tin: Annotated[str, Field(min_length=1, max_length=25)]
    tin_type: Annotated[str, Field(pattern=r"^(1|2|4|9)$")] = "2"  # EIN
    regulator_code: Annotated[str, Field(pattern=r"^(1|2|3|4|6|7|9|13|14|99)$")]
    organization_type: int = 2  # depository institution
    address: PostalAddress
    contact_office: Text
    contact_phone: Annotated[str, Field(min_length=1, max_length=16)]
    timezone: str = "UTC"  # the CTR business day is local to the institution
    # Cash taken at or after this local hour counts on the next business day (night
    # deposits, 31 CFR 1010.313(b)); None: the detection calendar's cut-off (none by default).
    cutoff_hour: Annotated[int, Field(ge=0, le=23)] | None = None
    branches: dict[str, PostalAddress] = Field(default_factory=dict)
    goaml_rentity_id: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    goaml_branch: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class ReportingPerson(_Strict):
    first_name: Text
    last_name: Text
    occupation: Text | None = None
    email: Text | None = None


class GoAMLProfile(_Strict):
    """One FIU's goAML conventions."""

    jurisdictions: list[str] = Field(default_factory=list)
    submission_code: Annotated[str, Field(pattern=r"^(E|M)$")] = "E"
    currency_code_local: Annotated[str, Field(min_length=3, max_length=3)]
    reporting_person: ReportingPerson
    report_codes: dict[str, str] = Field(
        default_factory=lambda: {"STR": "STR", "TXN": "STR", "LVTR": "CTR"}
    )
    transmode_codes: dict[str, str] = Field(
        default_factory=lambda: {
            "cash": "K",
            "wire": "W",
            "check": "C",
            "ach": "E",
            "card": "D",
            "money_order": "M",
            "crypto": "V",
            "other": "O",
        }
    )
    funds_codes: dict[str, str] = Field(
        default_factory=lambda: {"cash": "K", "deposit": "A", "withdrawal": "B", "other": "O"}
    )
    account_type: str = "A"
    account_status: str = "A"
    indicators: dict[str, str] = Field(default_factory=dict)
    default_indicator: str = "OTHER"
    # Rates to the local currency, for transactions in another currency.
    fx_rates: dict[str, Decimal] = Field(default_factory=dict)
    action: Text | None = None


class FilingProfile(_Strict):
    transmitter: Transmitter | None = None
    institutions: dict[str, FilingInstitution] = Field(default_factory=dict)
    goaml: dict[str, GoAMLProfile] = Field(default_factory=dict)
    # FinCEN amounts are whole US dollars; other currencies need a rate to USD.
    fx_rates_to_usd: dict[str, Decimal] = Field(default_factory=dict)
    # Typology or category name → [SuspiciousActivityTypeID, SuspiciousActivitySubtypeID].
    sar_classification: dict[str, tuple[int, int]] = Field(default_factory=dict)


class ProfileInvalid(ServiceError):
    def __init__(self, path: Path, error: ValidationError | ValueError) -> None:
        if isinstance(error, ValidationError):
            problems = [
                {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
                for item in error.errors(include_url=False, include_input=False)
            ]
        else:
            problems = [{"field": "(file)", "message": f"not JSON: {error}"}]
        super().__init__(f"the filing profile {path} is invalid", 503, problems)
        self.problems = problems


def without_comments(value: Any) -> Any:
    """``value`` without the object keys that start with ``//`` (comments), at any depth."""
    if isinstance(value, dict):
        return {
            key: without_comments(item)
            for key, item in value.items()
            if not (isinstance(key, str) and key.startswith("//"))
        }
    if isinstance(value, list):
        return [without_comments(item) for item in value]
    return value


def parse_profile(path: Path, content: bytes) -> FilingProfile:
    """Validates a profile file's content; raises ProfileInvalid naming every problem."""
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise ProfileInvalid(path, error) from None
    try:
        return FilingProfile.model_validate(without_comments(document))
    except ValidationError as error:
        raise ProfileInvalid(path, error) from None


_cache: dict[Path, tuple[float, FilingProfile]] = {}
_lock = threading.Lock()


def load_profile(path: Path) -> FilingProfile:
    """Returns the profile at ``path`` (empty if there is no file), re-read on change."""
    path = path.resolve()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return FilingProfile()
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        profile = parse_profile(path, path.read_bytes())
        _cache[path] = (mtime, profile)
        return profile
