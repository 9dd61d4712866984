"""The operations report: FCR, top reasons, drivers, case-mix adjusted scorecards, the model.

In: `ReportInputs` (outputs of label, train and explain) and the `report` section of params. Out:
`Report` with the HTML text (one self-contained file), the tables written beside it as CSV, and the
summary for metrics/report.json. The case-mix model was fitted in train; here it is only applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelling.measure import fcr_by_count
from models.diagnostics.drivers import top_reasons
from models.diagnostics.scorecards import casemix_scorecards, scorecard
from models.diagnostics.truth_check import driver_recovery, skill_tracking
from models.scoring import model_frame
from pipeline.config import ReportConfig
from report import charts
from report.html import figure_tag, render, table_tag
from report.inputs import ReportInputs

PCT = ("fcr", "ci_low", "ci_high", "observed_fcr", "observed_low", "observed_high", "expected_fcr", "adjusted_fcr",
       "difference", "difference_low", "difference_high", "repeat_rate")


@dataclass
class Report:
    html: str
    tables: dict[str, pd.DataFrame]
    summary: dict


def scorecards(inp: ReportInputs, min_contacts: int) -> dict[str, pd.DataFrame]:
    """Agents and teams of the test window against the case-mix model's expectation (empty without one)."""
    if inp.casemix is None:
        empty = scorecard(pd.Series([], dtype="str"), np.array([]), np.array([]), min_contacts)
        return {"agents": empty, "teams": empty.copy()}
    rows = inp.table[inp.table["contact_id"].isin(set(inp.test_ids)) & (inp.table["status"] == "labelled")]
    return casemix_scorecards(rows, inp.casemix.predict(rows), min_contacts)


