"""Detection features: pure Polars functions shared by training, backtests and the worker.

One code path, three callers. Training and ``amlscreen score`` run it over a whole history;
the worker runs it over its window state plus the micro-batch and keeps only the batch's rows.

Frames, in order:

``flatten``  wire documents → flat rows (strings, exact integer minor units).
``encode``   flat rows → compact rows: integer codes only, what the window state stores.
``with_gaps`` + ``gap_s``: seconds since the subject's previous report, in arrival order.
``window_features(context, targets)``: per-subject windows of 24 h, 3 d, 7 d and 30 d ending at
    each target report, over the reports that had *arrived* by then (``seq`` ≤ the target's)
    and whose time falls in ``(t - window, t]``. Offline the context is the whole history;
    online it is the state plus the batch. Same rows in, same numbers out.
``counterparty_features(targets, edges)``: distinct payers into the counterparty account of an
    outgoing payment, and distinct payees of the payer of an incoming one, over the 7 days
    before the report (reports from every subject: the worker reads these edges from the
    store, never from process memory, so they are right with several workers).
``finish`` → the model's input columns :data:`FEATURE_COLUMNS` (+ explanation columns).

Amounts used by features are US-dollar cents computed exactly from the minor units with the
rate table of :mod:`refdata.fx` (every ISO 4217 currency; configurable; integer arithmetic,
so sums never depend on the order of rows). A currency without a rate counts as zero and sets
``F_FX_UNKNOWN`` (a reason on the report). Money itself stays exact in the store; these cents
only feed features and rules. The rates are reference data, not part of the model: the
feature digest does not cover them, so a refreshed rate file needs no retraining.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import iso4217
import polars as pl

from models.peers import (
    PEER_COLUMNS,
    baselines,
    daily_counts,
    merge_counts,
    peer_inputs,
    with_peers,
)
from refdata.business_days import DEFAULT_CALENDAR, BusinessCalendar
from refdata.countries import HIGH_RISK_COUNTRIES
from refdata.fx import FxRates, configured_rates
from refdata.subject import document_subject_key
from refdata.thresholds import MX_ROR_CENTS, NEAR_FRACTION, US_CTR_CENTS

# ---------------------------------------------------------------------------------------------
# Constants (the reference data itself, thresholds, FX rates and country lists, is in refdata/)

UINT32_MAX = 2**32 - 1

DAY = 86_400
WINDOWS: dict[str, int] = {"1d": DAY, "3d": 3 * DAY, "7d": 7 * DAY, "30d": 30 * DAY}
LONGEST_WINDOW_S = WINDOWS["30d"]
COUNTERPARTY_WINDOW_S = WINDOWS["7d"]

INSTRUMENTS = ("cash", "wire", "check", "ach", "card", "money_order", "crypto", "other")
CHANNELS = ("branch", "atm", "online", "mobile", "correspondent", "other")
INSTRUMENT_CODE = {name: code for code, name in enumerate(INSTRUMENTS, start=1)}
CHANNEL_CODE = {name: code for code, name in enumerate(CHANNELS, start=1)}

# Report flags (UInt16 bit set).
F_CASH = 1
F_IN = 2
F_OUT = 4
F_MX = 8
F_ROUND100 = 16
F_ROUND1000 = 32
F_STR = 64
F_LVTR = 128
F_XBORDER = 256
F_CP_ACCOUNT = 512
F_CP_PERSON = 1024
F_FX_UNKNOWN = 2048

# Suspicion categories of an STR, grouped (SAR subtypes of DOMAIN.md §1.4; ROI codes alike).
STR_GROUPS: dict[str, frozenset[str]] = {
    "str_structuring": frozenset({"111", "112", "114", "910", "911"}),
    "str_funnel": frozenset({"824", "807", "809"}),
    "str_trade": frozenset({"822", "823", "909"}),
    "str_jurisdiction": frozenset({"928"}),
    "str_profile": frozenset({"812", "821", "801"}),
    "str_transfer": frozenset({"805", "925"}),
}
_CODE_RE = re.compile(r"(?<!\d)(\d{3})(?!\d)")
_HASH_SEED = 20_260_101

# ---------------------------------------------------------------------------------------------
# Flat rows

FLAT_SCHEMA: dict[str, pl.DataType] = {
    "institution_id": pl.String(),
    "report_id": pl.String(),
    "report_type": pl.String(),
    "jurisdiction": pl.String(),
    "subject_key": pl.String(),
    "subject_type": pl.String(),
    "naics": pl.String(),
    "t": pl.Int64(),
    "amount_minor": pl.Int64(),
    "currency": pl.String(),
    "instrument": pl.String(),
    "direction": pl.String(),
    "channel": pl.String(),
    "account_id": pl.String(),
    "location_country": pl.String(),
    "region": pl.String(),
    "branch_id": pl.String(),
    "cp_account_id": pl.String(),
    "cp_country": pl.String(),
    "cp_type": pl.String(),
    "str_mask": pl.UInt8(),
    "account_opened_day": pl.Int32(),
}

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=256)
def _exponent(currency: str) -> int:
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        return 2
    return 2 if exponent is None else int(exponent)


_AMOUNT_RE = re.compile(r"^(\d+)(?:\.(\d+))?$")


def minor_units(amount: Any, currency: str) -> int:
    """Returns an exact wire amount (string or number) in integer minor units."""
    exponent = _exponent(currency)
    if isinstance(amount, str):
        match = _AMOUNT_RE.match(amount.strip())
        if match and len(match.group(2) or "") <= exponent:
            whole, fraction = match.group(1), match.group(2) or ""
            return int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or 0)
    try:
        value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a decimal amount") from None
    return int(value.scaleb(exponent))


def _epoch_seconds(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() // 1)


def _str_mask(categories: Iterable[str]) -> int:
    codes = {code for category in categories for code in _CODE_RE.findall(str(category))}
    mask = 0
    for bit, members in enumerate(STR_GROUPS.values()):
        if codes & members:
            mask |= 1 << bit
    return mask


def flatten(
    documents: Iterable[Mapping[str, Any]], subject_keys: Sequence[str] | None = None
) -> pl.DataFrame:
    """Turns wire-format v1 documents into flat rows (:data:`FLAT_SCHEMA`).

    ``subject_keys`` may carry keys already computed by the caller (the worker has them);
    otherwise :func:`refdata.subject.document_subject_key` computes them. An STR without a
    transaction gets its filing time as ``t`` and no amount.
    """
    columns: dict[str, list[Any]] = {name: [] for name in FLAT_SCHEMA}
    append = {name: values.append for name, values in columns.items()}
    for index, doc in enumerate(documents):
        institution_id = doc["institution_id"]
        subject = doc["subject"]
        append["institution_id"](institution_id)
        append["report_id"](doc["report_id"])
        append["report_type"](doc["report_type"])
        append["jurisdiction"](doc["jurisdiction"])
        append["subject_key"](
            subject_keys[index]
            if subject_keys is not None
            else document_subject_key(institution_id, subject)
        )
        append["subject_type"](subject.get("type"))
        append["naics"](subject.get("naics"))
        suspicion = doc.get("suspicion")
        append["str_mask"](_str_mask(suspicion.get("categories") or ()) if suspicion else 0)
        txn = doc.get("transaction")
        if txn is None:
            append["t"](_epoch_seconds(doc["filed_at"]))
            for name in (
                "amount_minor",
                "currency",
                "instrument",
                "direction",
                "channel",
                "account_id",
                "location_country",
                "region",
                "branch_id",
                "cp_account_id",
                "cp_country",
                "cp_type",
                "account_opened_day",
            ):
                append[name](None)
            continue
        currency = txn["currency"]
        append["t"](_epoch_seconds(txn["timestamp"]))
        append["amount_minor"](minor_units(txn["amount"], currency))
        append["currency"](currency)
        append["instrument"](txn.get("instrument"))
        append["direction"](txn.get("direction"))
        append["channel"](txn.get("channel") or "other")
        append["account_id"](txn.get("account_id"))
        location = txn.get("location") or {}
        append["location_country"](location.get("country"))
        append["region"](location.get("region"))
        append["branch_id"](location.get("branch_id"))
        counterparty = txn.get("counterparty") or {}
        append["cp_account_id"](counterparty.get("account_id"))
        append["cp_country"](counterparty.get("country"))
        append["cp_type"](counterparty.get("type"))
        opened = txn.get("account_opened")
        day: int | None = None
        if isinstance(opened, str):
            try:
                day = date.fromisoformat(opened[:10]).toordinal() - _EPOCH_ORDINAL
            except ValueError:
                day = None
        append["account_opened_day"](day)
    return pl.DataFrame(columns, schema=FLAT_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Compact rows

# Columns the window state keeps per report (besides subject and arrival order).
CONTEXT_SCHEMA: dict[str, pl.DataType] = {
    "t": pl.Int64(),
    "cents": pl.Int64(),
    "gap_s": pl.Int64(),
    "flags": pl.UInt16(),
    "inst": pl.UInt32(),
    "region": pl.UInt32(),
    "branch": pl.UInt32(),
    "cp_acct": pl.UInt32(),
    "cp_country": pl.UInt16(),
}
# Target-only columns: needed for the report being scored, never for its neighbours.
TARGET_EXTRA = (
    "institution_id",
    "report_id",
    "currency",
    "subject_key",
    "naics2",
    "entity",
    "account_age_days",
    "str_mask",
    "acct64",
    "cp_acct64",
    "rk",
)


def _hash32(column: str) -> pl.Expr:
    """A non-zero 32-bit code of a string column (0 means null)."""
    value = pl.col(column)
    return (
        pl.when(value.is_null())
        .then(pl.lit(0, dtype=pl.UInt64))
        .otherwise((value.hash(_HASH_SEED) & 0xFFFFFFFF) | 1)
        .cast(pl.UInt32)
    )


def _hash64(column: str) -> pl.Expr:
    value = pl.col(column)
    return pl.when(value.is_null()).then(None).otherwise(value.hash(_HASH_SEED))


@lru_cache(maxsize=1)
def _country_codes() -> dict[str, int]:
    letters = [chr(code) for code in range(ord("A"), ord("Z") + 1)]
    return {a + b: 1 + i * 26 + j for i, a in enumerate(letters) for j, b in enumerate(letters)}


def country_code(country: str) -> int:
    """The 16-bit code of an ISO 3166 alpha-2 country (0 for none)."""
    return _country_codes().get(country, 0)


def _country16(column: str) -> pl.Expr:
    return (
        pl.col(column)
        .replace_strict(_country_codes(), default=0, return_dtype=pl.UInt16)
        .fill_null(0)
        .cast(pl.UInt16)
    )


def _bit(condition: pl.Expr, flag: int) -> pl.Expr:
    return (
        pl.when(condition).then(pl.lit(flag, dtype=pl.UInt16)).otherwise(pl.lit(0, dtype=pl.UInt16))
    )


def encode(flat: pl.LazyFrame | pl.DataFrame, rates: FxRates | None = None) -> pl.LazyFrame:
    """Flat rows → compact rows: integer codes, exact USD cents, flags (see module docstring).

    ``rates``: the exchange-rate table (default: the process's, ``AMLSCREEN_FX_RATES_FILE``
    or the shipped one).
    """
    first, final = _encode_exprs(configured_rates() if rates is None else rates)
    return flat.lazy().with_columns(*first).select(*final)


@lru_cache(maxsize=4)
def _encode_exprs(rates: FxRates) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """The expressions of :func:`encode`, built once per rate table (the worker encodes every
    batch)."""
    # units per USD = p / q, so USD cents = amount_minor * 100 * q / (p * 10**exponent).
    # 128-bit intermediate: a decimal rate's q can reach 10**6 and amounts 10**14 minor units.
    codes = rates.currencies
    p_of = {code: p for code, p, _ in rates.units_per_usd}
    q_of = {code: q for code, _, q in rates.units_per_usd}
    scale = {code: 10 ** _exponent(code) for code in codes}
    currency = pl.col("currency")
    p = currency.replace_strict(p_of, default=None, return_dtype=pl.Int128)
    q = currency.replace_strict(q_of, default=None, return_dtype=pl.Int128)
    unit = currency.replace_strict(scale, default=None, return_dtype=pl.Int128)
    exact = (pl.col("amount_minor").cast(pl.Int128) * 100 * q) // (p * unit)
    first = [
        exact.clip(0, UINT32_MAX).cast(pl.Int64).alias("_cents"),
        currency.replace_strict(scale, default=100, return_dtype=pl.Int64).alias("_unit"),
    ]
    amount = pl.col("amount_minor")
    cents = pl.col("_cents")
    is_str = pl.col("report_type") == "STR"
    flags = pl.sum_horizontal(
        _bit(pl.col("instrument") == "cash", F_CASH),
        _bit(pl.col("direction") == "in", F_IN),
        _bit(pl.col("direction") == "out", F_OUT),
        _bit(pl.col("jurisdiction") == "MX", F_MX),
        _bit(
            (amount % (pl.col("_unit") * 100) == 0) & (cents >= 100_000),
            F_ROUND100,
        ),
        _bit(
            (amount % (pl.col("_unit") * 1000) == 0) & (cents >= 100_000),
            F_ROUND1000,
        ),
        _bit(is_str, F_STR),
        _bit(pl.col("report_type") == "LVTR", F_LVTR),
        _bit(
            pl.col("cp_country").is_not_null() & (pl.col("cp_country") != pl.col("jurisdiction")),
            F_XBORDER,
        ),
        _bit(pl.col("cp_account_id").is_not_null(), F_CP_ACCOUNT),
        _bit(pl.col("cp_type") == "person", F_CP_PERSON),
        _bit(amount.is_not_null() & cents.is_null(), F_FX_UNKNOWN),
    ).cast(pl.UInt16)
    naics = pl.col("naics")
    naics2 = (
        pl.when(naics.str.len_chars() >= 2)
        .then(naics.str.slice(0, 2).cast(pl.Int16, strict=False))
        .otherwise(None)
    )
    final = [
        pl.col("subject_key"),
        pl.col("institution_id"),
        pl.col("report_id"),
        pl.col("currency"),
        pl.col("t"),
        cents.fill_null(0).alias("cents"),
        flags.alias("flags"),
        pl.col("instrument")
        .replace_strict(INSTRUMENT_CODE, default=0, return_dtype=pl.UInt8)
        .fill_null(0)
        .alias("instrument"),
        pl.col("channel")
        .replace_strict(CHANNEL_CODE, default=0, return_dtype=pl.UInt8)
        .fill_null(0)
        .alias("channel"),
        _hash32("institution_id").alias("inst"),
        _hash32("region").alias("region"),
        _hash32("branch_id").alias("branch"),
        _hash32("cp_account_id").alias("cp_acct"),
        _country16("cp_country").alias("cp_country"),
        naics2.alias("naics2"),
        (pl.col("subject_type") == "entity").fill_null(False).alias("entity"),
        (
            pl.when(pl.col("account_opened_day").is_not_null() & ~is_str)
            .then(pl.col("t") // DAY - pl.col("account_opened_day"))
            .otherwise(None)
            .cast(pl.Int32)
            .alias("account_age_days")
        ),
        pl.col("str_mask"),
        *_edge_keys(),
    ]
    return first, final


def _edge_keys() -> list[pl.Expr]:
    return [
        _hash64("account_id").alias("acct64"),
        _hash64("cp_account_id").alias("cp_acct64"),
        pl.concat_str(pl.col("institution_id"), pl.col("report_id"), separator="|")
        .hash(_HASH_SEED)
        .alias("rk"),
    ]


# What the store returns for counterparty edges (one row per stored report).
EDGE_ROW_SCHEMA: dict[str, pl.DataType] = {
    "institution_id": pl.String(),
    "report_id": pl.String(),
    "account_id": pl.String(),
    "cp_account_id": pl.String(),
    "direction": pl.String(),
    "t": pl.Int64(),
}


def edge_inputs(rows: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Stored rows (:data:`EDGE_ROW_SCHEMA`) → the columns :func:`edges` reads."""
    return rows.lazy().select(
        pl.col("t"),
        pl.sum_horizontal(
            _bit(pl.col("direction") == "in", F_IN), _bit(pl.col("direction") == "out", F_OUT)
        )
        .cast(pl.UInt16)
        .alias("flags"),
        *_edge_keys(),
    )


