"""Response bodies of the filing routes (the exports themselves are XML documents)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Export = Literal["fincen-sar", "fincen-ctr", "goaml"]


class ExportReadiness(BaseModel):
    ready: bool
    needs: list[str] = Field(description="what the profile still lacks for this export")


class ProfileProblem(BaseModel):
    field: str
    message: str


class ProfileStatus(BaseModel):
    """A profile that parses: per institution and export, ready or not and what is needed."""

    path: str | None = Field(description="the profile file; null when set on the app")
    present: bool
    valid: Literal[True]
    institutions: dict[str, dict[Export, ExportReadiness]]
    needs: list[str] = Field(description="what the profile lacks before any export")
    fx_rates_to_usd: list[str] = Field(description="the currencies with a rate to USD")
    ready: bool


class InvalidProfileStatus(BaseModel):
    """A profile file that does not parse: every problem, and nothing is ready."""

    path: str
    valid: Literal[False]
    problems: list[ProfileProblem]
    ready: Literal[False]
