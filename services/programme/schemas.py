"""The programme results report: what one period achieved, per country and in total."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class MoneyTotal(BaseModel):
    """How many, and how much, in one currency (minor units)."""

    currency: str
    count: int
    amount_minor: int


class ShareTotal(BaseModel):
    """Money shared with one agency or one country, in one currency (minor units)."""

    key: str
    currency: str
    amount_minor: int


class Duration(BaseModel):
    """The median of a set of durations, and how many there were."""

    count: int
    median: float | None = Field(description="null when there is nothing to measure")
    unit: str


class CountryFigures(BaseModel):
    """One country's figures (the jurisdiction that received, screened, seized); ``ALL`` sums."""

    country: str
    reports_received: dict[str, int] = Field(description="by report type (LVTR, STR, TXN)")
    subjects_screened: int
    alerts_raised: int
    alert_decisions: dict[str, int] = Field(
        description="alerts decided in the period: FILED, or CLOSED:<disposition>"
    )
    exports: dict[str, int] = Field(description="files exported: fincen-sar, fincen-ctr, goaml")
    assets_seized: list[MoneyTotal]
    assets_forfeited: list[MoneyTotal]
    remitted: list[MoneyTotal] = Field(description="remissions and restorations approved")
    shared_by_agency: list[ShareTotal] = Field(description="sharing decisions approved")
    shared_by_country: list[ShareTotal] = Field(description="by the recipient's country")
    alert_to_decision: Duration
    seizure_to_disbursement: Duration


class ProgrammeReport(BaseModel):
    period_from: date
    period_to: date = Field(description="inclusive")
    generated_at: datetime
    countries: list[CountryFigures]
    total: CountryFigures
