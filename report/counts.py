"""The contacts the report measures, as counts: what the report keeps of the contact table, never the table whole.

In: contacts joined with their labels (report/inputs.py: the whole table on the local engine; one customer
partition at a time on a Dask cluster, engine/report.py) and the report's time zone. Out: `ContactCounts`:
- `rows`: contacts counted (column `labelling.measure.WEIGHT`) by local day and by every value the report's
  figures split on or select by, with the latest start of each count: report/measures.py reads these rows with
  their count as a weight; a day in the report's zone lies in one week and one month, so every figure cut by
  month or week is the same as from the contacts themselves, and the latest starts keep the end of the data;
- `switching`: repeat contacts by the channel the episode started on and the one the customer came back on
  (an episode lies in one customer's history: made per customer partition, summed);
- `present`: which of the report's columns hold any value (what the report says the export lacks).
Counts of partitions add up (`combine`): the same figures from the whole table as from its partitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labelling.measure import WEIGHT
from report.measures import channel_switching, local_naive

DAY = "day"  # the contact's calendar day in the report's zone (naive midnight)
# What the figures split on or select by; a column the export lacks is left out. Transfers are capped where
# the report groups them ("3+"): more values would only make more rows.
KEYS = ["channel", "reason_code", "reason_family", "team", "transfers", "survey_resolved", "resolution_signal",
        "status", "repeated", "tracking_repeated", "is_first_contact"]
TRANSFERS_CAP = 3
SWITCHING_AXES = ("first channel", "came back on")


@dataclass
class ContactCounts:
    timezone: str  # the zone of `DAY`: the report must cut months and weeks in the same one
    rows: pd.DataFrame  # DAY, the KEYS the export has, started_at (the latest of the row's contacts), WEIGHT
    switching: pd.DataFrame = field(default_factory=pd.DataFrame)  # counts, rows: first channel, columns: back on
    present: dict[str, bool] = field(default_factory=dict)  # column: holds any value

    def has(self, column: str) -> bool:
        """Does the export have `column` with any value?"""
        return self.present.get(column, False)


def contact_counts(contacts: pd.DataFrame, tz: str, present: list[str] = ()) -> ContactCounts:
    """The counts of `contacts` (contacts joined with their labels) with days cut in `tz`; `present`: the
    columns to record whether they hold any value (besides the KEYS')."""
    keys = [k for k in KEYS if k in contacts.columns]
    frame = contacts[[*keys, "started_at"]]
    if "transfers" in keys:
        frame = frame.assign(transfers=frame["transfers"].clip(upper=TRANSFERS_CAP))
    frame = frame.assign(**{DAY: local_naive(frame["started_at"], tz).dt.floor("D")})
    grouped = frame.groupby([DAY, *keys], dropna=False, observed=True, sort=True)
    rows = grouped["started_at"].max().to_frame()
    rows[WEIGHT] = grouped.size().astype(np.int64)
    wanted = dict.fromkeys([*keys, *present])
    return ContactCounts(tz, rows.reset_index(), _switching(channel_switching(contacts)),
                         {c: bool(c in contacts.columns and contacts[c].notna().any()) for c in wanted})


def _switching(matrix: pd.DataFrame) -> pd.DataFrame:
    if not len(matrix):
        return pd.DataFrame()
    out = matrix.sort_index().sort_index(axis=1).astype(np.int64)
    out.index.name, out.columns.name = SWITCHING_AXES
    return out


def _as_categories(rows: pd.DataFrame, parts: list[ContactCounts]) -> pd.DataFrame:
    """Columns categorical in the parts stay categorical (concatenated with other categories, they became text)."""
    for column in rows.columns:
        dtypes = [p.rows[column].dtype for p in parts if column in p.rows]
        if all(isinstance(d, pd.CategoricalDtype) for d in dtypes) and not isinstance(rows[column].dtype,
                                                                                        pd.CategoricalDtype):
            values = sorted({v for d in dtypes for v in d.categories})
            rows[column] = pd.Categorical(rows[column], categories=values)
    return rows


def combine(parts: list[ContactCounts]) -> ContactCounts:
    """The counts of the partitions' contacts together (the partitions' days cut in the same zone)."""
    if not parts:
        raise ValueError("no partition counts to combine")
    zones = {p.timezone for p in parts}
    if len(zones) > 1:
        raise ValueError(f"partition counts cut in different zones: {sorted(zones)}")
    if len(parts) == 1:
        return parts[0]
    rows = _as_categories(pd.concat([p.rows for p in parts], ignore_index=True), parts)
    keys = [c for c in rows.columns if c not in ("started_at", WEIGHT)]
    grouped = rows.groupby(keys, dropna=False, observed=True, sort=True)
    summed = grouped["started_at"].max().to_frame()
    summed[WEIGHT] = grouped[WEIGHT].sum().astype(np.int64)
    matrices = [p.switching.stack() for p in parts if len(p.switching)]  # (first channel, came back on): count
    switching = pd.concat(matrices).groupby(level=[0, 1]).sum().unstack(fill_value=0) if matrices else pd.DataFrame()
    present: dict[str, bool] = {}
    for p in parts:
        for column, holds in p.present.items():
            present[column] = present.get(column, False) or holds
    return ContactCounts(zones.pop(), summed.reset_index(), _switching(switching), present)
