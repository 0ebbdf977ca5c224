"""Which exports a filing profile makes possible, per institution, and what each still needs.

``amlscreen profile check`` prints it and ``GET /v1/filing-profile/status`` returns it; the
template ``amlscreen profile init`` writes comes from here too, so the three agree.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.filings.profile import FilingInstitution, FilingProfile, GoAMLProfile

PLACEHOLDER = "CHANGE-ME"
EXPORTS = ("fincen-sar", "fincen-ctr", "goaml")


def placeholders(value: Any, path: str) -> list[str]:
    """The paths below ``value`` whose text still holds the template's placeholder."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in placeholders(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [p for n, item in enumerate(value) for p in placeholders(item, f"{path}.{n}")]
    if isinstance(value, str) and PLACEHOLDER in value:
        return [path]
    return []


def _fiu_for(
    profile: FilingProfile, institution: FilingInstitution
) -> tuple[str, GoAMLProfile] | None:
    country = institution.address.country
    matching = [name for name, fiu in profile.goaml.items() if country in fiu.jurisdictions]
    if len(matching) == 1:
        return matching[0], profile.goaml[matching[0]]
    if not matching and len(profile.goaml) == 1:
        name = next(iter(profile.goaml))
        return name, profile.goaml[name]
    return None


def institution_status(
    profile: FilingProfile, institution_id: str, institution: FilingInstitution
) -> dict[str, dict[str, Any]]:
    base = f"institutions.{institution_id}"
    fincen_fields = institution.model_dump(
        mode="json", exclude={"goaml_rentity_id", "goaml_branch"}
    )
    common = [f"{p} (placeholder)" for p in placeholders(fincen_fields, base)]
    transmitter: list[str] = []
    if profile.transmitter is None:
        transmitter.append("transmitter (name, TCC, TIN, address, phone, contact_name)")
    else:
        transmitter += [
            f"{p} (placeholder)"
            for p in placeholders(profile.transmitter.model_dump(mode="json"), "transmitter")
        ]
    ctr = list(transmitter)
    try:
        ZoneInfo(institution.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        ctr.append(f"{base}.timezone (unknown time zone {institution.timezone!r})")
    goaml: list[str] = []
    if not institution.goaml_rentity_id:
        goaml.append(f"{base}.goaml_rentity_id (the reporting entity's goAML id)")
    goaml += [
        f"{p} (placeholder)"
        for p in placeholders(
            institution.model_dump(mode="json", include={"goaml_rentity_id", "goaml_branch"}), base
        )
    ]
    chosen = _fiu_for(profile, institution)
    if chosen is None:
        goaml.append(
            f"goaml.<FIU> whose jurisdictions include {institution.address.country}"
            " (currency_code_local, reporting_person, codes)"
        )
    else:
        name, fiu = chosen
        for kind in ("STR", "LVTR"):
            if kind not in fiu.report_codes:
                goaml.append(f"goaml.{name}.report_codes.{kind}")
        for kind in ("cash", "deposit", "withdrawal", "other"):
            if kind not in fiu.funds_codes:
                goaml.append(f"goaml.{name}.funds_codes.{kind}")
        goaml += [
            f"{p} (placeholder)" for p in placeholders(fiu.model_dump(mode="json"), f"goaml.{name}")
        ]
    needs = {
        "fincen-sar": common + transmitter,
        "fincen-ctr": common + ctr,
        "goaml": common + goaml,
    }
    return {export: {"ready": not items, "needs": items} for export, items in needs.items()}


def profile_status(profile: FilingProfile) -> dict[str, Any]:
    """Per institution and export: ready or not, and what is still needed."""
    institutions = {
        institution_id: institution_status(profile, institution_id, institution)
        for institution_id, institution in sorted(profile.institutions.items())
    }
    needs = []
    if not institutions:
        needs.append(
            "institutions.<institution_id> (name, TIN, regulator, address, contact): exports"
            " are made per institution"
        )
    return {
        "institutions": institutions,
        "needs": needs,
        "fx_rates_to_usd": sorted(profile.fx_rates_to_usd),
        "ready": bool(institutions)
        and all(export["ready"] for item in institutions.values() for export in item.values()),
    }


def template() -> dict[str, Any]:
    """The commented profile template (``//`` keys are comments; CHANGE-ME marks placeholders)."""
    return {
        "//": [
            "amlscreen filing profile: who transmits and who files FinCEN SAR/CTR batches,",
            "and each FIU's goAML codes. Keys starting with // are comments. Replace every",
            "CHANGE-ME, then run `amlscreen profile check` (or GET /v1/filing-profile/status)",
            "to see what each export still needs. Remove blocks you do not use (e.g. goaml).",
        ],
        "transmitter": {
            "//": "FinCEN BSA E-Filing transmitter (Party 35) and its contact (Party 37)",
            "name": "CHANGE-ME transmitter legal name",
            "tcc": "CHANGE-ME",
            "// tcc": "Transmitter Control Code issued by FinCEN (starts with P for production)",
            "tin": "CHANGE-ME",
            "address": {
                "street": "CHANGE-ME",
                "city": "CHANGE-ME",
                "state": "VA",
                "zip": "00000",
                "country": "US",
            },
            "phone": "0000000000",
            "contact_name": "CHANGE-ME",
        },
        "institutions": {
            "//": "one entry per reporting institution, keyed by the institution_id of its reports",
            "US-FI-0001": {
                "name": "CHANGE-ME filing institution name",
                "tin": "CHANGE-ME",
                "tin_type": "2",
                "// tin_type": "1 SSN/ITIN, 2 EIN, 4 foreign, 9 other",
                "regulator_code": "4",
                "// regulator_code": "FinCEN PrimaryRegulatorTypeCode (4 OCC, 2 FDIC, 3 FRB, ...)",
                "address": {
                    "street": "CHANGE-ME",
                    "city": "CHANGE-ME",
                    "state": "TX",
                    "zip": "00000",
                    "country": "US",
                },
                "contact_office": "CHANGE-ME BSA office",
                "contact_phone": "0000000000",
                "timezone": "America/Chicago",
                "// timezone": "the CTR business day is the institution's local day",
                "cutoff_hour": None,
                "// cutoff_hour": "cash at or after this local hour counts on the next business day"
                " (night deposits); null: none",
                "branches": {},
                "goaml_rentity_id": "CHANGE-ME",
                "// goaml_rentity_id": "the reporting entity id the FIU gave it (goAML exports)",
            },
        },
        "goaml": {
            "//": "one entry per FIU that takes goAML reports; codes are FIU-specific",
            "FIU-US": {
                "jurisdictions": ["US"],
                "currency_code_local": "USD",
                "reporting_person": {"first_name": "CHANGE-ME", "last_name": "CHANGE-ME"},
                "report_codes": {"STR": "STR", "TXN": "STR", "LVTR": "CTR"},
            },
        },
        "fx_rates_to_usd": {
            "//": "rates for non-USD transactions in FinCEN exports",
            "MXN": "0.055",
        },
        "sar_classification": {},
    }
