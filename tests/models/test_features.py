"""Feature functions on hand-made reports: parsing, exact amounts, windows, counterparties."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from models import features as F
from refdata.business_days import DEFAULT_CALENDAR, BusinessCalendar, business_day
from refdata.wire import ReportV1


def report(
    index: int,
    *,
    at: str,
    amount: str = "100.00",
    currency: str = "USD",
    instrument: str = "wire",
    direction: str = "in",
    subject: str = "S1",
    institution: str = "US-FI-0001",
    jurisdiction: str = "US",
    account: str | None = "ACC-1",
    counterparty: dict[str, Any] | None = None,
    branch: str | None = None,
    region: str = "TX",
) -> dict[str, Any]:
    """A wire-format v1 TXN report (an LVTR when it is cash over the threshold)."""
    location: dict[str, Any] = {"country": jurisdiction, "region": region}
    if branch:
        location["branch_id"] = branch
    transaction: dict[str, Any] = {
        "transaction_id": f"T{index}",
        "timestamp": at,
        "amount": amount,
        "currency": currency,
        "instrument": instrument,
        "direction": direction,
        "channel": "branch" if instrument == "cash" else "online",
        "location": location,
    }
    if account:
        transaction["account_id"] = account
    if counterparty:
        transaction["counterparty"] = counterparty
    return {
        "schema_version": 1,
        "report_id": f"R{index:06d}",
        "report_type": "TXN",
        "institution_id": institution,
        "jurisdiction": jurisdiction,
        "filed_at": at,
        "subject": {
            "subject_id": subject,
            "type": "person",
            "identifiers": [
                {"type": "SSN", "value": f"900-00-{subject[-4:]:0>4}", "country": "US"}
            ],
        },
        "transaction": transaction,
    }


def features_of(documents: list[dict[str, Any]]) -> pl.DataFrame:
    return F.features_from_documents(documents).sort("seq")


class TestFlatten:
    def test_subject_key_of_raw_documents_matches_the_validated_report(self):
        documents = [
            report(1, at="2026-03-02T10:00:00Z"),
            {
                **report(2, at="2026-03-02T10:00:00Z"),
                "subject": {
                    "subject_id": " C-7 ",
                    "type": "entity",
                    "identifiers": [
                        {"type": "PASSPORT", "value": "x 1", "country": "MX"},
                        {"type": "RFC", "value": "abc-850101-xy1", "country": "MX"},
                    ],
                },
            },
            {
                **report(3, at="2026-03-02T10:00:00Z"),
                "subject": {"subject_id": "C-9", "type": "person"},
            },
        ]
        expected = [ReportV1.model_validate(document).subject_key for document in documents]
        assert F.flatten(documents)["subject_key"].to_list() == expected

    @pytest.mark.parametrize(
        ("amount", "currency", "minor"),
        [
            ("9500.00", "USD", 950_000),
            ("9500", "USD", 950_000),
            (9500.1, "USD", 950_010),
            ("12.5", "MXN", 1_250),
            ("1000", "JPY", 1_000),
            ("1.234", "KWD", 1_234),
        ],
    )
    def test_amounts_are_exact_minor_units(self, amount, currency, minor):
        assert F.minor_units(amount, currency) == minor

    def test_validated_and_raw_documents_flatten_alike(self):
        raw = report(
            1,
            at="2026-03-02T04:00:00-06:00",
            amount="9500",
            counterparty={"account_id": "X-1", "country": "MX", "type": "entity"},
        )
        dumped = ReportV1.model_validate(raw).model_dump(mode="json")
        assert F.flatten([raw]).equals(F.flatten([dumped]))
        assert F.flatten([raw])["t"][0] == F.flatten([report(1, at="2026-03-02T10:00:00Z")])["t"][0]


class TestEncode:
    def test_mxn_converts_to_usd_cents_exactly(self):
        flat = F.flatten(
            [
                report(
                    1,
                    at="2026-03-02T10:00:00Z",
                    amount="129375.00",
                    currency="MXN",
                    jurisdiction="MX",
                    institution="MX-FI-0001",
                ),
                report(
                    2,
                    at="2026-03-02T10:00:00Z",
                    amount="129374.99",
                    currency="MXN",
                    jurisdiction="MX",
                    institution="MX-FI-0001",
                ),
            ]
        )
        cents = F.encode(flat).collect()["cents"].to_list()
        assert cents == [750_000, 749_999]

    def test_flags(self):
        flat = F.flatten(
            [
                report(1, at="2026-03-02T10:00:00Z", amount="5000.00", instrument="cash"),
                report(
                    2,
                    at="2026-03-02T10:00:00Z",
                    amount="5000.01",
                    direction="out",
                    counterparty={"account_id": "B", "country": "KY", "type": "person"},
                ),
            ]
        )
        flags = F.encode(flat).collect()["flags"].to_list()
        assert flags[0] & F.F_CASH
        assert flags[0] & F.F_IN
        assert flags[0] & F.F_ROUND1000
        assert not flags[1] & F.F_ROUND100
        assert flags[1] & F.F_OUT
        assert flags[1] & F.F_XBORDER
        assert flags[1] & F.F_CP_PERSON


class TestWindows:
    def test_windows_end_at_the_report_and_reach_back_exactly(self):
        documents = [
            report(1, at="2026-03-02T10:00:00Z", amount="100.00"),
            report(2, at="2026-03-03T10:00:00Z", amount="200.00"),  # exactly 24 h later
            report(3, at="2026-03-03T10:00:01Z", amount="400.00"),
            report(4, at="2026-04-02T10:00:00Z", amount="800.00"),  # 30 days after report 2
        ]
        frame = features_of(documents)
        assert frame["usd_1d"].to_list() == [100.0, 200.0, 600.0, 800.0]
        assert frame["n_7d"].to_list() == [1, 2, 3, 1]
        assert frame["usd_30d"].to_list() == [100.0, 300.0, 700.0, 1200.0]

    def test_reports_at_the_same_second_count_in_arrival_order(self):
        documents = [
            report(1, at="2026-03-02T10:00:00Z", amount="100.00"),
            report(2, at="2026-03-02T10:00:00Z", amount="200.00"),
        ]
        assert features_of(documents)["usd_1d"].to_list() == [100.0, 300.0]

    def test_idle_days_and_passthrough(self):
        documents = [
            report(1, at="2026-01-01T10:00:00Z"),
            report(2, at="2026-03-02T10:00:00Z", amount="10000.00"),
            report(3, at="2026-03-02T16:00:00Z", amount="9800.00", direction="out"),
        ]
        frame = features_of(documents)
        assert frame["idle_days"].to_list()[1:] == [60.0, 0.25]
        assert frame["passthrough_1d"][2] == pytest.approx(0.98)
        assert frame["mirror_7d"][2] == pytest.approx(0.98)
        assert frame["match_age_h_7d"][2] == pytest.approx(6.0)

    def test_distinct_counterparties_branches_and_near_threshold_legs(self):
        documents = [
            report(
                i,
                at=f"2026-03-02T1{i}:00:00Z",
                amount=amount,
                instrument="cash",
                branch=f"B{i % 2}",
            )
            for i, amount in enumerate(["9000.00", "9500.00", "9900.00", "7999.99"], start=1)
        ] + [
            report(10 + i, at="2026-03-02T18:00:00Z", counterparty={"account_id": f"P{i % 2}"})
            for i in range(3)
        ]
        frame = features_of(documents)
        assert frame["near_n_1d"][3] == 3  # $7,999.99 is below 0.8 × $10,000
        assert frame["near_min_cents_7d"][3] == 900_000
        assert frame["near_max_cents_7d"][3] == 990_000
        assert frame["near_branches_7d"][3] == 2
        assert frame["payers_1d"].to_list()[-1] == 2

    def test_a_known_counterparty_is_told_from_a_new_one(self):
        # Paid by P0 three times and by P1 once, then a cash deposit (no counterparty).
        parties = ["P0", "P1", "P0", "P0"]
        documents = [
            report(i, at=f"2026-03-0{i + 2}T10:00:00Z", counterparty={"account_id": party})
            for i, party in enumerate(parties)
        ] + [report(9, at="2026-03-07T10:00:00Z", instrument="cash")]
        frame = features_of(documents)
        # Earlier legs with this report's party (the report itself not counted).
        assert frame["cp_repeat_n_30d"].to_list() == [0, 0, 1, 2, 0]
        # Distinct parties per leg with one: 1/1, 2/2, 2/3, 2/4, then the cash leg adds none.
        assert frame["cp_breadth_30d"].to_list() == pytest.approx([1.0, 1.0, 2 / 3, 0.5, 0.5])
        assert frame["cp_repeat_n_7d"].to_list() == [0, 0, 1, 2, 0]  # all within a week
        # Eight days on, the first leg with P0 has left the 7-day window, not the 30-day one.
        later = features_of(
            [*documents, report(10, at="2026-03-10T11:00:00Z", counterparty={"account_id": "P0"})]
        )
        assert later["cp_repeat_n_7d"][-1] == 2
        assert later["cp_repeat_n_30d"][-1] == 3


class TestCounterparty:
    def test_distinct_payers_into_a_beneficiary_come_from_every_subject(self):
        documents = [
            report(
                i,
                at=f"2026-03-0{i}T10:00:00Z",
                subject=f"S{i}",
                account=f"A{i % 3}",
                direction="out",
                counterparty={"account_id": "COLLECTOR"},
            )
            for i in range(1, 7)
        ] + [
            report(
                20,
                at="2026-03-20T10:00:00Z",
                subject="S20",
                account="A9",
                direction="out",
                counterparty={"account_id": "COLLECTOR"},
            )
        ]
        frame = features_of(documents)
        # A1, A2, A0 then repeats; the 7-day window drops the early ones on March 20th.
        assert frame["cp_payers_7d"].to_list() == [1, 2, 3, 3, 3, 3, 1]
        assert frame["cp_payees_7d"].null_count() == frame.height


class TestCalendar:
    def test_weekend_and_holiday_reports_count_on_the_next_business_day(self):
        frame = pl.DataFrame(
            {
                "t": [
                    F._epoch_seconds(at)
                    for at in (
                        "2026-03-07T15:00:00Z",  # Saturday
                        "2026-03-09T15:00:00Z",  # Monday
                        "2026-11-26T15:00:00Z",  # Thanksgiving
                        "2026-03-10T03:00:00Z",  # Monday 22:00 New York time
                    )
                ],
                "flags": [0, 0, 0, 0],
            }
        ).with_columns(pl.col("flags").cast(pl.UInt16))
        days = F.assign_business_days(frame.lazy()).collect()["bday"].to_list()
        assert days == [date(2026, 3, 9), date(2026, 3, 9), date(2026, 11, 27), date(2026, 3, 9)]
        night = BusinessCalendar(cutoff_hour=20)
        assert F.assign_business_days(frame.lazy(), night).collect()["bday"].to_list()[3] == date(
            2026, 3, 10
        )

    @pytest.mark.parametrize("cutoff_hour", [None, 18])
    def test_agrees_with_the_scalar_rule(self, cutoff_hour: int | None) -> None:
        """assign_business_days (detection's CTR features) and the scalar rule of
        refdata.business_days (deadlines, CTR filing) agree."""
        calendar = dataclasses.replace(DEFAULT_CALENDAR, cutoff_hour=cutoff_hour)
        start = int(datetime(2025, 12, 20, tzinfo=UTC).timestamp())
        moments = [start + step * 5400 for step in range(0, 16 * 60)]  # 60 days, every 90 min
        frame = pl.LazyFrame(
            {
                "t": moments * 2,
                "flags": [0] * len(moments) + [F.F_MX] * len(moments),
            },
            schema={"t": pl.Int64(), "flags": pl.Int64()},
        )
        expected = F.assign_business_days(frame, calendar).collect()["bday"].to_list()
        actual = [
            business_day(datetime.fromtimestamp(t, UTC), jurisdiction, calendar=calendar)
            for jurisdiction in ("US", "MX")
            for t in moments
        ]
        assert actual == expected


def test_feature_digest_changes_with_the_configuration(monkeypatch):
    before = F.feature_digest()
    monkeypatch.setattr(F, "HIGH_RISK_COUNTRIES", (*F.HIGH_RISK_COUNTRIES, "ZZ"))
    assert F.feature_digest() != before


class TestCurrencies:
    def test_any_iso_4217_currency_converts_with_the_rate_table(self):
        flat = F.flatten(
            [
                report(1, at="2026-03-02T10:00:00Z", amount="1450000", currency="JPY"),
                report(2, at="2026-03-02T10:00:00Z", amount="3067.500", currency="KWD"),
                report(3, at="2026-03-02T10:00:00Z", amount="920.00", currency="EUR"),
            ]
        )
        compact = F.encode(flat).collect()
        # JPY 145, KWD 0.306 (three decimals), EUR 0.92 per USD in the shipped table.
        assert compact["cents"].to_list() == [1_000_000, 1_002_450, 100_000]
        assert not any(flag & F.F_FX_UNKNOWN for flag in compact["flags"].to_list())

    def test_a_currency_without_a_rate_is_flagged_not_silently_zero(self):
        from refdata.fx import parse_rates  # noqa: PLC0415

        rates = parse_rates("currency,units_per_usd\nUSD,1\n", "t")
        flat = F.flatten([report(1, at="2026-03-02T10:00:00Z", amount="15000", currency="JPY")])
        compact = F.encode(flat, rates).collect()
        assert compact["cents"].to_list() == [0]
        assert compact["flags"][0] & F.F_FX_UNKNOWN
        assert compact["currency"].to_list() == ["JPY"]

    def test_rates_are_reference_data_not_part_of_the_feature_digest(self, monkeypatch, tmp_path):
        from refdata import fx  # noqa: PLC0415

        before = F.feature_digest()
        path = tmp_path / "rates.csv"
        path.write_text("EUR,0.5\n")
        monkeypatch.setenv(fx.FX_RATES_ENV, str(path))
        assert F.feature_digest() == before
