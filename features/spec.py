"""The feature specification, declared once: what each feature is, to whom, and when it is known.

In: nothing (the built-in features) plus, for a user's export, its extra columns as declared by
ingest in contract.json (`{"<name>": {"kind": "number|category|flag", "availability": ...,
"source_column": <the export's column>}}`).
Out: `Feature` records (name, family, kind, availability, controllable, a plain-words label for a
contact-centre manager, a precise description for data scientists), and `feature_spec`, the
feature_spec.json that travels with the model: every feature's dtype and categories as built, the
routing model's features (arrival only), the features dropped from it and why, notes on optional
export columns that were absent, and the extra columns as declared (`spec_extras` reads them back, so
that whatever applies the model builds them as featurize did). The rules that compute the features
live in features/rules.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import pandas as pd

Kind = Literal["categorical", "numeric"]
# What a number counts, for the words a manager reads (report/words.py): a count of contacts or transfers, a
# duration, a share (0..1), an hour or weekday, a yes/no flag; None: a plain number (a user's own column).
Unit = Literal["contacts", "transfers", "days", "seconds", "share", "hour", "weekday", "flag"]
Availability = Literal["arrival", "after_contact"]
Family = Literal["customer", "reason", "channel", "agent", "process", "custom"]
WINDOWS_DAYS = (1, 7, 30, 90)
PROFILE = ("segment", "tier", "plan", "region", "language")
EXTRA_PREFIX = "extra_"


@dataclass(frozen=True)
class Feature:
    name: str
    family: Family
    kind: Kind
    availability: Availability  # arrival: known when the contact arrives (routing); after_contact: diagnostics
    controllable: bool          # can the operation act on it (agents, channels, process), or not (who calls, why)
    label: str                  # plain words (what the value is, in its unit), for the report and the service
    description: str            # the precise rule
    in_model: bool = True       # arrival features the routing model uses (see agent_id)
    source: str | None = None   # the optional export column it needs; absent column -> no such feature
    monotone: int = 0           # +1: the repeat risk never falls as it grows (training enforces it), 0: free
    unit: Unit | None = None    # what the number counts (numeric features); None for categories
    window_days: float | None = None  # looks back this many days (a count over a window), else None


def _f(name: str, family: Family, kind: Kind, label: str, description: str, *, availability: Availability = "arrival",
       controllable: bool | None = None, in_model: bool = True, source: str | None = None,
       monotone: int = 0, unit: Unit | None = None, window_days: float | None = None) -> Feature:
    # Who can act on a driver: the operation (agents, channels, process) or nobody (who calls, and why).
    if controllable is None:
        controllable = family in ("agent", "channel", "process")
    return Feature(name, family, kind, availability, controllable, label, description, in_model, source, monotone,
                   unit, window_days)


FEATURES: tuple[Feature, ...] = (
    *(_f(p, "customer", "categorical", f"customer {p}", f"customer {p} (customers table)") for p in PROFILE),
    _f("customer_tenure_days", "customer", "numeric", "time the customer has been with us",
       "days since the customer signed up", unit="days"),
    *(_f(f"customer_contacts_{d}d", "customer", "numeric",
         f"the customer's contacts in the last {'day' if d == 1 else f'{d} days'}",
         f"the customer's contacts in the {d} days before this one", monotone=1, unit="contacts", window_days=d)
      for d in WINDOWS_DAYS),
    _f("days_since_last_contact", "customer", "numeric", "time since the customer's last contact",
       "days since the customer's previous contact", unit="days"),
    _f("previous_channel", "customer", "categorical", "channel the customer used last time",
       "channel of the previous contact ('none')"),
    _f("switched_channel", "customer", "numeric", "customer switched channel since last time",
       "1 if the previous contact was on another channel", unit="flag"),
    _f("same_issue_contacts_window", "customer", "numeric",
       "the customer's earlier contacts about the same issue within the repeat window (a repeat already)",
       "contacts about the same reason family within the label window before: is this itself a repeat",
       monotone=1, unit="contacts"),
    _f("customer_past_labelled", "customer", "numeric", "the customer's earlier contacts whose outcome we know",
       "the customer's matured labelled contacts", unit="contacts"),
    _f("customer_past_repeats", "customer", "numeric", "the customer's earlier contacts that needed another contact",
       "of those, how many were repeated", unit="contacts"),
    _f("customer_repeat_rate", "customer", "numeric", "share of the customer's earlier contacts that needed another",
       "the customer's matured repeat rate, shrunk toward everyone's", unit="share"),
    _f("reason_code", "reason", "categorical", "reason for the contact", "reason code"),
    _f("reason_family", "reason", "categorical", "kind of issue", "reason family"),
    _f("reason_difficulty", "reason", "numeric", "share of contacts for this reason that needed another",
       "matured repeat rate of the reason code, shrunk toward its family's", unit="share"),
    _f("channel", "channel", "categorical", "channel of the contact", "channel of the contact"),
    _f("hour", "channel", "numeric", "time of day the contact started (UTC)", "hour of day (UTC)", unit="hour"),
    _f("weekday", "channel", "numeric", "day of the week", "day of week, Monday = 0", unit="weekday"),
    _f("wait_s", "channel", "numeric", "time the customer waited in the queue",
       "queue wait, as known when the contact is routed", source="wait_s", unit="seconds"),
    # Measured (bench/agent_encoding.py): the smoothed agent rates alone beat a native categorical
    # agent_id (test log loss 0.5353 vs 0.5390, AUC 0.671 vs 0.661), so agent_id stays out of the model.
    _f("agent_id", "agent", "categorical", "agent", "agent (routing: the candidate agent)", in_model=False,
       source="agent_id"),
    _f("team", "agent", "categorical", "agent's team", "agent's team (contact, else agents table)", source="team"),
    _f("agent_tenure_days", "agent", "numeric", "agent's experience (time since hired)",
       "days since the agent was hired", source="agent_id", unit="days"),
    _f("agent_repeat_rate", "agent", "numeric", "share of the agent's earlier contacts that needed another",
       "agent's matured repeat rate, shrunk toward the team's", source="agent_id", unit="share"),
    _f("agent_family_repeat_rate", "agent", "numeric",
       "share of the agent's earlier contacts on this kind of issue that needed another",
       "agent's matured repeat rate on this reason family, shrunk toward the agent's", source="agent_id",
       unit="share"),
    _f("agent_contacts_today", "agent", "numeric", "contacts the agent already handled that day",
       "contacts the agent handled earlier today (UTC)", source="agent_id", unit="contacts"),
    _f("handle_s", "process", "numeric", "how long the contact lasted", "talk/handle time",
       availability="after_contact", source="handle_s", unit="seconds"),
    _f("transfers", "process", "numeric", "times the contact was transferred", "number of transfers",
       availability="after_contact", source="transfers", unit="transfers"),
    _f("disposition", "process", "categorical", "how the contact ended", "disposition",
       availability="after_contact", source="disposition"),
)


@dataclass(frozen=True)
class ExtraColumn:
    """A user's extra column, as ingest declares it in contract.json."""
    kind: Literal["number", "category", "flag"]
    availability: Availability
    source_column: str | None = None  # the export's column (the service takes the value under this name)


