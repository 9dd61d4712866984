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
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from synthetic.truth import (agreement_figures, combine_truth_counts, read_truth, truth_agreement,
                             truth_counts, truth_of)


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


def test_agreement_equals_the_reference_on_a_centre_in_parts():
    """A centre in parts numbers each part's contacts after the previous part's (not 1..n over the truth's
    rows): matched by lookup, with the reference's figures."""
    m = Messiness.default(dropped_calls=0.05)
    data = generate(SyntheticConfig.default(n_contacts=12_000, n_customers=2_000, n_agents=40, n_teams=5,
                                            messiness=m, seed=4, part_contacts=4_000))
    numbers = data.truth["contact_id"].str[2:].astype(int)
    assert numbers.is_unique and not numbers.equals(pd.Series(np.arange(1, len(numbers) + 1)))  # (three parts)
    contacts = normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY)).contacts
    cfg = LabelConfig.default()
    labelled = label_table(contacts, cfg)
    want = reference_truth_agreement(labelled, data.truth, cfg.window_days)
    assert want["contacts_unconfounded"] > 0.9 * want["contacts_compared"] > 0
    assert label_truth_agreement(labelled, data.truth, cfg.window_days) == want


# the agreement from counts of customer pieces (issue 28: the label stage on a Dask cluster)


@pytest.fixture(scope="module")
def truth_parts(messy, tmp_path_factory):
    """The truth as the generator may write it in parallel: part files truth-NNNNN.parquet (and other files)."""
    folder = tmp_path_factory.mktemp("truth")
    truth = messy[0].truth
    bounds = [0, len(truth) // 3, len(truth) // 2, len(truth)]
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        truth.iloc[lo:hi].to_parquet(folder / f"truth-{i:05d}.parquet", index=False)
    truth.iloc[:10].to_parquet(folder / "agent_truth.parquet", index=False)  # (not the truth: left alone)
    return folder


def test_truth_read_from_part_files(messy, truth_parts):
    data, contacts = messy
    labelled = label_table(contacts, LabelConfig.default())
    want = label_truth_agreement(labelled, data.truth, 7)
    assert {k: v for k, v in want.items() if k != "_disagreeing_ids"} == truth_agreement(
        labelled, read_truth(truth_parts), 7)
    assert read_truth(truth_parts / "none") is None and truth_counts(labelled, None, 7) is None


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.integers(1, 6), seed=st.integers(0, 10**6), update=st.sampled_from(SETTINGS))
def test_counts_of_customer_pieces_with_their_truth_rows_add_up_to_the_whole(messy, truth_parts, pieces, seed,
                                                                           update):
    """Each piece (whole customers; anonymous contacts anywhere) with only its contacts' truth rows, read from the
    part files: the counts added up give the figures of the whole table, which are the reference's."""
    data, contacts = messy
    cfg = LabelConfig.default(**update)
    labelled = label_table(contacts, cfg)
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(labelled["customer_id"])
    piece = np.where(codes >= 0, rng.integers(0, pieces, len(uniques) + 1)[codes], rng.integers(0, pieces, len(codes)))
    files = sorted(truth_parts.glob("truth-*.parquet"))
    counts = []
    for i in range(pieces):
        part = labelled[piece == i].reset_index(drop=True)
        truth = truth_of(files, part["contact_id"])
        assert len(truth.ids) == int(part["contact_id"].isin(data.truth["contact_id"]).sum())
        counts.append(truth_counts(part, truth, cfg.window_days))
    want = reference_truth_agreement(labelled, data.truth, cfg.window_days)
    want.pop("_disagreeing_ids")
    assert agreement_figures(combine_truth_counts(counts)) == want == truth_agreement(
        labelled, read_truth(truth_parts), cfg.window_days)
    assert want["contacts_compared"] > want["contacts_unconfounded"] > 0


def test_a_small_piece_is_matched_on_its_own_ids(messy, truth_parts):
    """A piece far smaller than the range of contact numbers (a partition of a large centre) is keyed by its own
    ids, not by arrays over every contact number: the same figures as the reference on that piece."""
    data, contacts = messy
    labelled = label_table(contacts, LabelConfig.default())
    customers = labelled["customer_id"].dropna().unique()[::40]
    piece = labelled[labelled["customer_id"].isin(customers).to_numpy()].reset_index(drop=True)
    truth = truth_of(sorted(truth_parts.glob("truth-*.parquet")), piece["contact_id"])
    assert 4 * (len(piece) + len(truth.ids)) + 1024 < int(truth.numbers.max()) and len(piece) > 200
    want = reference_truth_agreement(piece, data.truth, 7)
    want.pop("_disagreeing_ids")
    assert agreement_figures(truth_counts(piece, truth, 7)) == want and want["contacts_compared"] > 100
