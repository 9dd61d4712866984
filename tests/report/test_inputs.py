"""The report's contacts: the contacts and their labels side by side, whichever order the labels were written in."""

from __future__ import annotations

import pandas as pd

from base.config import Paths
from report.inputs import CONTACT_COLUMNS, REPORT_LABEL_COLUMNS, load_contacts


def _write(tmp_path, label_order: list[int]) -> Paths:
    n = 6
    contacts = pd.DataFrame({
        "contact_id": [f"c{i}" for i in range(n)],
        "customer_id": [f"u{i % 2}" for i in range(n)],
        "started_at": pd.date_range("2025-03-03", periods=n, freq="h", tz="UTC"),
        "channel": pd.Categorical(["phone", "chat"] * 3),
        "team": pd.Categorical(["T1", "T1", "T2", "T2", "T1", None]),
    })
    labels = pd.DataFrame({
        "contact_id": contacts["contact_id"],
        "status": ["labelled"] * 5 + ["censored"],
        "repeated": [True, False, False, True, False, None],
        "tracking_repeated": [True, False, False, True, False, None],
        "excluded_reason": [""] * n,
        "episode_id": [0, 1, 2, 0, 3, 4],
        "contact_seq": [0, 0, 0, 1, 0, 0],
        "is_first_contact": [True, True, True, False, True, True],
        "merged_into": [None] * n,  # a label column the report does not read
    }).iloc[label_order]
    (tmp_path / "contacts").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    contacts.to_parquet(tmp_path / "contacts" / "part-0.parquet")
    labels.to_parquet(tmp_path / "labels" / "part-0.parquet", index=False)
    return Paths.default(contacts=str(tmp_path / "contacts"), labels=str(tmp_path / "labels"))


def test_contacts_are_joined_with_their_own_labels_in_either_order(tmp_path):
    same = load_contacts(_write(tmp_path / "same", list(range(6))))
    shuffled = load_contacts(_write(tmp_path / "shuffled", [3, 0, 5, 1, 4, 2]))
    assert list(same.columns) == [c for c in CONTACT_COLUMNS if c in same.columns] + REPORT_LABEL_COLUMNS
    assert "contact_id" not in same and "customer_id" not in same and "merged_into" not in same
    pd.testing.assert_frame_equal(same, shuffled)
    assert same["episode_id"].tolist() == [0, 1, 2, 0, 3, 4] and same["status"].iloc[-1] == "censored"
