"""Small contact exports written by hand in the shapes real systems produce, labelled with the real labeller,
and the report inputs built around them (a stand-in model whose outputs have the shapes train and explain
write). Each scenario is one of the degenerate cases the report must survive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelling.labeller import label_table
from labelling.config import LabelConfig
from report.counts import contact_counts
from report.inputs import PRESENT, ModelOutputs, ReportInputs

T0 = pd.Timestamp("2025-03-03 09:00", tz="UTC")  # a Monday


def export(rows: list[tuple], drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """rows: (customer, days after T0, channel, reason_code, agent, team, transfers, survey)."""
    df = pd.DataFrame(
        rows,
        columns=["customer_id", "day", "channel", "reason_code", "agent_id", "team", "transfers", "survey_resolved"],
    )
    df.insert(0, "contact_id", [f"C{i:05d}" for i in range(len(df))])
    df["started_at"] = T0 + pd.to_timedelta(df.pop("day"), unit="D")
    df["ended_at"] = df["started_at"] + pd.Timedelta(minutes=6)
    df["reason_family"] = df["reason_code"].str.split("-").str[0]
    df["disposition"] = "handled"
    df["survey_resolved"] = df["survey_resolved"].astype("boolean")
    for c in ("channel", "reason_code", "reason_family", "team"):
        df[c] = df[c].astype("category")
    return df.drop(columns=list(drop))


def busy_centre(
    seed: int = 0,
    customers: int = 400,
    days: int = 75,
    channels=("phone", "chat", "email"),
    repeat_share: float = 0.25,
    agents: int = 12,
) -> list[tuple]:
    """Customers with issues over `days`; a share of issues come back once within a few days."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for _ in range(rng.integers(1, 4)):
            day = float(rng.uniform(0, days))
            reason = f"{rng.choice(['BIL', 'TEC', 'ACC'])}-0{rng.integers(1, 4)}"
            agent = int(rng.integers(0, agents))
            ch = str(rng.choice(channels))
            survey = rng.choice([True, False, None], p=[0.2, 0.05, 0.75])
            rows.append((f"K{c}", day, ch, reason, f"A{agent:02d}", f"T{agent % 3}", int(rng.integers(0, 3)), survey))
            if rng.uniform() < repeat_share + 0.02 * agent:
                rows.append(
                    (
                        f"K{c}",
                        day + float(rng.uniform(0.5, 5)),
                        str(rng.choice(channels)),
                        reason,
                        f"A{int(rng.integers(0, agents)):02d}",
                        f"T{agent % 3}",
                        0,
                        None,
                    )
                )
    return rows


SCENARIOS: dict[str, pd.DataFrame] = {}


def scenarios() -> dict[str, pd.DataFrame]:
    """The degenerate exports of issue 14, plus an ordinary one."""
    if SCENARIOS:
        return SCENARIOS
    ordinary = busy_centre()
    one_week = [(c, d / 10, ch, r, a, t, x, s) for c, d, ch, r, a, t, x, s in busy_centre(days=70)]
    SCENARIOS.update(
        {
            "ordinary": export(ordinary),
            "one_week": export(one_week),
            "no_repeats": export(
                [(f"K{i}", i * 0.5, "phone", "BIL-01", f"A{i % 4}", "T1", 0, True) for i in range(120)]
            ),
            # every customer calls every day about the same thing: every labelled contact is repeated
            "all_repeats": export(
                [
                    (f"K{i % 5}", d + i * 0.01, "chat", "TEC-01", "A1", "T1", 1, False)
                    for d in range(60)
                    for i in range(5)
                ]
            ),
            "one_category": export([(c, d, "phone", "BIL-01", "A1", "T1", 0, None) for c, d, *_ in ordinary]),
            "single_channel": export([(c, d, "phone", r, a, t, x, s) for c, d, _, r, a, t, x, s in ordinary]),
            "no_agent_column": export(ordinary, drop=("agent_id",)),
            "no_team": export(ordinary, drop=("team",)),
            "no_transfers_no_survey": export(ordinary, drop=("transfers", "survey_resolved")),
            "one_customer": export([("K1", d * 1.5, "phone", "TEC-01", "A1", "T1", 0, None) for d in range(40)]),
            "window_still_open": export(
                [(f"K{i}", i * 0.01, "phone", "BIL-01", "A1", "T1", 0, None) for i in range(30)]
            ),
        }
    )
    return SCENARIOS


