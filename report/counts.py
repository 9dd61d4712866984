"""The contacts the report measures, as counts: what the report keeps of the contact table, never the table whole.

In: contacts joined with their labels (report/inputs.py: the whole table on the local engine; one customer
partition at a time on a Dask cluster, engine/report.py) and the report's time zone. Out: `ContactCounts`:
- `views`: each view counts every contact once (column `labelling.measure.WEIGHT`), by what one group of the
  report's figures splits on or selects by (`VIEWS`: channel and team, reason, survey, transfers; the outcome
  columns, and the local day where figures are cut by month or week), with the latest start of each count:
  report/measures.py reads a view's rows with their count as a weight; a day in the report's zone lies in one
  week and one month, so every figure is the same as from the contacts themselves, and the latest starts keep
  the end of the data. A view's size grows with days and values, not with contacts;
- `switching`: repeat contacts by the channel the episode started on and the one the customer came back on
  (an episode lies in one customer's history: made per customer partition, summed);
- `present`: which of the report's columns hold any value (what the report says the export lacks).
Counts of partitions add up (`combine`): the same figures from the whole table as from its partitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labelling.measure import WEIGHT
from report.measures import channel_switching, local_naive

DAY = "day"  # the contact's calendar day in the report's zone (naive midnight)
OUTCOME = ["status", "is_first_contact", "repeated"]  # which contacts count in FCR, and resolved or not
# Each view counts every contact once, by the values one group of figures splits on (a column the export lacks
# is left out) and, where they are cut by month or week, by day: (columns, by day). Views rather than one count
# by every column at once: that would have nearly a row per contact (days x teams x reasons x ...).
VIEWS: dict[str, tuple[list[str], bool]] = {
    "channel_team": (["channel", "team"], True),  # FCR by month and week, channel, team; teams by week
    "reason": (["reason_code", "reason_family"], True),  # top reasons by month; FCR by reason
    "signal": (["channel", "survey_resolved", "resolution_signal", "tracking_repeated"], False),  # survey vs repeats
    "transfers": (["transfers"], False),  # FCR by number of transfers
}
TRANSFERS_CAP = 3  # transfers counted as 0, 1, 2 and 3+ (the report's groups): more values would only add rows
SWITCHING_AXES = ("first channel", "came back on")


@dataclass
class ContactCounts:
    timezone: str  # the zone of `DAY`: the report must cut months and weeks in the same one
    # name: the view's columns the export has (DAY first where by day), started_at (the latest of the row's
    # contacts) and their number, WEIGHT; sorted by the columns
    views: dict[str, pd.DataFrame]
    switching: pd.DataFrame = field(default_factory=pd.DataFrame)  # counts, rows: first channel, columns: back on
    present: dict[str, bool] = field(default_factory=dict)  # column: holds any value
    first_start: pd.Timestamp | None = None  # the earliest start (the views keep each count's latest)

    def has(self, column: str) -> bool:
        """Does the export have `column` with any value?"""
        return self.present.get(column, False)


def _view(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(keys, dropna=False, observed=True, sort=True)
    rows = grouped["started_at"].max().to_frame()
    rows[WEIGHT] = grouped[WEIGHT].sum().astype(np.int64) if WEIGHT in frame else grouped.size().astype(np.int64)
    return rows.reset_index()


def view_keys(name: str, columns: Iterable[str]) -> list[str]:
    """The columns view `name` counts by, of those in `columns`."""
    wanted, by_day = VIEWS[name]
    return [c for c in ([DAY] if by_day else []) + wanted + OUTCOME if c in columns]


def contact_counts(contacts: pd.DataFrame, tz: str, present: list[str] = ()) -> ContactCounts:
    """The counts of `contacts` (contacts joined with their labels) with days cut in `tz`; `present`: the
    columns to record whether they hold any value (besides the views')."""
    keys = list(dict.fromkeys(c for wanted, _ in VIEWS.values() for c in [*wanted, *OUTCOME] if c in contacts))
    frame = contacts[[*keys, "started_at"]]
    if pd.DatetimeIndex(frame["started_at"]).tz is None:  # a naive start is UTC, as everywhere in the report (and
        frame = frame.assign(started_at=frame["started_at"].dt.tz_localize("UTC"))  # ingest writes UTC times)
    if "transfers" in keys:
        frame = frame.assign(transfers=frame["transfers"].clip(upper=TRANSFERS_CAP))
    frame = frame.assign(**{DAY: local_naive(frame["started_at"], tz).dt.floor("D")})
    views = {name: _view(frame, view_keys(name, frame.columns)) for name in VIEWS}
    first = contacts["started_at"].min() if len(contacts) else None
    return ContactCounts(tz, views, _switching(channel_switching(contacts)),
                         {c: bool(c in contacts.columns and contacts[c].notna().any())
                          for c in dict.fromkeys([*keys, *present])}, None if pd.isna(first) else first)


def _switching(matrix: pd.DataFrame) -> pd.DataFrame:
    if not len(matrix):
        return pd.DataFrame()
    out = matrix.sort_index().sort_index(axis=1).astype(np.int64)
    out.index.name, out.columns.name = SWITCHING_AXES
    return out


def _as_categories(rows: pd.DataFrame, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Columns categorical in the parts stay categorical (concatenated with other categories, they became text)."""
    for column in rows.columns:
        dtypes = [p[column].dtype for p in parts if column in p]
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
    views = {}
    for name in parts[0].views:
        frames = [p.views[name] for p in parts]
        rows = _as_categories(pd.concat(frames, ignore_index=True), frames)
        views[name] = _view(rows, [c for c in rows.columns if c not in ("started_at", WEIGHT)])
    matrices = [p.switching.stack() for p in parts if len(p.switching)]  # (first channel, came back on): count
    switching = pd.concat(matrices).groupby(level=[0, 1]).sum().unstack(fill_value=0) if matrices else pd.DataFrame()
    present: dict[str, bool] = {}
    for p in parts:
        for column, holds in p.present.items():
            present[column] = present.get(column, False) or holds
    firsts = [p.first_start for p in parts if p.first_start is not None]
    return ContactCounts(zones.pop(), views, _switching(switching), present, min(firsts) if firsts else None)
