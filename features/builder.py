"""Point-in-time features of every contact, from what was known when it arrived (batch featurize).

In: contacts in contract form, their labels (from the label stage), the customers and agents
tables, the label window, a `FeaturizeConfig` and the user's extra columns (contract.json). Out: one
row per contact with every feature of features/spec.py, and the `FeatureSpec` that travels with the
model. The rules themselves are in features/rules.py (shared with the service); here the table is
turned into their input arrays (`prepare`) and their output back into a table (`assemble`), which the
Dask engine (engine/features.py) also calls per customer partition. Cutting the data at any time T
leaves every feature of every contact before T unchanged (tests/features/test_builder.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import rules
from features.history import group_codes
from features.rules import GLOBAL_KEY, GROUPINGS, MISSING_TIME, Inputs
from features.spec import EXTRA_PREFIX, PROFILE, ExtraColumn, FeatureSpec, all_features, feature_spec
from features.config import FeaturizeConfig

NO_PREVIOUS = "none"
# Optional export columns: when absent their features are all missing and dropped from the model.
OPTIONAL_COLUMNS = ("agent_id", "team", "wait_s", "handle_s", "transfers", "disposition")
CONTACT_INPUTS = ("contact_id", "customer_id", "started_at", "channel", "reason_code", "reason_family",
                  *OPTIONAL_COLUMNS)


def input_columns(extras: dict[str, ExtraColumn] | None = None) -> list[str]:
    """The contact columns `build_features` reads: the contract's and the user's extra columns. Whatever
    builds features (featurize, batch scoring) selects these, so that no extra column is left behind."""
    return [*CONTACT_INPUTS, *(EXTRA_PREFIX + name for name in extras or {})]


def agent_family_key(agent_id: pd.Series, family: pd.Series) -> pd.Series:
    return agent_id.astype("str") + "|" + family.astype("str")


def _seconds(s: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(s).as_unit("s").asi8


def _column(frame: pd.DataFrame, name: str, index: pd.Index, dtype: str | None = None) -> pd.Series:
    if name in frame:
        col = frame[name]
        return pd.Series(col.array, index=index) if dtype is None else pd.Series(col.to_numpy(dtype=dtype), index=index)
    return pd.Series(np.nan, index=index)


def _lookup(table: pd.DataFrame, key: str, values: pd.Series) -> pd.DataFrame:
    """The row of a side table (customers, agents) for each value; all missing where unknown.
    Arrow's hash lookup and take: pandas' reindex of 10 million string keys goes through Python."""
    idx = pc.index_in(pa.array(values.astype("str").array), value_set=pa.array(table[key].astype("str").array))
    # Text columns as dictionaries first: taking 10 million indices beats copying 10 million strings.
    text = [col for col in table.columns if col != key and table[col].dtype == "str"]
    side = table.astype({col: "category" for col in text})
    return pa.Table.from_pandas(side, preserve_index=False).take(idx).to_pandas()


def is_labelled(status: pd.Series) -> np.ndarray:
    """Status == "labelled", without casting 10M categories to strings first (seconds at that size)."""
    return status.eq("labelled").fillna(False).to_numpy(dtype=bool)


def aligned_labels(labels: pd.DataFrame, contact_id: pd.Series) -> pd.DataFrame:
    """Labels in the contacts' row order (the label stage keeps it; otherwise look them up)."""
    if len(labels) == len(contact_id) and labels["contact_id"].reset_index(drop=True).equals(contact_id):
        return labels.reset_index(drop=True)
    return labels.set_index("contact_id").reindex(contact_id).reset_index()


def _base_counts(c: pd.DataFrame, team: pd.Series, base: dict[str, pd.DataFrame]) -> dict[str, tuple]:
    """Per row, the matured counts of its groups from a snapshot's tables (keyed by string)."""
    keys = {"global": pd.Series(GLOBAL_KEY, index=c.index), "customer": c["customer_id"],
            "reason_family": c["reason_family"], "reason_code": c["reason_code"], "team": team,
            "agent": c["agent_id"], "agent_family": agent_family_key(c["agent_id"], c["reason_family"])}
    out = {}
    for grouping in GROUPINGS:
        k = keys[grouping].astype("str")
        out[grouping] = (k.map(base[grouping]["events"]).fillna(0).to_numpy(dtype=float),
                         k.map(base[grouping]["trials"]).fillna(0).to_numpy(dtype=float))
    return out


