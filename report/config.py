"""The `report` section of params.yaml, and the zone the report cuts months and weeks in."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from base.config import Strict, iana_zone
from contract.config import IngestConfig


class ReportConfig(Strict):
    _section: ClassVar[str] = "report"
    fcr_target: float = Field(gt=0, lt=1)  # the operation's FCR target, drawn on the weekly trend
    team_targets: dict[str, float]  # team: its own FCR target; teams not listed use fcr_target
    top_reasons: int = Field(ge=1)
    top_categories: int = Field(ge=1)  # a chart of more categories shows the largest this many and "all others"
    min_segment_contacts: int = Field(ge=1)  # thinner segments / cells are marked "too few contacts", never ranked
    scorecard_min_contacts: int = Field(ge=1)  # agents/teams with fewer contacts are marked, never ranked
    scorecard_days: int = Field(ge=1)  # scorecards cover the last this many days of contacts with a known outcome
    significance: float = Field(gt=0, lt=1)  # two-sided level of "beyond noise" (tests and intervals)
    movers: int = Field(ge=1)
    weeks_shown: int = Field(ge=1)
    drivers_in_words: int = Field(ge=1)
    coaching_families: int = Field(ge=1)  # reason families listed per agent in the coaching list
    placeholder_agents: list[str]  # agent ids meaning "no agent" (compared ignoring case): never scored or ranked
    reason_names: str | None  # CSV with reason_code,reason_name; null = the codes themselves
    dependence_plots: int = Field(ge=0)
    # Synthetic centre only: planted drivers whose part of the logit has at least this standard
    # deviation must rank among the top drivers (checked into metrics/report.json).
    truth_check_min_spread: float = Field(ge=0)
    # IANA zone in which months and weeks are cut; None = the export's ingest.files.timezone (UTC for
    # the synthetic centre), resolved by the report stage (report_timezone)
    timezone: str | None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        return None if v is None else iana_zone(v, "report.timezone",
                                                 ", or null for the export's own (ingest.files.timezone)")


def report_timezone(report: ReportConfig, ingest: IngestConfig) -> str:
    """The zone the report cuts months and weeks in: report.timezone, else the export's own
    (ingest.files.timezone), else UTC (the synthetic centre)."""
    if report.timezone is not None:
        return report.timezone
    if ingest.source == "files" and ingest.files is not None:
        return ingest.files.timezone
    return "UTC"
