"""What the labels mean, in the words the registry and the lineage of a model record.

In: the `label` section of params. Out: the label target: window, match rule and what decides a repeat.
Two models are only ever compared when they were trained for the same target (contract/lineage.py).
"""

from __future__ import annotations

from labelling.config import LabelConfig


def label_target(label: LabelConfig) -> dict:
    """What the labels mean: a model is only ever compared with one trained for the same target."""
    source = (f"repeat tracking; survey override {'on' if label.survey_override else 'off'}; abandoned "
              f"{'counts' if label.abandoned_counts_as_repeat else 'does not count'} as a repeat; merge gap "
              f"{label.merge_gap_s:g} s")
    if label.source == "column":
        source = "the export's own resolution signal (label.source: column)"
    return {"window_days": label.window_days, "match": label.match, "source": source}
