"""The report's counts made on a LocalCluster (2 workers; engine/report.py: per customer partition, combined on the
cluster) equal the local engine's from the whole table (report/inputs.py `count_contacts`), and so every figure of
the report: on a small synthetic centre of the default shape and on every real-export fixture under tests/, in the
report's zones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from base.config import Paths
from engine.report import counted_on_cluster
from labelling.config import LabelConfig
from labelling.labeller import LABEL_COLUMNS, label_table
from pipeline.io import write_parquet_parts
from report.counts import ContactCounts
from report.inputs import count_contacts
from tests.contract.test_shapes import SHAPES
from tests.engine.conftest import as_dataset
from tests.engine.test_label import ingested, synthetic_centre  # noqa: F401 (a fixture)
from tests.real_exports import EXPORTS
from tests.report.test_counts import _plain, assert_same, figures


def here_and_on_cluster(contacts: pd.DataFrame, tmp_path: Path, client, dask_cfg, tz: str
                        ) -> tuple[ContactCounts, ContactCounts]:
    labelled = label_table(contacts, LabelConfig.default())
    paths = Paths.default(contacts=str(as_dataset(contacts, tmp_path / "contacts")), labels=str(tmp_path / "labels"))
    write_parquet_parts(labelled[["contact_id", *LABEL_COLUMNS]], paths.labels, parts=2)
    on_cluster = dask_cfg.model_copy(update={"scheduler": client.scheduler.address})
    return count_contacts(paths, tz), counted_on_cluster(on_cluster, paths, tz)


def assert_same_counts(dask: ContactCounts, local: ContactCounts, tz: str) -> None:
    assert dask.views.keys() == local.views.keys()
    for name, view in local.views.items():
        pd.testing.assert_frame_equal(_plain(dask.views[name]), _plain(view), obj=name)
    assert_same(dask.switching, local.switching, "switching")
    assert dask.present == local.present and dask.timezone == local.timezone == tz
    assert dask.first_start == local.first_start
    assert_same(figures(dask, tz), figures(local, tz), "figures")


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_synthetic_centre_counts_equal_the_local_engine(synthetic_centre, tmp_path, client, dask_cfg, tz):  # noqa: F811
    local, dask = here_and_on_cluster(synthetic_centre[1], tmp_path, client, dask_cfg, tz)
    assert_same_counts(dask, local, tz)
    assert local.views["reason"]["n_contacts"].sum() == len(synthetic_centre[1]) and len(local.switching) > 1


@pytest.mark.parametrize("name", [*SHAPES, *EXPORTS])
def test_real_export_fixtures_counts_equal_the_local_engine(name, tmp_path, client, dask_cfg):
    tz = "Pacific/Auckland" if name == "local_midnight" else "Europe/London"
    local, dask = here_and_on_cluster(ingested(name, tmp_path), tmp_path, client, dask_cfg, tz)
    assert_same_counts(dask, local, tz)
