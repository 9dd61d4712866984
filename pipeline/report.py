"""DVC stage `report`: FCR metrics, model, SHAP drivers -> reports/drivers.html and CSV tables.

Reads the label stage's FCR tables, the train stage's model card and test window, the explain
stage's drivers and per-contact SHAP values, and the feature table. Fits the case-mix model (the
arrival features without the agent family, on the train window) for the agent and team scorecards of
the test window (models/scorecards.py). Writes one self-contained HTML file for operations
(features/report_html.py) and the same tables as CSV.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from features import charts
from features.config import Paths, ReportConfig, SplitConfig
from features.fcr_metrics import fcr_by_count
from features.report_html import figure_tag, render, table_tag
from models.classifier import model_frame
from models.explain import top_reasons
from models.scorecards import casemix_scorecards
from models.truth_check import driver_recovery, skill_tracking
from pipeline.params import load_params

log = logging.getLogger(__name__)
PCT = ("fcr", "ci_low", "ci_high", "observed_fcr", "observed_low", "observed_high", "expected_fcr", "adjusted_fcr",
       "difference", "difference_low", "difference_high", "repeat_rate")


def truth_checks(paths: Paths, drivers: pd.DataFrame, top: int, agents_card: pd.DataFrame,
                 min_spread: float, after: pd.DataFrame | None = None) -> dict | None:
    """On the synthetic centre (its truth files present): the report's findings against the truth."""
    meta_path, skill_path = Path(paths.truth_dir) / "truth.json", Path(paths.truth_dir) / "agent_truth.parquet"
    if not (meta_path.exists() and skill_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    skill = pd.read_parquet(skill_path).set_index("agent_id")["skill"]
    return {"driver_recovery": driver_recovery(drivers, meta["planted_drivers"], meta.get("non_drivers", []), top,
                                               min_spread, after),
            "agent_skill_tracking": skill_tracking(agents_card, skill)}


def run(cfg: ReportConfig, paths: Paths, split_cfg: SplitConfig, seed: int = 0) -> Path:
    reports, plots, model_dir = Path(paths.reports_dir), Path(paths.plots_dir), Path(paths.model_dir)
    label = json.loads((Path(paths.metrics_dir) / "label.json").read_text())
    weekly = pd.read_csv(plots / "fcr_by_week.csv")
    segs = {s: pd.read_csv(plots / f"fcr_by_{s}.csv").rename(columns={"segment": s})
            for s in ("channel", "reason_family", "team")}
    card = json.loads((model_dir / "model_card.json").read_text())
    spec = json.loads((model_dir / "feature_spec.json").read_text())
    calibration = pd.read_csv(plots / "train_calibration.csv")
    drivers = pd.read_csv(reports / "drivers.csv")
    shap = pd.read_parquet(reports / "shap_sample.parquet")
    table = pd.read_parquet(paths.features)
    values = model_frame(table.set_index("contact_id").loc[shap["contact_id"]], spec)

    cards = casemix_scorecards(table, spec, split_cfg, cfg.scorecard_min_contacts, seed=seed)
    transfers = fcr_by_count(table, "transfers")
    reasons = top_reasons(table, shap, spec, cfg.top_reasons)
    for name, df in {"scorecard_agents": cards["agents"], "scorecard_teams": cards["teams"], "top_reasons": reasons,
                     "fcr_by_transfers": transfers,
                     **{f"fcr_by_{s}": t for s, t in segs.items()}, "fcr_by_week": weekly}.items():
        df.to_csv(reports / f"{name}.csv", index=False)

    top_n = len(json.loads((reports / "drivers.json").read_text())["top_drivers"])
    after_path = reports / "drivers_after_contact.csv"
    after = pd.read_csv(after_path) if after_path.exists() else None
    checks = truth_checks(paths, drivers, top_n, cards["agents"], cfg.truth_check_min_spread, after)
    summary = {"agents_scored": int(len(cards["agents"])), "teams_scored": int(len(cards["teams"])),
               "agents_better_than_expected": int((cards["agents"]["verdict"] == "better than expected").sum()),
               "agents_worse_than_expected": int((cards["agents"]["verdict"] == "worse than expected").sum()),
               "truth_checks": checks}
    (Path(paths.metrics_dir) / "report.json").write_text(json.dumps(summary, indent=2))

    fcr = label["fcr"]
    m = card["test_metrics"]
    top = drivers.head(8)["feature"].tolist()
    numeric = [f for f in drivers["feature"] if not isinstance(values[f].dtype, pd.CategoricalDtype)]
    words = "; ".join(f"{r.description} ({'the operation can act on it' if r.controllable else 'who calls and why'})"
                      for r in drivers.head(5).itertuples())
    sections = [
        ("First-contact resolution", f"Share of first contacts whose issue was solved without the customer coming back "
         f"within the label window. Target {cfg.fcr_target:.0%}. Intervals are 95%.",
         [figure_tag(charts.weekly_fcr_figure(weekly, cfg.fcr_target), "FCR by week"),
          "<div class='grid'>" + "".join(figure_tag(charts.segment_fcr_figure(t, s, cfg.fcr_target), f"FCR by {s}")
                                         for s, t in segs.items()) + "</div>",
          table_tag(segs["channel"], PCT)]),
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
             table_tag(transfers.rename(columns={"segment": "transfers"}), PCT)])] if after is not None else []),
        ("Agent and team scorecards, adjusted for case mix", "Observed FCR beside the FCR expected for the contacts each "
         "agent or team actually got (from a model that does not know who handled them). An agent who takes the hard "
         "calls is compared with what those calls usually achieve, not with agents who take the easy ones.",
         ["<div class='grid'>" + figure_tag(charts.scorecard_figure(cards["teams"], "Teams"), "teams") +
          figure_tag(charts.scorecard_figure(cards["agents"], "Agents"), "agents") + "</div>",
          table_tag(cards["teams"].drop(columns=["expected_repeats"]), PCT),
          table_tag(cards["agents"].drop(columns=["expected_repeats"]).head(20), PCT)]),
        ("The model", f"A calibrated LightGBM classifier on arrival-time features, tested on the newest contacts: "
         f"ROC AUC {m['roc_auc']:.3f}, calibration error {m['ece']:.3f}; sending the riskiest 10% to specialists "
         f"catches {m.get('capture_at_10pct', float('nan')):.0%} of repeats." + _truth_sentence(checks),
         [figure_tag(charts.model_evaluation_figure(pd.read_csv(plots / "train_roc.csv"), pd.read_csv(plots / "train_pr.csv"),
                                                    calibration, pd.read_csv(plots / "train_capture.csv"), m["roc_auc"],
                                                    m["ece"], m["repeat_rate"]), "model evaluation")]),
    ]
    kpis = [("FCR", f"{fcr['fcr']:.1%}"), ("95% interval", f"{fcr['ci_low']:.1%} - {fcr['ci_high']:.1%}"),
            ("first contacts", f"{fcr['first_contacts']:,}"), ("target", f"{cfg.fcr_target:.0%}"),
            ("model AUC", f"{m['roc_auc']:.3f}")]
    out = reports / "drivers.html"
    out.write_text(render("First-contact resolution: drivers report", f"Model version {card['registry'].get('version')}; "
                          "all figures from the latest `dvc repro`.", kpis, sections))
    log.info("report written to %s (%.0f kB)", out, out.stat().st_size / 1024)
    return out


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


def main(params_path: str = "params.yaml") -> None:
    from pipeline.io import setup_logging

    setup_logging()
    params = load_params(params_path)
    run(params.report, params.paths, params.train.split, params.train.seed)


if __name__ == "__main__":
    main()
