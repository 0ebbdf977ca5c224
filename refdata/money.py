"""Money as integer minor units plus an ISO 4217 code; never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple

import iso4217

# One hundred billion major units: beyond any single real transaction, well inside int64.
MAX_MAJOR_UNITS = Decimal(100_000_000_000)


class Money(NamedTuple):
    """An exact amount: ``amount_minor`` units of ``currency``'s smallest unit."""

    amount_minor: int
    currency: str

    def to_decimal(self) -> Decimal:
        """Returns the amount in major units as an exact Decimal."""
        return Decimal(self.amount_minor).scaleb(-currency_exponent(self.currency))

    def format(self) -> str:
        """Renders the amount as a plain decimal string with the currency's digits."""
        exponent = currency_exponent(self.currency)
        return f"{self.to_decimal():.{exponent}f}"


@lru_cache(maxsize=512)
def currency_exponent(code: str) -> int:
    """Returns the number of minor-unit digits of an ISO 4217 currency.

    Raises:
        ValueError: the code is not an ISO 4217 currency, or has no minor unit (gold, SDR).
    """
    try:
        currency = iso4217.Currency(code)
    except ValueError:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code") from None
    if currency.exponent is None:
        raise ValueError(f"{code!r} is not a monetary currency (no minor unit)")
    return int(currency.exponent)


def to_minor_units(amount: Decimal | str | int, currency: str) -> int:
    """Converts an exact decimal amount to integer minor units.

    The conversion is integer arithmetic on the decimal's digits and exponent, never the
    decimal context: the context rounds to 28 digits, raises ``decimal.Overflow`` (not a
    ``ValueError``) past its largest exponent ("1e999999999999") and silently rounds a tiny
    amount ("1e-999999999999") to zero minor units.

    Raises:
        ValueError: not a finite number, more decimals than the currency has, or absurd size.
    """
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a decimal amount") from None
    if not value.is_finite():
        raise ValueError("amount must be a finite number")
    # copy_abs() and the comparison are exact, whatever the exponent.
    if value.copy_abs() > MAX_MAJOR_UNITS:
        raise ValueError(f"amount exceeds {MAX_MAJOR_UNITS} major units")
    exponent = currency_exponent(currency)
    sign, digits, power = value.as_tuple()
    assert isinstance(power, int)  # finite, checked above
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    # value = significant × 10^scale, with no trailing zero in ``significant``.
    scale = power + (len(digits) - len(significant)) + exponent
    if scale < 0:
        raise ValueError(f"{currency} amounts have at most {exponent} decimal places")
    # scale is small here: the value is at most MAX_MAJOR_UNITS and ``significant`` >= 1.
    minor = int(significant) * 10**scale
    return -minor if sign else minor