FLAG_WORDS = {"true": 1.0, "yes": 1.0, "y": 1.0, "1": 1.0, "false": 0.0, "no": 0.0, "n": 0.0, "0": 0.0}


def extra_value(col: pd.Series, kind: str) -> pd.Series:
    """A user's extra column as a feature: categories as text; flags and numbers as floats (flags
    1/0; true/false, yes/no in any case); anything unreadable is missing."""
    if kind == "category":
        return col.astype("str").where(col.notna()).astype("category")
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return pd.Series(col.astype("Float64").to_numpy(dtype=float, na_value=np.nan), index=col.index)
    if kind == "flag":
        return col.astype("str").str.strip().str.lower().map(FLAG_WORDS).where(col.notna()).astype("float64")
    return pd.to_numeric(col, errors="coerce").astype("float64")


@dataclass
class Prepared:
    """A contact table turned into the rules' input arrays, with the columns the feature table takes besides."""
    contacts: pd.DataFrame   # index reset
    inputs: Inputs
    profile: pd.DataFrame    # the customers table's row of each contact
    channel: pd.Categorical
    agent: pd.Series
    team: pd.Series          # the contact's team, else its agent's


def prepare(contacts: pd.DataFrame, labels: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame,
            base: dict[str, pd.DataFrame] | None = None) -> Prepared:
    """The rules' inputs of `contacts` (labels in any order; see `build_features` for `base`)."""
    c = contacts.reset_index(drop=True)
    index = c.index
    lab = aligned_labels(labels, c["contact_id"])
    n = len(c)
    prof = _lookup(customers, "customer_id", c["customer_id"])
    channel = c["channel"].array if isinstance(c["channel"].dtype, pd.CategoricalDtype) else \
        pd.Categorical(c["channel"].astype("str"))
    agent_col = _column(c, "agent_id", index)
    ag = _lookup(agents, "agent_id", agent_col)
    team_col = _column(c, "team", index)
    if "team" in ag:
        team_col = team_col.fillna(pd.Series(ag["team"].array, index=index))
    labelled = is_labelled(lab["status"])
    inputs = Inputs(
        t=_seconds(c["started_at"]), customer=group_codes(c["customer_id"]), channel=channel.codes.astype(np.int64),
        family=group_codes(c["reason_family"]), reason=group_codes(c["reason_code"]),
        agent=group_codes(agent_col), team=group_codes(team_col),
        signup=_seconds(prof["signup_date"]) if "signup_date" in prof else np.full(n, MISSING_TIME),
        hired=_seconds(ag["hired_at"]) if "hired_at" in ag else np.full(n, MISSING_TIME),
        labelled=labelled, repeated=lab["repeated"].fillna(False).to_numpy(dtype=bool) & labelled,
        base=None if base is None else _base_counts(c.assign(agent_id=agent_col), team_col, base))
    return Prepared(c, inputs, prof, channel, agent_col, team_col)


def assemble(p: Prepared, derived: dict[str, np.ndarray], extras: dict[str, ExtraColumn] | None = None) -> pd.DataFrame:
    """The feature table of prepared contacts from the rules' outputs (`derived`, every feature of
    features/rules.py), in the contacts' row order."""
    c, index = p.contacts, p.contacts.index
    f: dict[str, object] = {"contact_id": c["contact_id"].array, "started_at": c["started_at"].array}
    for col in PROFILE:
        f[col] = _column(p.profile, col, index)
    f.update(derived)
    prev = pd.Categorical.from_codes(f["previous_channel"], categories=p.channel.categories)
    f["previous_channel"] = prev.add_categories([NO_PREVIOUS]).fillna(NO_PREVIOUS)
    f["reason_code"] = c["reason_code"].array
    f["reason_family"] = c["reason_family"].array
    f["channel"] = p.channel
    f["wait_s"] = _column(c, "wait_s", index, "float64")
    f["agent_id"] = p.agent
    f["team"] = p.team
    f["handle_s"] = _column(c, "handle_s", index, "float64")
    f["transfers"] = pd.to_numeric(_column(c, "transfers", index), errors="coerce").astype("float64")
    f["disposition"] = _column(c, "disposition", index)
    for name, x in (extras or {}).items():
        f[EXTRA_PREFIX + name] = extra_value(_column(c, EXTRA_PREFIX + name, index), x.kind)
    feats = all_features(extras)
    for feat in feats:  # float32 halves memory and disk; LightGBM bins features anyway
        if feat.kind == "numeric":
            f[feat.name] = np.asarray(f[feat.name], dtype=np.float32)
    out = pd.DataFrame({k: f[k] for k in ["contact_id", "started_at", *(feat.name for feat in feats)]}, index=index)
    for feat in feats:
        if feat.kind == "categorical" and not isinstance(out[feat.name].dtype, pd.CategoricalDtype):
            out[feat.name] = out[feat.name].astype("category")
    return out


