"""The filing profile: who transmits, who files, and each FIU's goAML codes.

None of this is in a report, so it is configuration: ``<data dir>/filing-profile.json`` (the
``AMLSCREEN_DATA_DIR`` of the process), read when it changes. Without it, or without the block
an export needs, exports answer 422 and list what is missing. A block that is present must be
complete and well-formed; a malformed file is a 503 naming the problem.

goAML report codes and lookups (``transmode_codes``, ``funds_codes``, ``account_type``...) are
FIU-specific (DOMAIN.md §1.6, §5 item 8): the defaults below are placeholders in goAML's style
that an operator replaces with the target FIU's tables.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Annotated

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
    def __init__(self, path: Path, error: ValidationError) -> None:
        problems = [
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
            for item in error.errors(include_url=False, include_input=False)
        ]
        super().__init__(f"the filing profile {path} is invalid", 503, problems)


_cache: dict[Path, tuple[float, FilingProfile]] = {}
_lock = threading.Lock()


def load_profile(data_dir: Path) -> FilingProfile:
    """Returns the profile of ``data_dir`` (empty if there is no file), re-read on change."""
    path = (data_dir / PROFILE_FILE).resolve()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return FilingProfile()
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            profile = FilingProfile.model_validate_json(path.read_bytes())
        except ValidationError as error:
            raise ProfileInvalid(path, error) from None
        _cache[path] = (mtime, profile)
        return profile
