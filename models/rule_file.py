"""The operator's rule file (``AMLSCREEN_RULES_FILE``): which rules run, which force alerts.

A TOML file of flat keys named as :class:`models.rules.RuleConfig`'s fields; a key left out
keeps its default. It holds what a unit decides about its own screening: a rule on or off,
whether its hit forces an alert whatever the score, how many near-threshold legs make
structuring, when a business's structuring hit forces, and the country lists (FATF updates
its lists three times a year; a unit must follow without a release).

It does not hold the reporting thresholds ($10,000 CTR, USD 7,500 operación relevante): they
are the law's, and the features the model was trained on count near-threshold legs against
them (``refdata.thresholds``). A file that names them, or any unknown key, is refused with
the key's name, never silently ignored.

The worker and ``amlscreen score`` read the same file, so a backtest forces the alerts the
worker would (docs/detection.md §3).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.rules import RuleConfig
from refdata.countries import check_country

RULES_FILE_ENV = "AMLSCREEN_RULES_FILE"


class RuleFileError(ValueError):
    """A rule file that cannot be used: unreadable, not TOML, or a key or value refused."""


Share = Annotated[float, Field(gt=0, le=1)]
_DEFAULT_SHARE = RuleConfig.structuring_entity_min_near_share


class RuleFile(BaseModel):
    """The keys a rule file may hold, each checked; defaults are :class:`RuleConfig`'s."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    ctr_enabled: bool = RuleConfig.ctr_enabled
    ctr_forces_alert: bool = RuleConfig.ctr_forces_alert
    structuring_enabled: bool = RuleConfig.structuring_enabled
    structuring_min_legs_day: int = Field(default=RuleConfig.structuring_min_legs_day, ge=1)
    structuring_min_legs_3d: int = Field(default=RuleConfig.structuring_min_legs_3d, ge=1)
    structuring_forces_alert: bool = RuleConfig.structuring_forces_alert
    structuring_forces_alert_entities: bool = RuleConfig.structuring_forces_alert_entities
    # A share in (0, 1], or "never": a business's structuring hit then never forces (unless
    # structuring_forces_alert_entities).
    structuring_entity_min_near_share: Share | Literal["never"] = (
        "never" if _DEFAULT_SHARE is None else _DEFAULT_SHARE
    )
    ror_enabled: bool = RuleConfig.ror_enabled
    ror_forces_alert: bool = RuleConfig.ror_forces_alert
    high_risk_enabled: bool = RuleConfig.high_risk_enabled
    high_risk_countries: tuple[str, ...] = RuleConfig.high_risk_countries
    high_risk_forces_alert: bool = RuleConfig.high_risk_forces_alert
    secrecy_enabled: bool = RuleConfig.secrecy_enabled
    secrecy_countries: tuple[str, ...] = RuleConfig.secrecy_countries
    secrecy_forces_alert: bool = RuleConfig.secrecy_forces_alert

    @field_validator("high_risk_countries", "secrecy_countries", mode="before")
    @classmethod
    def _countries(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value  # pydantic says what it expected
        codes: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{item!r} is not an ISO 3166-1 alpha-2 country code")
            code = check_country(item.upper())
            if code not in codes:
                codes.append(code)
        return tuple(codes)

    def config(self) -> RuleConfig:
        share = self.structuring_entity_min_near_share
        values = self.model_dump()
        values["structuring_entity_min_near_share"] = None if share == "never" else share
        return RuleConfig(**values)


# RuleConfig fields a rule file may not set, and why (the error names the reason).
_NOT_IN_A_FILE = {
    "ctr_threshold_cents": "the CTR threshold is the law's ($10,000; refdata.thresholds)",
    "ror_threshold_cents": (
        "the operación relevante threshold is the law's (USD 7,500; refdata.thresholds)"
    ),
}


def parse_rule_file(text: str, source: str) -> RuleConfig:
    """The rule configuration of a rule file's text; :class:`RuleFileError` says what is wrong."""
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RuleFileError(f"{source}: not a TOML file: {error}") from None
    for key, why in _NOT_IN_A_FILE.items():
        if key in values:
            raise RuleFileError(f"{source}: {key} cannot be set in a rule file: {why}")
    try:
        return RuleFile.model_validate(values).config()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(file)'}:"
            f" {problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        )
        raise RuleFileError(f"{source}: {problems}") from None


def load_rule_file(path: Path | None) -> RuleConfig:
    """The rule configuration of ``path``; the defaults when ``path`` is None."""
    if path is None:
        return RuleConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RuleFileError(f"cannot read the rule file {path}: {error}") from None
    return parse_rule_file(text, str(path))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    if value is None:
        return '"never"'
    return repr(value)


def render_rule_file(config: RuleConfig) -> str:
    """A rule file that gives ``config``, every key written out with what it does."""
    lines = [
        "# amlscreen rule file (AMLSCREEN_RULES_FILE; docs/detection.md §3).",
        "# Every key is optional: a key left out keeps its default. Check a file with",
        "#   amlscreen rules check FILE",
        "# The reporting thresholds ($10,000 CTR, USD 7,500 operación relevante) are the",
        "# law's and not set here.",
    ]
    for key, comment in _COMMENTS.items():
        lines += ["", *(f"# {line}" for line in comment.split("\n"))]
        lines.append(f"{key} = {_toml_value(getattr(config, key))}")
    return "\n".join(lines) + "\n"


_COMMENTS = {
    "ctr_enabled": "us_ctr_cash_in / us_ctr_cash_out: cash over $10,000 in one business day",
    "ctr_forces_alert": "a CTR is routine: its hit explains an alert, it does not force one",
    "structuring_enabled": "structuring: cash deposits piled just below the threshold",
    "structuring_min_legs_day": "near-threshold deposits on one business day that make it",
    "structuring_min_legs_3d": "...or near-threshold deposits within 72 hours",
    "structuring_forces_alert": "a person's structuring hit forces an alert",
    "structuring_forces_alert_entities": "every business's structuring hit forces one too",
    "structuring_entity_min_near_share": (
        "otherwise a business's hit forces when this share of its cash deposits over 30 days\n"
        'were near-threshold legs (0-1, or "never")'
    ),
    "ror_enabled": "mx_ror: cash of USD 7,500 or more at a Mexican institution",
    "ror_forces_alert": "an operación relevante is routine: no forced alert",
    "high_risk_enabled": "high_risk_jurisdiction: a counterparty in a listed country",
    "high_risk_countries": "ISO 3166-1 alpha-2 codes (FATF call for action and grey list)",
    "high_risk_forces_alert": "its hit forces an alert",
    "secrecy_enabled": "secrecy_jurisdiction: a counterparty in a secrecy haven",
    "secrecy_countries": "ISO 3166-1 alpha-2 codes",
    "secrecy_forces_alert": "legitimate trade goes there too: a reason, not a forced alert",
}
