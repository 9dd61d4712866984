"""The feature specification: every declared feature is well-formed and built; the user's extra
columns become `custom` features with their availability honoured; features that carry nothing on
the training rows (constant, entirely missing, or from an absent optional column) are dropped from
the routing model with the reason, never a crash. Hand-made frames in the shape of a real export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.builder import build_features, training_table
from features.spec import FEATURES, all_features, extra_columns
from labelling.labeller import label_contacts
from features.config import FeaturizeConfig
from labelling.config import LabelConfig

T0 = pd.Timestamp("2025-03-03 08:00", tz="UTC")


def crm_export(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A CRM-like export after ingest: 6 customers, 3 agents, two channels, a VIP flag, a product
    category and an SLA-breach flag known only after the contact."""
    rng = np.random.default_rng(seed)
    t = T0 + pd.to_timedelta(np.sort(rng.integers(0, 40 * 86_400, n)), unit="s")
    cust = rng.choice([f"CUST-{i:03d}" for i in range(6)], n)
    codes = rng.choice(["BILL_DISPUTE", "BILL_COPY", "NET_DOWN"], n)
    return pd.DataFrame({
        "contact_id": [f"INC{100000 + i}" for i in range(n)], "customer_id": cust, "started_at": t,
        "ended_at": t + pd.Timedelta(minutes=9), "channel": rng.choice(["phone", "chat"], n),
        "reason_code": codes, "reason_family": np.where(pd.Series(codes).str.startswith("BILL"), "billing", "tech"),
        "agent_id": rng.choice(["ag.smith", "ag.jones", "ag.lee"], n), "team": "Tier1",
        "wait_s": rng.integers(5, 300, n).astype(float), "handle_s": rng.integers(60, 900, n).astype(float),
        "transfers": rng.integers(0, 2, n), "disposition": "handled",
        "survey_resolved": pd.array([pd.NA] * n, dtype="boolean"),
        "extra_vip": rng.choice(["Yes", "no", None], n), "extra_product": rng.choice(["fibre", "mobile"], n),
        "extra_sla_breach": rng.integers(0, 2, n).astype(bool), "extra_site": "Leeds",
    })


CUSTOMERS = pd.DataFrame({"customer_id": [f"CUST-{i:03d}" for i in range(6)], "segment": ["consumer", "business"] * 3,
                          "signup_date": pd.Timestamp("2023-05-01", tz="UTC")})
AGENTS = pd.DataFrame({"agent_id": ["ag.smith", "ag.jones", "ag.lee"], "team": "Tier1",
                       "hired_at": pd.to_datetime(["2022-01-01", "2024-06-01", "2025-01-15"], utc=True)})
CONTRACT = {"extra_columns": {"vip": {"kind": "flag", "availability": "arrival"},
                              "product": {"kind": "category", "availability": "arrival"},
                              "sla_breach": {"kind": "flag", "availability": "after_contact"},
                              "site": {"kind": "category", "availability": "arrival"}}}


def _table(contacts: pd.DataFrame, extras=None):
    labels = label_contacts(contacts, LabelConfig.default(window_days=7))
    return training_table(contacts, labels, CUSTOMERS, AGENTS, 7, FeaturizeConfig.default(), extras)


@pytest.mark.parametrize("feature", all_features(extra_columns(CONTRACT)), ids=lambda f: f.name)
def test_every_declared_feature_is_well_formed_and_built(feature):
    assert feature.family in ("customer", "reason", "channel", "agent", "process", "custom")
    assert feature.availability in ("arrival", "after_contact") and feature.kind in ("numeric", "categorical")
    assert isinstance(feature.controllable, bool) and feature.label and feature.label != feature.name
    table, spec = _table(crm_export(), extra_columns(CONTRACT))
    col = table[feature.name]
    assert isinstance(col.dtype, pd.CategoricalDtype) if feature.kind == "categorical" else col.dtype == np.float32
    entry = next(e for e in spec.to_dict()["features"] if e["name"] == feature.name)
    assert entry["label"] == feature.label and entry["controllable"] == feature.controllable


