"""The labels' agreement with the generator's truth (synthetic/truth.py) gives, figure for figure, what the
plain pandas reading of its rules gives (tests/synthetic/reference_truth.py), whatever the label settings,
the row order and the way contact ids are written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contract.schema import SourceSpec, normalise_contacts
from labelling.config import LabelConfig
from labelling.labeller import label_table
from synthetic.centre import generate
from synthetic.config import Messiness, SyntheticConfig
from synthetic.reasons import REASON_FAMILY
from synthetic.truth import TRUTH_COLUMNS, label_truth_agreement
from tests.synthetic.reference_truth import reference_truth_agreement


@pytest.fixture(scope="module")
def messy():
    """A small centre with every kind of messiness (anonymous contacts, bad rows, dropped calls...)."""
    m = Messiness.default(anonymous=0.05, bad_rows=0.01, dropped_calls=0.05, duplicates=0.02)
    data = generate(SyntheticConfig.default(n_contacts=20_000, n_customers=3_000, n_agents=60, n_teams=6,
                                            messiness=m, seed=3))
    contacts = normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY)).contacts
    return data, contacts


SETTINGS = [{}, {"match": "same_reason"}, {"match": "any"}, {"survey_override": False},
            {"abandoned_counts_as_repeat": False}, {"merge_gap_s": 3600}, {"merge_gap_s": 0}, {"window_days": 2.5}]


@pytest.mark.parametrize("settings", SETTINGS)
def test_agreement_equals_the_reference(messy, settings):
    data, contacts = messy
    cfg = LabelConfig.default(**settings)
    labelled = label_table(contacts, cfg)
    want = reference_truth_agreement(labelled, data.truth, cfg.window_days)
    assert label_truth_agreement(labelled, data.truth, cfg.window_days) == want
    table = pa.Table.from_pandas(data.truth[TRUTH_COLUMNS], preserve_index=False)
    assert label_truth_agreement(labelled, table, cfg.window_days) == want


def test_agreement_equals_the_reference_in_any_row_order(messy):
    data, contacts = messy
    cfg = LabelConfig.default(merge_gap_s=600)
    labelled = label_table(contacts, cfg)
    shuffled = labelled.iloc[np.random.default_rng(0).permutation(len(labelled))].reset_index(drop=True)
    want = reference_truth_agreement(shuffled, data.truth, cfg.window_days)
    assert want["contacts_unconfounded"] > 0
    assert label_truth_agreement(shuffled, data.truth, cfg.window_days) == want


def test_agreement_with_ids_written_otherwise(messy):
    """Ids that are not the generator's (here: lower case, different widths) are matched by hashing."""
    data, contacts = messy
    cfg = LabelConfig.default()

    def rename(ids: pd.Series) -> pd.Series:
        return ("ct" + ids.str[2:].str.lstrip("0")).where(ids.notna())

    labelled = label_table(contacts.assign(contact_id=rename(contacts["contact_id"])), cfg)
    truth = data.truth.assign(contact_id=rename(data.truth["contact_id"]),
                              next_issue_contact_id=rename(data.truth["next_issue_contact_id"]))
    want = reference_truth_agreement(labelled, truth, cfg.window_days)
    assert want["contacts_compared"] > 0
    assert label_truth_agreement(labelled, truth, cfg.window_days) == want
    # and one stray id among the generator's is enough to fall back to hashing, with the same figures
    labelled = label_table(contacts, cfg)
    stray = labelled.assign(contact_id=labelled["contact_id"].where(labelled.index != 5, "stray"))
    assert label_truth_agreement(stray, data.truth, 7) == reference_truth_agreement(stray, data.truth, 7)
