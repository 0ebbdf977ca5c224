"""FinCEN and goAML files built with our own exporters' builders, for intake tests."""

from __future__ import annotations

from datetime import date

from services.filings import fincen
from services.filings.profile import FilingProfile
from tests.services.filings.conftest import PROFILE


def ctr_batch(activities: int, details: int = 2) -> bytes:
    """A CTRX batch of ``activities`` persons, each with ``details`` cash-in details."""
    profile = FilingProfile.model_validate(PROFILE)
    institution = profile.institutions["US-FI-0001"]
    assert profile.transmitter is not None
    items = []
    for index in range(activities):
        subject = fincen.SubjectData(
            subject_key=f"K{index}",
            document={
                "subject_id": f"C-{index}",
                "type": "person",
                "name": f"Juan Pérez {index}",
                "country": "US",
                "identifiers": [
                    {"type": "SSN", "value": f"900-{index // 10000:02d}-{index % 10000:04d}"}
                ],
            },
        )
        items.append(
            fincen.CtrActivity(
                institution_id="US-FI-0001",
                institution=institution,
                filing_date=date(2026, 11, 28),
                business_day=date(2026, 11, 27),
                subject=subject,
                cash_in_usd=6000 * details,
                cash_out_usd=0,
                cash_in_accounts=[f"ACC-{index}"],
                cash_out_accounts=[],
                details=[fincen.CtrDetail("55", 6000) for _ in range(details)],
                transaction_count=details,
            )
        )
    content, _ = fincen.build_ctr_batch(profile.transmitter, items)
    return content