def build_features(contacts: pd.DataFrame, labels: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame,
                   window_days: float, cfg: FeaturizeConfig, base: dict[str, pd.DataFrame] | None = None,
                   extras: dict[str, ExtraColumn] | None = None) -> pd.DataFrame:
    """Features of every contact (same rows and order as `contacts`); see the module docstring.

    `base`: matured label counts per group that happened before the rows given here (an online
    snapshot's tables), added to what these rows contribute. `extras`: the user's extra columns."""
    p = prepare(contacts, labels, customers, agents, base)
    return assemble(p, rules.derived(p.inputs, window_days, cfg.prior_strength), extras)


LABELS_FOR_TRAINING = ["status", "repeated", "is_first_contact", "contact_seq"]


def with_training_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The feature table with the label columns training needs (labels in any order)."""
    # The label stage keeps the contacts' row order, so the labels usually line up row by row.
    if not labels["contact_id"].equals(features["contact_id"]):
        labels = labels.set_index("contact_id").reindex(features["contact_id"]).reset_index()
    return pd.concat([features, labels[LABELS_FOR_TRAINING].reset_index(drop=True)], axis=1)


def absent_columns(columns: set[str], empty: set[str], extras: dict[str, ExtraColumn] | None = None) -> set[str]:
    """The optional export columns the features lack: not among the contacts' `columns`, or (the contract's
    optional columns) missing in every row (`empty`)."""
    absent = {col for col in OPTIONAL_COLUMNS if col not in columns or col in empty}
    return absent | {f.source for f in all_features(extras) if f.source and f.source not in columns}


def table_spec(table: pd.DataFrame, window_days: float, extras: dict[str, ExtraColumn] | None,
               absent: set[str]) -> FeatureSpec:
    """The spec of the featurize stage's table: routing features constant or entirely missing on the labelled
    rows (what train fits on; all rows when none is labelled) are dropped from the model, with the reason."""
    training_rows = pd.Series(is_labelled(table["status"]))
    return feature_spec(table, window_days, extras, absent, training_rows if training_rows.any() else None)


def spec_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A few rows of a featurize table on which `table_spec` gives the table's own spec, so that the spec of a
    table made in pieces comes from its pieces' `spec_rows` concatenated (in order): for the training rows
    (labelled) and for the others, each column's first two distinct values (missing counting as one, as
    `nunique(dropna=False)`; the first repeated when there is one), what the spec reads of them (dtypes,
    categories, entirely missing, constant and its value)."""
    labelled = is_labelled(table["status"])
    out = []
    for rows in (table.loc[labelled], table.loc[~labelled]):
        if not len(rows):
            continue
        picks = {c: np.flatnonzero(~rows[c].duplicated().to_numpy())[:2] for c in rows.columns}
        width = max(len(p) for p in picks.values())
        picks["status"] = np.zeros(width, dtype=np.int64)  # (the rows' class, labelled or not, kept)
        out.append(pd.DataFrame({c: rows[c].iloc[np.resize(p, width)].array for c, p in picks.items()}))
    return pd.concat(out, ignore_index=True) if out else table.iloc[:0]


def training_table(contacts: pd.DataFrame, labels: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame,
                   window_days: float, cfg: FeaturizeConfig,
                   extras: dict[str, ExtraColumn] | None = None) -> tuple[pd.DataFrame, FeatureSpec]:
    """The featurize stage's table (features + the label columns training needs) and its spec (`table_spec`)."""
    features = build_features(contacts, labels, customers, agents, window_days, cfg, extras=extras)
    table = with_training_labels(features, labels)
    empty = {col for col in OPTIONAL_COLUMNS if col in contacts and contacts[col].isna().all()}
    return table, table_spec(table, window_days, extras, absent_columns(set(contacts.columns), empty, extras))