def with_keys(compact: pl.LazyFrame, *, seq_offset: int = 0) -> pl.LazyFrame:
    """Offline keys: ``sid`` from the subject key, ``seq`` from the row order (arrival)."""
    return compact.with_columns(
        pl.col("subject_key").hash(_HASH_SEED).alias("sid"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + seq_offset).alias("seq"),
    )


def with_gaps(rows: pl.LazyFrame, prior_last_t: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Adds ``gap_s``: seconds since the subject's previous report in arrival order.

    ``prior_last_t`` (``sid``, ``last_t``) gives the time of each subject's latest report
    before ``rows`` (the worker's state); offline it is absent because ``rows`` is the history.
    """
    previous = pl.col("t").shift(1).over("sid", order_by="seq")
    if prior_last_t is not None:
        rows = rows.join(prior_last_t, on="sid", how="left", maintain_order="left")
        previous = previous.fill_null(pl.col("last_t"))
    rows = rows.with_columns((pl.col("t") - previous).clip(lower_bound=0).alias("gap_s"))
    if prior_last_t is not None:
        rows = rows.drop("last_t")
    return rows


# ---------------------------------------------------------------------------------------------
# Business days (CTR aggregation, 31 CFR 1010.313; the rule itself is refdata.business_days)


def assign_business_days(
    frame: pl.LazyFrame, calendar: BusinessCalendar = DEFAULT_CALENDAR, name: str = "bday"
) -> pl.LazyFrame:
    """Adds ``name``: the business day (Date) of each row (needs ``t`` and ``flags``).

    The frame form of :func:`refdata.business_days.business_day` (the tests hold the two
    together). The calendar arithmetic runs on the distinct (day, jurisdiction) pairs only: a
    batch spans a few days, and rolling over a century of holidays per row would dominate.
    """
    day, mx, business = _calendar_expressions(calendar)
    keyed = frame.with_columns(day, mx)
    days = keyed.select("_day", "_mx").unique().with_columns(business.alias(name))
    return keyed.join(days, on=["_day", "_mx"], how="left", maintain_order="left").drop(
        "_day", "_mx"
    )


@lru_cache(maxsize=8)
def _calendar_expressions(calendar: BusinessCalendar) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """``_day`` (local calendar day), ``_mx`` and the business day of (``_day``, ``_mx``),
    built once per calendar (the worker assigns business days twice a batch)."""
    is_mx = (pl.col("flags") & F_MX) != 0
    offset = (
        pl.when(is_mx)
        .then(calendar.utc_offset_hours.get("MX", 0) * 3600)
        .otherwise(calendar.utc_offset_hours.get("US", 0) * 3600)
    )
    local = pl.col("t") + offset
    if calendar.cutoff_hour is not None:
        local = local + pl.when(local % DAY >= calendar.cutoff_hour * 3600).then(DAY).otherwise(0)
    day = pl.col("_day")
    us = day.dt.add_business_days(0, roll="forward", holidays=list(calendar.us_holidays))
    mx = day.dt.add_business_days(0, roll="forward", holidays=list(calendar.mx_holidays))
    return (
        (local // DAY).cast(pl.Int32).cast(pl.Date).alias("_day"),
        is_mx.alias("_mx"),
        pl.when(pl.col("_mx")).then(mx).otherwise(us),
    )


# ---------------------------------------------------------------------------------------------
# Window features


def _flag(name: str, flag: int) -> pl.Expr:
    return (pl.col(name) & flag) != 0


def _threshold_cents(flags: str) -> pl.Expr:
    return pl.when(_flag(flags, F_MX)).then(MX_ROR_CENTS).otherwise(US_CTR_CENTS)


def _near(cents: str, flags: str) -> pl.Expr:
    """A cash leg in [0.8 T, T) of the institution's threshold T."""
    low, high = NEAR_FRACTION
    threshold = _threshold_cents(flags)
    return (
        _flag(flags, F_CASH)
        & (pl.col(cents) * high >= threshold * low)
        & (pl.col(cents) < threshold)
    )


def _window_aggregates(
    window: str, seconds: int, high_risk: Sequence[int], *, full: bool
) -> list[pl.Expr]:
    inside = pl.col("age_s") < seconds
    cents = pl.col("cents_c")
    cash = _flag("flags_c", F_CASH)
    incoming = _flag("flags_c", F_IN)
    outgoing = _flag("flags_c", F_OUT)
    cash_in = inside & cash & incoming
    cash_out = inside & cash & outgoing
    near = inside & incoming & _near("cents_c", "flags_c")
    w = window

    def total(mask: pl.Expr) -> pl.Expr:
        return cents.filter(mask).sum()

    def distinct(column: str, mask: pl.Expr) -> pl.Expr:
        return pl.col(column).filter(mask & (pl.col(column) != 0)).n_unique()

    exprs = [
        inside.sum().alias(f"n_{w}"),
        total(inside).alias(f"cents_{w}"),
        total(inside & incoming).alias(f"in_cents_{w}"),
        total(inside & outgoing).alias(f"out_cents_{w}"),
        cash_in.sum().alias(f"cash_in_n_{w}"),
        total(cash_in).alias(f"cash_in_cents_{w}"),
        total(cash_out).alias(f"cash_out_cents_{w}"),
        near.sum().alias(f"near_n_{w}"),
        total(near).alias(f"near_cents_{w}"),
        distinct("branch_c", inside & cash).alias(f"branches_{w}"),
        distinct("region_c", inside & cash).alias(f"regions_{w}"),
        distinct("cp_acct_c", inside & incoming).alias(f"payers_{w}"),
        distinct("cp_acct_c", inside & outgoing).alias(f"payees_{w}"),
    ]
    if not full:
        return exprs
    self_row = pl.col("seq_c") == pl.col("seq")
    opposite = (incoming & pl.col("t_out")) | (outgoing & pl.col("t_in"))
    mirror = inside & opposite & ~self_row & (cents > 0)
    high_risk_leg = inside & pl.col("cp_country_c").is_in(list(high_risk))
    xborder = inside & _flag("flags_c", F_XBORDER)
    with_party = inside & (pl.col("cp_acct_c") != 0)
    # Earlier legs with the very account this report deals with: an established relationship
    # (a business's regular clients and suppliers) rather than a party met once.
    same_party = with_party & ~self_row & (pl.col("cp_acct_c") == pl.col("cp_acct_t"))
    return [
        *exprs,
        with_party.sum().alias(f"cp_legs_{w}"),
        same_party.sum().alias(f"cp_repeat_n_{w}"),
        (inside & incoming).sum().alias(f"in_n_{w}"),
        (inside & outgoing).sum().alias(f"out_n_{w}"),
        cash_out.sum().alias(f"cash_out_n_{w}"),
        cents.filter(near).min().alias(f"near_min_cents_{w}"),
        cents.filter(near).max().alias(f"near_max_cents_{w}"),
        distinct("branch_c", near).alias(f"near_branches_{w}"),
        cents.filter(inside).max().alias(f"max_cents_{w}"),
        (inside & _flag("flags_c", F_ROUND100)).sum().alias(f"round100_n_{w}"),
        (inside & _flag("flags_c", F_ROUND1000)).sum().alias(f"round1000_n_{w}"),
        high_risk_leg.sum().alias(f"hrc_n_{w}"),
        total(high_risk_leg).alias(f"hrc_cents_{w}"),
        xborder.sum().alias(f"xb_n_{w}"),
        total(xborder).alias(f"xb_cents_{w}"),
        distinct("cp_country_c", inside).alias(f"countries_{w}"),
        distinct("inst_c", inside).alias(f"institutions_{w}"),
        (inside & _flag("flags_c", F_STR)).sum().alias(f"str_n_{w}"),
        pl.col("gap_s_c").filter(inside).max().alias(f"max_gap_s_{w}"),
        (pl.min_horizontal(cents, pl.col("cents_t")) / pl.max_horizontal(cents, pl.col("cents_t")))
        .filter(mirror & (pl.col("cents_t") > 0))
        .max()
        .alias(f"mirror_{w}"),
        pl.col("age_s").filter(mirror).min().alias(f"since_opposite_s_{w}"),
        # Opposite-direction legs of nearly the same amount: value passing through, or
        # coming back (integer test: min * 10 >= max * 9).
        (
            mirror
            & (
                pl.min_horizontal(cents, pl.col("cents_t")) * 10
                >= pl.max_horizontal(cents, pl.col("cents_t")) * 9
            )
        )
        .sum()
        .alias(f"match_n_{w}"),
        pl.col("age_s")
        .filter(
            mirror
            & (
                pl.min_horizontal(cents, pl.col("cents_t")) * 10
                >= pl.max_horizontal(cents, pl.col("cents_t")) * 9
            )
        )
        .min()
        .alias(f"match_age_s_{w}"),
    ]


def _pairs(context: pl.LazyFrame, targets: pl.LazyFrame) -> pl.LazyFrame:
    target_side = targets.select(
        "sid",
        "seq",
        "t",
        "bday",
        "inst",
        pl.col("cents").alias("cents_t"),
        pl.col("cp_acct").alias("cp_acct_t"),
        _flag("flags", F_IN).alias("t_in"),
        _flag("flags", F_OUT).alias("t_out"),
    )
    context_side = context.select(
        "sid",
        pl.col("seq").alias("seq_c"),
        pl.col("t").alias("t_c"),
        pl.col("bday").alias("bday_c"),
        *[pl.col(name).alias(f"{name}_c") for name in CONTEXT_SCHEMA if name != "t"],
    )
    return (
        target_side.join(context_side, on="sid", how="inner")
        .filter(
            (pl.col("seq_c") <= pl.col("seq"))
            & (pl.col("t_c") <= pl.col("t"))
            & (pl.col("t_c") > pl.col("t") - LONGEST_WINDOW_S)
        )
        .with_columns((pl.col("t") - pl.col("t_c")).alias("age_s"))
    )


def window_features(
    context: pl.LazyFrame,
    targets: pl.LazyFrame,
    *,
    calendar: BusinessCalendar = DEFAULT_CALENDAR,
    high_risk: Sequence[str] = HIGH_RISK_COUNTRIES,
) -> pl.LazyFrame:
    """Per-subject window aggregates for each target row, as known when the target arrived.

    ``context`` has ``sid``, ``seq`` and :data:`CONTEXT_SCHEMA`; ``targets`` is a subset of
    the context rows (same ``sid``/``seq``) with their target-only columns. Returns the
    targets with the aggregates; all sums are exact integer cents.
    """
    context = assign_business_days(context, calendar)
    targets = assign_business_days(targets, calendar)
    pairs = _pairs(context, targets)
    grouped = pairs.group_by("seq").agg(_window_exprs(tuple(high_risk)))
    return targets.join(grouped, on="seq", how="left", maintain_order="left")


@lru_cache(maxsize=4)
def _window_exprs(high_risk: tuple[str, ...]) -> list[pl.Expr]:
    """The aggregations of :func:`window_features`, built once per high-risk list."""
    codes = [country_code(code) for code in high_risk]
    same_day = pl.col("bday_c") == pl.col("bday")
    same_inst = pl.col("inst_c") == pl.col("inst")
    cash = _flag("flags_c", F_CASH)
    incoming = _flag("flags_c", F_IN)
    outgoing = _flag("flags_c", F_OUT)
    near = incoming & _near("cents_c", "flags_c")
    aggregates = [
        pl.col("cents_c")
        .filter(same_day & same_inst & cash & incoming)
        .sum()
        .alias("ctr_in_cents"),
        pl.col("cents_c")
        .filter(same_day & same_inst & cash & outgoing)
        .sum()
        .alias("ctr_out_cents"),
        pl.col("cents_c").filter(same_day & cash & incoming).sum().alias("day_cash_in_cents"),
        pl.col("cents_c").filter(same_day & cash & outgoing).sum().alias("day_cash_out_cents"),
        (same_day & near).sum().alias("day_near_n"),
        pl.col("branch_c")
        .filter(same_day & cash & (pl.col("branch_c") != 0))
        .n_unique()
        .alias("day_branches"),
    ]
    for name, seconds in WINDOWS.items():
        aggregates += _window_aggregates(name, seconds, codes, full=name in ("7d", "30d"))
    return aggregates


# ---------------------------------------------------------------------------------------------
# Counterparty-side features (from every subject's reports: the store, online)

EDGE_SCHEMA: dict[str, pl.DataType] = {
    "payee": pl.UInt64(),
    "payer": pl.UInt64(),
    "t": pl.Int64(),
    "rk": pl.UInt64(),
}


def edges(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Payment edges (payee, payer, t, rk) from rows with ``acct64``/``cp_acct64``/``flags``."""
    incoming = _flag("flags", F_IN)
    return rows.filter(
        pl.col("acct64").is_not_null()
        & pl.col("cp_acct64").is_not_null()
        & (incoming | _flag("flags", F_OUT))
    ).select(
        pl.when(incoming).then(pl.col("acct64")).otherwise(pl.col("cp_acct64")).alias("payee"),
        pl.when(incoming).then(pl.col("cp_acct64")).otherwise(pl.col("acct64")).alias("payer"),
        pl.col("t"),
        pl.col("rk"),
    )


def _rolling_distinct(edge_frame: pl.LazyFrame, key: str, other: str, name: str) -> pl.LazyFrame:
    # A unique index per key: time in seconds, ties broken by the report hash (the same on
    # every path), so "the 7 days up to this report" is one well-defined set of edges.
    ordered = (
        edge_frame.unique(subset=[key, "rk"], keep="first", maintain_order=False)
        .with_columns(
            (
                pl.col("t") * 1_048_576
                + pl.col("rk").rank("ordinal").over([key, "t"]).cast(pl.Int64)
            ).alias("idx")
        )
        .sort(key, "idx")
    )
    counted = ordered.rolling(
        index_column="idx", period=f"{COUNTERPARTY_WINDOW_S * 1_048_576}i", group_by=key
    ).agg(pl.col(other).n_unique().alias(name), pl.col("rk").last().alias("rk"))
    return counted.select(key, "rk", name)


def counterparty_features(targets: pl.LazyFrame, edge_frame: pl.LazyFrame) -> pl.LazyFrame:
    """Adds ``cp_payers_7d`` and ``cp_payees_7d`` to targets (``rk``, ``acct64``…).

    ``cp_payers_7d``: for an outgoing payment, distinct accounts that paid the beneficiary in
    the 7 days up to this payment (this one included): the fan-in of the beneficiary.
    ``cp_payees_7d``: for an incoming payment, distinct accounts the payer paid (fan-out).
    ``edge_frame`` must hold every edge touching the targets' counterparties over that span.
    """
    payers = _rolling_distinct(edge_frame, "payee", "payer", "cp_payers_7d")
    payees = _rolling_distinct(edge_frame, "payer", "payee", "cp_payees_7d")
    outgoing = _flag("flags", F_OUT)
    incoming = _flag("flags", F_IN)
    targets = targets.with_columns(
        pl.when(outgoing).then(pl.col("cp_acct64")).otherwise(None).alias("_payee"),
        pl.when(incoming).then(pl.col("cp_acct64")).otherwise(None).alias("_payer"),
    )
    return (
        targets.join(
            payers.rename({"payee": "_payee"}), on=["_payee", "rk"], how="left", nulls_equal=False
        )
        .join(payees.rename({"payer": "_payer"}), on=["_payer", "rk"], how="left")
        .drop("_payee", "_payer")
    )


# ---------------------------------------------------------------------------------------------
# Model inputs

PEER_GROUP = "peer_group"
PEER_VALUES = ("cash_in_usd_30d", "usd_30d", "n_30d", "cash_in_usd_7d")


# Floats are made only by multiplying exact integers by a constant, or dividing one column
# by another: Polars may turn "x / constant" into "x * (1 / constant)" on one path and not on
# another, and the last bit would then differ between training and the worker.
_PER_DAY = 1.0 / DAY
_PER_HOUR = 1.0 / 3600


def _usd(column: str) -> pl.Expr:
    return pl.col(column).fill_null(0).cast(pl.Float64) * 0.01


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(0.0)


def _feature_exprs(coverage_start: int) -> dict[str, pl.Expr]:
    flags = "flags"
    exprs: dict[str, pl.Expr] = {
        "usd": _usd("cents"),
        "cash": _flag(flags, F_CASH).cast(pl.Float64),
        "incoming": _flag(flags, F_IN).cast(pl.Float64),
        "instrument": pl.col("instrument").cast(pl.Float64),
        "channel": pl.col("channel").cast(pl.Float64),
        "naics2": pl.col("naics2").cast(pl.Float64),
        "entity": pl.col("entity").cast(pl.Float64),
        "mx": _flag(flags, F_MX).cast(pl.Float64),
        "str": _flag(flags, F_STR).cast(pl.Float64),
        "lvtr": _flag(flags, F_LVTR).cast(pl.Float64),
        "round100": _flag(flags, F_ROUND100).cast(pl.Float64),
        "round1000": _flag(flags, F_ROUND1000).cast(pl.Float64),
        "near": _near("cents", flags).cast(pl.Float64),
        "xborder": _flag(flags, F_XBORDER).cast(pl.Float64),
        "cp_person": _flag(flags, F_CP_PERSON).cast(pl.Float64),
        "cp_account": _flag(flags, F_CP_ACCOUNT).cast(pl.Float64),
        "hrc": pl.col("cp_country")
        .is_in([country_code(c) for c in HIGH_RISK_COUNTRIES])
        .cast(pl.Float64),
        "idle_days": (
            pl.col("gap_s").fill_null(pl.col("t") - coverage_start).cast(pl.Float64) * _PER_DAY
        ),
        "history_days": (
            (pl.col("t") - coverage_start).clip(0, LONGEST_WINDOW_S).cast(pl.Float64) * _PER_DAY
        ),
        "account_age_days": pl.col("account_age_days").cast(pl.Float64),
        "day_cash_in_usd": _usd("day_cash_in_cents"),
        "day_cash_out_usd": _usd("day_cash_out_cents"),
        "day_near_n": pl.col("day_near_n").cast(pl.Float64),
        "day_branches": pl.col("day_branches").cast(pl.Float64),
        "cp_payers_7d": pl.col("cp_payers_7d").cast(pl.Float64),
        "cp_payees_7d": pl.col("cp_payees_7d").cast(pl.Float64),
        PEER_GROUP: (
            pl.col("naics2").fill_null(-1).cast(pl.Float64) * 4
            + _flag(flags, F_MX).cast(pl.Float64) * 2
            + pl.col("entity").cast(pl.Float64)
        ),
    }
    for bit, name in enumerate(STR_GROUPS):
        exprs[name] = ((pl.col("str_mask") & (1 << bit)) != 0).cast(pl.Float64)
    for w in WINDOWS:
        exprs[f"n_{w}"] = pl.col(f"n_{w}").cast(pl.Float64)
        exprs[f"usd_{w}"] = _usd(f"cents_{w}")
        exprs[f"in_usd_{w}"] = _usd(f"in_cents_{w}")
        exprs[f"out_usd_{w}"] = _usd(f"out_cents_{w}")
        exprs[f"cash_in_n_{w}"] = pl.col(f"cash_in_n_{w}").cast(pl.Float64)
        exprs[f"cash_in_usd_{w}"] = _usd(f"cash_in_cents_{w}")
        exprs[f"cash_out_usd_{w}"] = _usd(f"cash_out_cents_{w}")
        exprs[f"near_n_{w}"] = pl.col(f"near_n_{w}").cast(pl.Float64)
        exprs[f"near_usd_{w}"] = _usd(f"near_cents_{w}")
        for name in ("branches", "regions", "payers", "payees"):
            exprs[f"{name}_{w}"] = pl.col(f"{name}_{w}").cast(pl.Float64)
        inflow, outflow = pl.col(f"in_cents_{w}"), pl.col(f"out_cents_{w}")
        exprs[f"passthrough_{w}"] = _ratio(
            pl.min_horizontal(inflow, outflow).cast(pl.Float64),
            pl.max_horizontal(inflow, outflow).cast(pl.Float64),
        )
    for w in ("7d", "30d"):
        exprs[f"in_n_{w}"] = pl.col(f"in_n_{w}").cast(pl.Float64)
        exprs[f"out_n_{w}"] = pl.col(f"out_n_{w}").cast(pl.Float64)
        exprs[f"cash_out_n_{w}"] = pl.col(f"cash_out_n_{w}").cast(pl.Float64)
        exprs[f"near_branches_{w}"] = pl.col(f"near_branches_{w}").cast(pl.Float64)
        exprs[f"max_usd_{w}"] = _usd(f"max_cents_{w}")
        n = pl.col(f"n_{w}").cast(pl.Float64)
        total = pl.col(f"cents_{w}").cast(pl.Float64)
        exprs[f"round100_share_{w}"] = _ratio(pl.col(f"round100_n_{w}").cast(pl.Float64), n)
        exprs[f"round1000_share_{w}"] = _ratio(pl.col(f"round1000_n_{w}").cast(pl.Float64), n)
        exprs[f"round1000_n_{w}"] = pl.col(f"round1000_n_{w}").cast(pl.Float64)
        exprs[f"round100_n_{w}"] = pl.col(f"round100_n_{w}").cast(pl.Float64)
        exprs[f"match_n_{w}"] = pl.col(f"match_n_{w}").cast(pl.Float64)
        exprs[f"match_age_h_{w}"] = pl.col(f"match_age_s_{w}").cast(pl.Float64) * _PER_HOUR
        exprs[f"hrc_n_{w}"] = pl.col(f"hrc_n_{w}").cast(pl.Float64)
        exprs[f"hrc_share_{w}"] = _ratio(pl.col(f"hrc_cents_{w}").cast(pl.Float64), total)
        exprs[f"xb_n_{w}"] = pl.col(f"xb_n_{w}").cast(pl.Float64)
        exprs[f"xb_share_{w}"] = _ratio(pl.col(f"xb_cents_{w}").cast(pl.Float64), total)
        exprs[f"cash_share_{w}"] = _ratio(
            (pl.col(f"cash_in_cents_{w}") + pl.col(f"cash_out_cents_{w}")).cast(pl.Float64), total
        )
        exprs[f"countries_{w}"] = pl.col(f"countries_{w}").cast(pl.Float64)
        exprs[f"cp_repeat_n_{w}"] = pl.col(f"cp_repeat_n_{w}").cast(pl.Float64)
        # Distinct counterparties per leg with one: near 1 when every payment meets a new
        # party, low when the same few parties recur.
        exprs[f"cp_breadth_{w}"] = _ratio(
            (pl.col(f"payers_{w}") + pl.col(f"payees_{w}")).cast(pl.Float64),
            pl.col(f"cp_legs_{w}").cast(pl.Float64),
        )
        exprs[f"institutions_{w}"] = pl.col(f"institutions_{w}").cast(pl.Float64)
        exprs[f"str_n_{w}"] = pl.col(f"str_n_{w}").cast(pl.Float64)
        exprs[f"max_idle_days_{w}"] = pl.col(f"max_gap_s_{w}").cast(pl.Float64) * _PER_DAY
        exprs[f"mirror_{w}"] = pl.col(f"mirror_{w}").fill_null(0.0)
        exprs[f"since_opposite_h_{w}"] = (
            pl.col(f"since_opposite_s_{w}").cast(pl.Float64) * _PER_HOUR
        )
    # Change against the subject's own baseline: the last 7 days vs the 23 before, per day
    # (integer arithmetic up to one division of two columns; $1,000 smooths empty baselines).
    for name, recent, month in (
        ("cash_in_jump_7d", "cash_in_cents_7d", "cash_in_cents_30d"),
        ("volume_jump_7d", "cents_7d", "cents_30d"),
    ):
        exprs[name] = (pl.col(recent) * 23 + 2_300_000).cast(pl.Float64) / (
            (pl.col(month) - pl.col(recent)) * 7 + 2_300_000
        ).cast(pl.Float64)
    return exprs


# The peer-relative columns (models.peers) come last: they are added after finish, once the
# peer groups' baselines are known.
FEATURE_COLUMNS: tuple[str, ...] = (*_feature_exprs(0), *PEER_COLUMNS)
# Kept beside the features for reasons and rules (never fed to the model).
EXPLANATION_COLUMNS = (
    "ctr_in_cents",
    "ctr_out_cents",
    "day_cash_in_cents",
    "cents",
    "flags",
    "cp_country",
    "near_min_cents_7d",
    "near_max_cents_7d",
    "near_min_cents_30d",
    "near_max_cents_30d",
    "near_cents_3d",
    "cash_in_cents_3d",
    "cash_in_cents_1d",
)


def finish(frame: pl.LazyFrame, *, coverage_start: int) -> pl.LazyFrame:
    """Window + counterparty aggregates → report identity, model inputs, explanation columns,
    and the peer working columns (:data:`models.peers.PEER_INPUTS`) that
    :func:`models.peers.with_peers` turns into the peer columns."""
    return frame.select(_finish_exprs(coverage_start))


@lru_cache(maxsize=16)
def _finish_exprs(coverage_start: int) -> list[pl.Expr | str]:
    """The projection of :func:`finish`, built once per coverage start (constant online)."""
    exprs = _feature_exprs(coverage_start)
    return [
        "institution_id",
        "report_id",
        "currency",
        "subject_key",
        "seq",
        "t",
        *[pl.col(name) for name in EXPLANATION_COLUMNS],
        *[expr.alias(name) for name, expr in exprs.items()],
        *peer_inputs(inst="inst", entity="entity", naics2="naics2", mx=_flag("flags", F_MX)),
    ]


# ---------------------------------------------------------------------------------------------
# Offline driver


def feature_chunks(
    compact: pl.DataFrame,
    *,
    coverage_start: int | None = None,
    chunk_rows: int = 150_000,
    calendar: BusinessCalendar = DEFAULT_CALENDAR,
) -> Iterator[pl.DataFrame]:
    """Features of every row of a history, one subject chunk at a time (unordered chunks).

    ``compact`` holds the rows in arrival order with ``with_keys`` applied. Each chunk runs
    exactly the functions the worker runs. The peer columns need every chunk's reports first
    (a peer group spans subjects), so the chunks are held until the baselines are known.
    """
    if compact.is_empty():
        return
    if "gap_s" not in compact.columns:
        compact = with_gaps(compact.lazy()).collect()
    start = int(compact["t"][0]) if coverage_start is None else coverage_start
    cp = (
        counterparty_features(compact.lazy(), edges(compact.lazy()))
        .select("seq", "cp_payers_7d", "cp_payees_7d")
        .collect()
    )
    n_chunks = max(1, compact.height // chunk_rows)
    parts: list[pl.DataFrame] = []
    for chunk in range(n_chunks):
        part = compact.lazy().filter((pl.col("sid") % n_chunks) == chunk)
        windows = window_features(part, part, calendar=calendar).join(
            cp.lazy(), on="seq", how="left"
        )
        parts.append(finish(windows, coverage_start=start).collect())
    counts = merge_counts(daily_counts(part) for part in parts)
    days = pl.concat([part.select("pday") for part in parts]).unique()["pday"].to_list()
    baseline = baselines(counts, days)
    while parts:
        yield with_peers(parts.pop(0), baseline)


def build_features(
    compact: pl.DataFrame,
    *,
    coverage_start: int | None = None,
    chunk_rows: int = 150_000,
    calendar: BusinessCalendar = DEFAULT_CALENDAR,
) -> pl.DataFrame:
    """Features of every row of a history, in arrival order (see :func:`feature_chunks`)."""
    parts = list(
        feature_chunks(
            compact, coverage_start=coverage_start, chunk_rows=chunk_rows, calendar=calendar
        )
    )
    if not parts:
        return empty_features()
    return pl.concat(parts).sort("seq")


def empty_features() -> pl.DataFrame:
    """A feature frame with no rows and every column."""
    finished = finish(_empty_targets().lazy(), coverage_start=0).collect()
    return with_peers(finished, baselines(daily_counts(finished), []))


def _empty_targets() -> pl.DataFrame:
    compact = with_keys(encode(flatten([]))).collect()
    compact = with_gaps(compact.lazy()).collect()
    windows = window_features(compact.lazy(), compact.lazy())
    return windows.join(
        pl.LazyFrame(
            schema={"seq": pl.Int64(), "cp_payers_7d": pl.UInt32(), "cp_payees_7d": pl.UInt32()}
        ),
        on="seq",
        how="left",
    ).collect()


def features_from_documents(
    documents: Iterable[Mapping[str, Any]], *, chunk_rows: int = 150_000
) -> pl.DataFrame:
    """Convenience for tests and small files: documents → features, offline path."""
    compact = with_keys(encode(flatten(documents))).collect()
    return build_features(compact, chunk_rows=chunk_rows)


def feature_config() -> dict[str, Any]:
    """What, besides the column list, defines the features (recorded in model cards)."""
    return {
        "windows_s": WINDOWS,
        "counterparty_window_s": COUNTERPARTY_WINDOW_S,
        # The conversion, not the rates (reference data: a new rate file needs no retraining).
        "fx": "usd_cents_floor_exact",
        "high_risk_countries": list(HIGH_RISK_COUNTRIES),
        "near_fraction": list(NEAR_FRACTION),
        "thresholds_cents": {"us_ctr": US_CTR_CENTS, "mx_ror": MX_ROR_CENTS},
        "str_groups": {name: sorted(codes) for name, codes in STR_GROUPS.items()},
        "hash_seed": _HASH_SEED,
        "peer_values": list(PEER_VALUES),
    }


def feature_digest() -> str:
    """A digest of the feature list and configuration; a model only fits the same digest."""
    material = json.dumps(
        {"columns": list(FEATURE_COLUMNS), "config": feature_config()}, sort_keys=True
    )
    return hashlib.sha256(material.encode()).hexdigest()