class ConstantCasemix:
    """Stands in for the case-mix model: the same expected repeat probability for every contact."""

    def __init__(self, p: float = 0.2) -> None:
        self.p = p

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return np.full(len(rows), self.p)


SPEC = {
    "model_features": ["customer_contacts_7d", "channel"],
    "label_window_days": 7.0,
    "features": [
        {
            "name": "customer_contacts_7d",
            "kind": "numeric",
            "family": "customer",
            "description": "the customer's matured contacts in the 7 days before, shrunk toward everyone's",
        },
        {
            "name": "channel",
            "kind": "categorical",
            "family": "channel",
            "categories": ["chat", "email", "phone"],
            "description": "channel of the contact",
            "label": "the channel the customer used",
            "controllable": True,
        },
    ],
}


def fake_model(table: pd.DataFrame, seed: int = 0) -> ModelOutputs:
    """Model outputs with the shapes train and explain write, from a made-up attribution."""
    rng = np.random.default_rng(seed)
    sample = table[table["status"] == "labelled"]
    x = sample["customer_contacts_7d"].to_numpy(dtype=float)
    shap = pd.DataFrame(
        {
            "contact_id": sample["contact_id"].to_numpy(),
            "shap_customer_contacts_7d": 0.3 * (x - x.mean()) if len(x) else x,
            "shap_channel": rng.normal(0, 0.05, len(sample)),
            "base_value": -1.2,
        }
    )
    drivers = pd.DataFrame(
        {
            "rank": [1, 2],
            "feature": ["customer_contacts_7d", "channel"],
            "description": [f["description"] for f in SPEC["features"]],
            "family": ["customer", "channel"],
            "controllable": [False, True],
            "mean_abs_shap": [0.3, 0.05],
            "mean_shap": [0.0, 0.0],
            "share_toward_repeat": [0.5, 0.5],
        }
    )
    grid = np.linspace(0, 1, 11)
    curves = {
        "roc": pd.DataFrame({"fpr": grid, "tpr": np.sqrt(grid)}),
        "pr": pd.DataFrame({"recall": grid, "precision": 0.4 - 0.2 * grid}),
        "calibration": pd.DataFrame({"mean_predicted": grid[1:6], "observed_rate": grid[1:6]}),
        "capture": pd.DataFrame({"contacts_share": grid, "repeats_captured": np.sqrt(grid), "random": grid}),
    }
    card = {
        "split": {"test": {"from": "2025-04-01", "to": "2025-05-01", "contacts": len(sample)}},
        "test_metrics": {"roc_auc": 0.61, "log_loss": 0.52, "ece": 0.01, "capture_at_10pct": 0.2},
    }
    return ModelOutputs(
        card=card,
        registry={"version": 3, "run_id": "r1", "promoted": True, "reason": "no champion yet"},
        spec=SPEC,
        curves=curves,
        drivers=drivers,
        top_n=2,
        after=None,
        shap=shap,
        test_ids=sample["contact_id"],
        casemix=ConstantCasemix(),
    )


def labelled_contacts(contacts: pd.DataFrame) -> pd.DataFrame:
    """The contacts with their labels under the default rules (what the report counts)."""
    return label_table(contacts, LabelConfig.default())


def report_inputs(contacts: pd.DataFrame, with_model: bool = True, truth_dir: Path | None = None,
                  tz: str = "UTC") -> ReportInputs:
    cfg = LabelConfig.default()
    labelled = label_table(contacts, cfg)
    table = labelled.assign(
        customer_contacts_7d=labelled.groupby("customer_id", observed=True).cumcount().astype("float32")
    )
    return ReportInputs(
        label={"rules": cfg.model_dump()},
        counts=contact_counts(labelled, tz, PRESENT),
        table=table,
        model=fake_model(table) if with_model and "channel" in table else None,
        reason_names={},
        truth_dir=truth_dir or Path("/nonexistent"),
    )
