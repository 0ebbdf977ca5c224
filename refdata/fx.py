"""Exchange rates of detection: a rate table for every ISO 4217 currency (docs/detection.md).

Features and rules convert amounts to US-dollar cents with these rates, so that a backtest
gives the numbers the worker gave; money itself stays exact, in its own currency, in the
store. The shipped table (``refdata/data/fx_rates.csv``) is approximate; an institution
replaces it with its own file (``AMLSCREEN_FX_RATES_FILE``, ``amlscreen score --fx-rates``).

Rates are exact fractions (the decimal written in the file, never a float), and conversions
are integer arithmetic with floor, so sums never depend on the order of rows. A currency with
no rate has no USD value: features count it as zero and the report says so (the ``fx_unknown``
reason of ``models.scoring``), never silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

# The process setting (services.config.Settings.fx_rates_file reads the same variable).
FX_RATES_ENV = "AMLSCREEN_FX_RATES_FILE"
SHIPPED_RATES_FILE = Path(__file__).parent / "data" / "fx_rates.csv"


class FxRatesError(ValueError):
    """A rate file that cannot be used (unreadable, malformed, non-positive rate)."""


@dataclass(frozen=True, slots=True)
class FxRates:
    """Units of each currency one US dollar buys, as exact fractions (numerator, denominator).

    Hashable, so that compiled feature expressions can be cached per table.
    """

    units_per_usd: tuple[tuple[str, int, int], ...]
    source: str

    def fraction(self, currency: str) -> tuple[int, int] | None:
        """``(p, q)`` with units per USD = p / q, or None when the currency has no rate."""
        return self._index().get(currency)

    def units(self, currency: str) -> Decimal:
        """How many units of ``currency`` one US dollar buys (KeyError if no rate)."""
        fraction = self.fraction(currency)
        if fraction is None:
            raise KeyError(currency)
        return Decimal(fraction[0]) / Decimal(fraction[1])

    def usd_cents(self, amount_minor: int, currency: str, exponent: int) -> int | None:
        """Exact floor of an amount in US-dollar cents (None when the currency has no rate)."""
        fraction = self.fraction(currency)
        if fraction is None:
            return None
        p, q = fraction
        return (amount_minor * 100 * q) // (p * 10**exponent)

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(code for code, _, _ in self.units_per_usd)

    def _index(self) -> dict[str, tuple[int, int]]:
        return _index(self)


@lru_cache(maxsize=8)
def _index(rates: FxRates) -> dict[str, tuple[int, int]]:
    return {code: (p, q) for code, p, q in rates.units_per_usd}


def parse_rates(text: str, source: str) -> FxRates:
    """Parses ``currency,units_per_usd`` lines ('#' comments, one header line allowed)."""
    rows: dict[str, tuple[int, int]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(",")]
        if parts[:2] == ["currency", "units_per_usd"]:
            continue
        if len(parts) != 2 or len(parts[0]) != 3 or not parts[0].isalpha():
            raise FxRatesError(f"{source}:{number}: expected 'CODE,units_per_usd', got {raw!r}")
        try:
            value = Decimal(parts[1])
        except InvalidOperation:
            raise FxRatesError(f"{source}:{number}: {parts[1]!r} is not a decimal rate") from None
        if not value.is_finite() or value <= 0:
            raise FxRatesError(f"{source}:{number}: the rate of {parts[0]} must be positive")
        code = parts[0].upper()
        if code in rows:
            raise FxRatesError(f"{source}:{number}: {code} appears twice")
        numerator, denominator = value.as_integer_ratio()
        rows[code] = (numerator, denominator)
    if "USD" not in rows:
        rows["USD"] = (1, 1)
    return FxRates(tuple((code, p, q) for code, (p, q) in sorted(rows.items())), source)


@lru_cache(maxsize=8)
def load_rates(path: Path | None = None) -> FxRates:
    """The rate table of ``path`` (default: the shipped table), read once per path."""
    target = SHIPPED_RATES_FILE if path is None else path
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as error:
        raise FxRatesError(f"cannot read the rate file {target}: {error}") from None
    return parse_rates(text, "shipped" if path is None else str(target))


def configured_rates() -> FxRates:
    """The process's rate table: ``AMLSCREEN_FX_RATES_FILE`` if set, else the shipped one."""
    configured = os.environ.get(FX_RATES_ENV)
    return load_rates(Path(configured) if configured else None)


def units_per_usd(currency: str) -> Decimal:
    """How many units of ``currency`` one US dollar buys at the shipped rate (MXN: 17.25)."""
    return load_rates().units(currency)
