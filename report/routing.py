"""The report's section "What routing could do": stage routing's metrics/routing.json and capacity curve in words.

In: metrics/routing.json and plots/routing_capacity.csv (absent: the stage has not run). Out: a section
dict for report/build.py: FCR today and under each policy at today's specialist capacity, repeats avoided
per month with the interval, the capacity curve, and the assumptions in one sentence; or the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from report.charts import Lines, img

NAMES = {"as_assigned": "As assigned today", "risk_to_specialists": "Riskiest contacts to specialists",
         "best_available_agent": "Best available agent (what /v1/route ranks first)"}


def load_routing(metrics_dir: str | Path, plots_dir: str | Path) -> tuple[dict, pd.DataFrame] | None:
    metrics, curve = Path(metrics_dir) / "routing.json", Path(plots_dir) / "routing_capacity.csv"
    if not metrics.exists():
        return None
    return json.loads(metrics.read_text()), (pd.read_csv(curve) if curve.exists() else pd.DataFrame())


def routing_section(routing: tuple[dict, pd.DataFrame] | None) -> dict:
    title = "What routing could do"
    if routing is None:
        return {"id": "routing", "title": title, "intro": ["Not computed: run `dvc repro routing`."], "blocks": [],
                "bullets": []}
    m, curve = routing
    if m.get("estimate") is None:
        return {"id": "routing", "title": title, "intro": [f"No estimate: {m.get('reason')}."], "blocks": [],
                "bullets": [m.get("assumptions", "")]}
    cap = m["specialist_capacity"]
    bullets = []
    for name, p in m["policies"].items():
        if p.get("fcr") is None:
            bullets.append(f"{NAMES.get(name, name)}: not computed ({p.get('reason')}).")
            continue
        text = f"{NAMES.get(name, name)}: FCR {p['fcr']:.1%}"
        if name != "as_assigned":
            text += (f", {p['uplift_points']:+.2f} points (95% interval {p['uplift_low']:+.2f} to {p['uplift_high']:+.2f}),"
                     f" {p['repeats_avoided_per_month']:+,.0f} repeats a month ({p['repeats_avoided_low']:+,.0f} to "
                     f"{p['repeats_avoided_high']:+,.0f})")
        if p.get("true_uplift_points") is not None and name != "as_assigned":
            text += f"; the synthetic centre's truth: {p['true_uplift_points']:+.2f} points"
        bullets.append(text + ".")
    intro = [f"The test window replayed under each policy, each agent taking at most the contacts it handled in the "
             f"same {m['capacity_period']}, specialists taking the riskiest {cap:.0%} of contacts; "
             f"{m['overlap_share']:.0%} of the contacts fall inside the overlap (agents the centre gives such contacts), "
             "the rest stay as assigned.", m["assumptions"]]
    blocks = []
    if len(curve):
        blocks.append(Markup(img(Lines("Uplift of sending the riskiest contacts to specialists, by capacity",
                                       curve["specialist_capacity"].tolist(),
                                       {"uplift (points)": curve["uplift_points"].tolist()}, axis="FCR points",
                                       xaxis="specialist capacity (share of contacts)",
                                       band=(curve["uplift_low"].tolist(), curve["uplift_high"].tolist()),
                                       percent=False, percent_x=True))))
    return {"id": "routing", "title": title, "intro": intro, "blocks": blocks, "bullets": bullets}