def test_arrival_features_compute_without_the_after_contact_columns():
    full = build_features(crm_export(), label_contacts(crm_export(), LabelConfig.default()), CUSTOMERS, AGENTS, 7,
                          FeaturizeConfig.default())
    lean = crm_export().drop(columns=["handle_s", "transfers", "disposition", "ended_at"])
    part = build_features(lean, label_contacts(crm_export(), LabelConfig.default()), CUSTOMERS, AGENTS, 7,
                          FeaturizeConfig.default())
    for f in FEATURES:
        if f.availability == "arrival":
            pd.testing.assert_series_equal(full[f.name], part[f.name], obj=f.name)


def test_controllability_is_declared_per_feature():
    by = {f.name: f for f in FEATURES}
    assert by["agent_repeat_rate"].controllable and by["wait_s"].controllable and by["transfers"].controllable
    assert not by["customer_repeat_rate"].controllable and not by["reason_difficulty"].controllable
    assert by["same_issue_contacts_window"].label.startswith("the customer's earlier contacts about the same issue")
    assert by["customer_repeat_rate"].unit == "share" and by["customer_contacts_30d"].window_days == 30


def test_extra_columns_become_custom_features_with_their_availability():
    table, spec = _table(crm_export(), extra_columns(CONTRACT))
    by = {e["name"]: e for e in spec.features}
    assert by["extra_vip"]["family"] == "custom" and by["extra_vip"]["availability"] == "arrival"
    assert {"extra_vip", "extra_product"} <= set(spec.model_features)
    assert "extra_sla_breach" not in spec.model_features  # after_contact: never in the routing model
    assert by["extra_product"]["categories"] == ["fibre", "mobile"]
    vip = crm_export()["extra_vip"]
    expected = vip.map({"Yes": 1.0, "no": 0.0}).astype("float32")
    np.testing.assert_array_equal(table["extra_vip"].to_numpy(), expected.to_numpy())  # None stays missing
    assert set(table["extra_sla_breach"].unique()) <= {0.0, 1.0}
    dropped = {d["name"]: d["reason"] for d in spec.dropped_features}
    assert dropped["extra_site"].startswith("constant")  # one site only: nothing to learn


def test_a_declared_extra_column_missing_from_the_table_is_dropped_not_a_crash():
    table, spec = _table(crm_export().drop(columns=["extra_product"]), extra_columns(CONTRACT))
    assert table["extra_product"].isna().all()
    dropped = {d["name"]: d["reason"] for d in spec.dropped_features}
    assert dropped["extra_product"] == "column extra_product absent from the export"


def test_bad_contract_entry_names_the_column():
    with pytest.raises(ValueError, match=r"extra_columns\['vip'\].*kind must be number\|category\|flag"):
        extra_columns({"extra_columns": {"vip": {"kind": "boolean", "availability": "arrival"}}})


def test_absent_optional_columns_give_no_such_features_with_a_note():
    # a single-channel export with no agents named, no teams and no queue wait
    lean = crm_export().drop(columns=["agent_id", "team", "wait_s"]).assign(channel="chat")
    table, spec = _table(lean)
    dropped = {d["name"]: d["reason"] for d in spec.dropped_features}
    for name in ("agent_repeat_rate", "agent_family_repeat_rate", "agent_tenure_days", "agent_contacts_today"):
        assert dropped[name] == "column agent_id absent from the export"
    assert dropped["wait_s"] == "column wait_s absent from the export"
    assert dropped["team"] == "column team absent from the export"
    assert dropped["channel"].startswith("constant")
    assert not set(dropped) & set(spec.model_features)
    assert {"customer_contacts_7d", "reason_difficulty", "customer_repeat_rate"} <= set(spec.model_features)
    assert any(n.startswith("optional column agent_id absent") for n in spec.notes)
    assert len(table) == len(lean)
