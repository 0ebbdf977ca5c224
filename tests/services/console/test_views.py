"""How values read on console pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.console.views import changes, deadline_state, feature_label, money, number

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_money_is_formatted_from_minor_units() -> None:
    assert money(123456789, "USD") == "1,234,567.89 USD"
    assert money(-5, "USD") == "-0.05 USD"
    assert money(1500, "JPY") == "1,500 JPY"
    assert money(None, "USD") == "—"


def test_feature_names_read_as_words() -> None:
    assert feature_label("cash_in_usd_7d") == "cash deposited (USD), 7 days"
    assert feature_label("near_n_1d") == "deposits just below the reporting threshold, 1 day"
    assert feature_label("contribution.structuring") == "weight of “structuring” in the score"
    assert feature_label("something_new") == "something new"


def test_deadline_badges() -> None:
    assert deadline_state(NOW - timedelta(minutes=1), "INVESTIGATING", NOW) == "overdue"
    assert deadline_state(NOW + timedelta(days=6), "NEW", NOW) == "due-soon"
    assert deadline_state(NOW + timedelta(days=8), "NEW", NOW) is None
    assert deadline_state(NOW - timedelta(days=1), "FILED", NOW) is None
    assert deadline_state(None, "NEW", NOW) is None


def test_numbers_and_changes() -> None:
    assert number(12060.0) == "12,060"
    assert number(0.0416) == "0.04"
    assert changes({"status": "NEW", "version": 1}, {"status": "TRIAGE", "version": 2}) == [
        "status: NEW → TRIAGE"
    ]
