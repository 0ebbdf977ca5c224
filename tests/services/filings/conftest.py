from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from services.filings.profile import FilingProfile
from tests.fixtures.alerts import api

__all__ = ["api", "fincen_schemas", "profile", "profiled_api"]

XSD = Path(__file__).parent / "xsd"
NS = {"fc2": "www.fincen.gov/base"}

PROFILE = {
    "transmitter": {
        "name": "Amlscreen Filing Services",
        "tcc": "PTCC1234",
        "tin": "458985215",
        "address": {"street": "1 Main St", "city": "Vienna", "state": "VA", "zip": "22113"},
        "phone": "703-555-0100",
        "contact_name": "Filing Desk",
    },
    "institutions": {
        "US-FI-0001": {
            "name": "First Border Bank",
            "tin": "12-5478965",
            "regulator_code": "4",
            "address": {"street": "10 Elm St", "city": "El Paso", "state": "TX", "zip": "79901"},
            "contact_office": "BSA Office",
            "contact_phone": "915-555-0199",
            "timezone": "America/Chicago",
            "branches": {
                "B1": {"street": "200 Mesa St", "city": "El Paso", "state": "TX", "zip": "79902"}
            },
            "goaml_rentity_id": "RE-0001",
        },
        "US-FI-0002": {
            "name": "Second Valley Bank",
            "tin": "98-7654321",
            "regulator_code": "2",
            "address": {"street": "5 Oak Ave", "city": "Laredo", "state": "TX", "zip": "78040"},
            "contact_office": "Compliance",
            "contact_phone": "956-555-0100",
        },
        "MX-FI-0001": {
            "name": "Banco del Norte",
            "tin": "BNO010101AAA",
            "tin_type": "9",
            "regulator_code": "99",
            "address": {"street": "Av. Juárez 1", "city": "Ciudad Juárez", "country": "MX"},
            "contact_office": "Oficial de Cumplimiento",
            "contact_phone": "656-555-0100",
            "goaml_rentity_id": "MX-RE-77",
        },
    },
    "goaml": {
        "UIF-MX": {
            "jurisdictions": ["MX"],
            "currency_code_local": "MXN",
            "reporting_person": {"first_name": "Ana", "last_name": "López"},
            "report_codes": {"STR": "ROI", "TXN": "ROI", "LVTR": "ROR"},
            "transmode_codes": {"cash": "EFE", "wire": "TRF", "other": "OTR"},
            "funds_codes": {"cash": "E", "deposit": "DEP", "withdrawal": "RET", "other": "O"},
            "indicators": {"structuring": "FRACC"},
            "fx_rates": {"USD": "17.50"},
        },
        "FIU-US": {
            "jurisdictions": ["US"],
            "currency_code_local": "USD",
            "reporting_person": {"first_name": "Sam", "last_name": "Reed"},
        },
    },
    "fx_rates_to_usd": {"MXN": "0.055"},
}


@pytest.fixture(scope="session")
def fincen_schemas() -> dict[str, xmlschema.XMLSchema11]:
    """The official schemas, read from the tests' own copy, loaded once (it is slow)."""
    return {
        "SARX": xmlschema.XMLSchema11(str(XSD / "EFL_SARXBatchSchema.xsd")),
        "CTRX": xmlschema.XMLSchema11(str(XSD / "EFL_CTRXBatchSchema.xsd")),
    }


@pytest.fixture
def profile() -> FilingProfile:
    return FilingProfile.model_validate(PROFILE)


@pytest.fixture
def profiled_api(api, profile):
    api.client.app.state.filing_profile = profile
    return api


def parse(content: bytes) -> ET.Element:
    return ET.fromstring(content)
