"""The exchange-rate table: every ISO 4217 currency, exact fractions, configurable."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import iso4217
import pytest

from refdata import fx
from simulator.reference import UNITS_PER_100_USD


def test_the_shipped_table_covers_every_monetary_iso_4217_currency():
    monetary = {c.code for c in iso4217.Currency if c.exponent is not None}
    assert monetary <= set(fx.load_rates().currencies)


def test_rates_are_exact_fractions_of_the_decimal_written():
    rates = fx.parse_rates("currency,units_per_usd\nMXN,17.25\nOMR,0.3845\n", "t")
    assert rates.units("MXN") == Decimal("17.25")
    assert rates.fraction("OMR") == (769, 2000)
    assert rates.units("USD") == 1  # implied
    # 129,375.00 MXN is exactly USD 7,500; one centavo less floors below it.
    assert rates.usd_cents(12_937_500, "MXN", 2) == 750_000
    assert rates.usd_cents(12_937_499, "MXN", 2) == 749_999
    assert rates.usd_cents(100, "XYZ", 2) is None


@pytest.mark.parametrize(
    "text",
    ["MXN,abc", "MXN,0", "MXN,-1", "MX,17", "MXN,17,1", "MXN,17\nMXN,18"],
)
def test_bad_rate_files_are_refused(text):
    with pytest.raises(fx.FxRatesError):
        fx.parse_rates(text, "bad")


def test_the_configured_file_replaces_the_shipped_table(tmp_path: Path, monkeypatch):
    path = tmp_path / "rates.csv"
    path.write_text("# mine\ncurrency,units_per_usd\nEUR,0.5\n")
    monkeypatch.setenv(fx.FX_RATES_ENV, str(path))
    rates = fx.configured_rates()
    assert rates.units("EUR") == Decimal("0.5")
    assert rates.fraction("JPY") is None
    monkeypatch.delenv(fx.FX_RATES_ENV)
    assert fx.configured_rates().units("JPY") == 145


def test_the_settings_refuse_a_bad_rate_file(tmp_path: Path):
    from services.config import Settings  # noqa: PLC0415

    path = tmp_path / "rates.csv"
    path.write_text("EUR,zero\n")
    with pytest.raises(ValueError, match="not a decimal rate"):
        Settings(fx_rates_file=path)


def test_the_simulator_books_amounts_at_the_shipped_rates():
    rates = fx.load_rates()
    for currency, per_100 in UNITS_PER_100_USD.items():
        assert rates.units(currency) * 100 == per_100