def extra_columns(contract: dict) -> dict[str, ExtraColumn]:
    """The `extra_columns` of a contract.json mapping (or of a feature spec), checked; a clear error
    names the bad entry."""
    out = {}
    for name, entry in (contract.get("extra_columns") or {}).items():
        kind, avail = entry.get("kind"), entry.get("availability")
        if kind not in ("number", "category", "flag") or avail not in ("arrival", "after_contact"):
            raise ValueError(f"contract.json extra_columns[{name!r}] = {entry}: kind must be number|category|flag "
                             "and availability arrival|after_contact (declare it in params.yaml ingest)")
        out[name] = ExtraColumn(kind, avail, entry.get("source_column"))
    return out


def spec_extras(spec: dict) -> dict[str, ExtraColumn]:
    """The extra columns a model was built with, from its feature spec. A spec written before the spec
    recorded them: read back from its `custom` features (category or number; a flag column ingest
    parsed is already 1/0, which a number reads the same)."""
    if "extra_columns" in spec:
        return extra_columns(spec)
    return {f["name"].removeprefix(EXTRA_PREFIX): ExtraColumn("category" if f["kind"] == "categorical" else "number",
                                                               f["availability"])
            for f in spec["features"] if f["family"] == "custom"}


def custom_features(extras: dict[str, ExtraColumn]) -> tuple[Feature, ...]:
    """A user's extra columns as features of family `custom` (column `extra_<name>`). Whether the
    operation can act on them is unknown, so they are not called controllable."""
    return tuple(
        Feature(f"{EXTRA_PREFIX}{name}", "custom", "categorical" if x.kind == "category" else "numeric", x.availability,
                False, f"{name} (your column)", f"extra column {name!r} ({x.kind}) of the export",
                source=f"{EXTRA_PREFIX}{name}", unit="flag" if x.kind == "flag" else None)
        for name, x in extras.items())


def all_features(extras: dict[str, ExtraColumn] | None = None) -> tuple[Feature, ...]:
    return FEATURES + custom_features(extras or {})


@dataclass
class FeatureSpec:
    """What travels with the model: every feature's declaration, dtype and categories, the columns the
    routing model uses (arrival only), those dropped and why, and notes on absent optional columns."""

    features: list[dict] = field(default_factory=list)
    model_features: list[str] = field(default_factory=list)
    dropped_features: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    label_window_days: float = 7.0
    extra_columns: dict[str, dict] = field(default_factory=dict)  # name -> kind, availability, source_column

    def to_dict(self) -> dict:
        return asdict(self)


def feature_spec(features: pd.DataFrame, window_days: float, extras: dict[str, ExtraColumn] | None = None,
                 absent: set[str] | frozenset[str] = frozenset(),
                 training_rows: pd.Series | None = None) -> FeatureSpec:
    """The spec of a built feature table. A routing feature that is entirely missing or constant on
    the training rows (`training_rows`, a boolean mask; all rows by default) carries no information:
    it is dropped from `model_features` and listed with the reason. `absent`: optional export columns
    that were not there (their features are all missing, and a note says so)."""
    spec = FeatureSpec(label_window_days=window_days,
                       extra_columns={name: asdict(x) for name, x in (extras or {}).items()})
    rows = features if training_rows is None else features.loc[training_rows.to_numpy(dtype=bool)]
    for f in all_features(extras):
        entry = {**asdict(f), "dtype": str(features[f.name].dtype)}
        if f.kind == "categorical":
            entry["categories"] = [str(v) for v in features[f.name].cat.categories]
        spec.features.append(entry)
        if f.availability != "arrival" or not f.in_model:
            continue
        col = rows[f.name]
        if f.source in absent:
            spec.dropped_features.append({"name": f.name, "reason": f"column {f.source} absent from the export"})
        elif col.isna().all():
            spec.dropped_features.append({"name": f.name, "reason": "entirely missing in the training table"})
        elif col.nunique(dropna=False) <= 1:
            spec.dropped_features.append({"name": f.name, "reason": f"constant in the training table ({col.iloc[0]})"})
        else:
            spec.model_features.append(f.name)
    for column in sorted(absent):
        names = [f.name for f in all_features(extras) if f.source == column]
        spec.notes.append(f"optional column {column} absent from the export: no {', '.join(names)}")
    return spec