def truth_checks(inp: ReportInputs, agents_card: pd.DataFrame, min_spread: float) -> dict | None:
    """On the synthetic centre (its truth files present): the report's findings against the truth."""
    meta_path, skill_path = inp.truth_dir / "truth.json", inp.truth_dir / "agent_truth.parquet"
    if not (meta_path.exists() and skill_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    skill = pd.read_parquet(skill_path).set_index("agent_id")["skill"]
    return {"driver_recovery": driver_recovery(inp.drivers, meta["planted_drivers"], meta.get("non_drivers", []),
                                               inp.top_n, min_spread, inp.after),
            "agent_skill_tracking": skill_tracking(agents_card, skill)}


def build_report(inp: ReportInputs, cfg: ReportConfig) -> Report:
    cards = scorecards(inp, cfg.scorecard_min_contacts)
    table, shap, drivers, after, segs = inp.table, inp.shap, inp.drivers, inp.after, inp.segments
    values = model_frame(table.set_index("contact_id").loc[shap["contact_id"]], inp.spec)
    transfers = fcr_by_count(table, "transfers") if "transfers" in table.columns else None
    reasons = top_reasons(table, shap, inp.spec, cfg.top_reasons)
    tables = {"scorecard_agents": cards["agents"], "scorecard_teams": cards["teams"], "top_reasons": reasons,
              **({"fcr_by_transfers": transfers} if transfers is not None else {}),
              **{f"fcr_by_{s}": t for s, t in segs.items()}, "fcr_by_week": inp.weekly}
    checks = truth_checks(inp, cards["agents"], cfg.truth_check_min_spread)
    summary = {"agents_scored": int(len(cards["agents"])), "teams_scored": int(len(cards["teams"])),
               "agents_better_than_expected": int((cards["agents"]["verdict"] == "better than expected").sum()),
               "agents_worse_than_expected": int((cards["agents"]["verdict"] == "worse than expected").sum()),
               "truth_checks": checks}
    fcr, m, card = inp.label["fcr"], inp.card["test_metrics"], inp.card
    top = drivers.head(8)["feature"].tolist()
    numeric = [f for f in drivers["feature"] if not isinstance(values[f].dtype, pd.CategoricalDtype)]
    words = "; ".join(f"{r.description} ({'the operation can act on it' if r.controllable else 'who calls and why'})"
                      for r in drivers.head(5).itertuples())
    c = inp.curves
    sections = [
        ("First-contact resolution", f"Share of first contacts whose issue was solved without the customer coming back "
         f"within the label window. Target {cfg.fcr_target:.0%}. Intervals are 95%.",
         [figure_tag(charts.weekly_fcr_figure(inp.weekly, cfg.fcr_target), "FCR by week"),
          "<div class='grid'>" + "".join(figure_tag(charts.segment_fcr_figure(t, s, cfg.fcr_target), f"FCR by {s}")
                                         for s, t in segs.items()) + "</div>",
          *([table_tag(segs["channel"], PCT)] if "channel" in segs else [])]),
        (f"Top {len(reasons)} reasons of repeat contacts", "The reason codes that bring customers back most, and what "
         "else pushes those contacts toward a repeat.", [table_tag(reasons, ("repeat_rate",))]),
        ("What drives repeats", f"The model's view of why customers come back (SHAP on {len(shap):,} recent contacts). "
         f"Strongest drivers: {words}.",
         [figure_tag(charts.drivers_bar_figure(drivers), "drivers"),
          figure_tag(charts.beeswarm_figure(shap, values, top), "beeswarm"),
          "<div class='grid'>" + "".join(figure_tag(charts.dependence_figure(values[f], shap[f"shap_{f}"].to_numpy(), f),
                                                    f"dependence {f}") for f in numeric[: cfg.dependence_plots]) + "</div>",
          table_tag(drivers[["rank", "feature", "description", "family", "controllable", "mean_abs_shap",
                             "share_toward_repeat"]].head(15))]),
        *([("What happens during the contact", "Transfers, handle time and how the contact ended are known only "
            "once it is over, so the routing model cannot use them. A diagnostic model that also knows them shows "
            "where they rank among the drivers (process drivers in green with the other controllable ones); the "
            "table gives FCR by number of transfers.",
            [figure_tag(charts.drivers_bar_figure(after, title="Drivers, with what happens during the contact"),
                        "drivers after contact"),
             *([table_tag(transfers.rename(columns={"segment": "transfers"}), PCT)] if transfers is not None else [])])]
          if after is not None else []),
        *([("Agent and team scorecards, adjusted for case mix", "Observed FCR beside the FCR expected for the contacts "
            "each agent or team actually got (from a model that does not know who handled them). An agent who takes the "
            "hard calls is compared with what those calls usually achieve, not with agents who take the easy ones.",
            ["<div class='grid'>" + figure_tag(charts.scorecard_figure(cards["teams"], "Teams"), "teams") +
             figure_tag(charts.scorecard_figure(cards["agents"], "Agents"), "agents") + "</div>",
             table_tag(cards["teams"].drop(columns=["expected_repeats"]), PCT),
             table_tag(cards["agents"].drop(columns=["expected_repeats"]).head(20), PCT)])]
          if len(cards["agents"]) else []),
        ("The model", f"A calibrated LightGBM classifier on arrival-time features, tested on the newest contacts: "
         f"ROC AUC {m['roc_auc']:.3f}, calibration error {m['ece']:.3f}; sending the riskiest 10% to specialists "
         f"catches {m.get('capture_at_10pct', float('nan')):.0%} of repeats." + _truth_sentence(checks),
         [figure_tag(charts.model_evaluation_figure(c["roc"], c["pr"], c["calibration"], c["capture"], m["roc_auc"],
                                                    m["ece"], m["repeat_rate"]), "model evaluation")]),
    ]
    kpis = [("FCR", _pct(fcr["fcr"])), ("95% interval", f"{_pct(fcr['ci_low'])} - {_pct(fcr['ci_high'])}"),
            ("first contacts", f"{fcr['first_contacts']:,}"), ("target", f"{cfg.fcr_target:.0%}"),
            ("model AUC", f"{m['roc_auc']:.3f}")]
    html = render("First-contact resolution: drivers report", f"Model trained on feature data {str(card.get('data_version'))[:8]}; "
                  "all figures from the latest `dvc repro`.", kpis, sections)
    return Report(html, tables, summary)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _truth_sentence(checks: dict | None) -> str:
    if not checks:
        return ""
    rec, sk = checks["driver_recovery"], checks["agent_skill_tracking"]
    text = (f" Synthetic centre, checked against its truth: {rec['recovered']} of {rec['checked']} planted drivers "
            f"are among the top {rec['top']} drivers")
    if sk["spearman_raw_fcr"] is not None:
        text += (f"; agents' true skill correlates {sk['spearman_adjusted_fcr']:.2f} with the case-mix adjusted FCR and "
                 f"{sk['spearman_raw_fcr']:.2f} with the raw FCR (Spearman)")
    return text + "."
