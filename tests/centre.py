"""A small synthetic contact centre taken through ingest, label and featurize in memory, for tests."""

from __future__ import annotations

import pandas as pd

from features.builder import training_table
from synthetic.reasons import REASON_FAMILY
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from synthetic.config import SyntheticConfig
from labelling.labeller import label_contacts
from contract.schema import SourceSpec, normalise_contacts
from synthetic.centre import SyntheticData, generate


def centre(cfg: SyntheticConfig) -> tuple[SyntheticData, pd.DataFrame]:
    """The generator's output and its contacts in contract form."""
    data = generate(cfg)
    return data, normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY)).contacts


def feature_table(data: SyntheticData, contacts: pd.DataFrame, as_of: pd.Timestamp | None = None
                  ) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Features + label columns (7-day window), the spec as a dict, and the labels; with `as_of`, only
    the contacts before it, labelled as known then."""
    if as_of is not None:
        contacts = contacts[contacts["started_at"] < as_of]
    labels = label_contacts(contacts, LabelConfig.default(window_days=7, as_of=None if as_of is None else str(as_of)))
    table, spec = training_table(contacts, labels, data.customers, data.agents, 7, FeaturizeConfig.default())
    return table, spec.to_dict(), labels
