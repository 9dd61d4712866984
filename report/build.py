"""The operations report: what happened this month, where, why, and what to do this week.

In: `ReportInputs` (outputs of ingest, label, train and explain) and the `report` section of params. Out:
`Report` with the HTML text (one self-contained file, report/templates/), the tables written beside it
as CSV, and the summary for metrics/report.json. Everything outside the analysts' section is in plain
words; a section the data cannot support says so and names the column that would enable it.

`build_report` measures once (`measure`: `Findings`), then builds the page section by section, one
function per section in the order the page shows them (summary, coverage, fcr, reasons, teams,
switching, survey, drivers, scorecards, coaching, routing, missing, analysts), each returning its
section's context for its block of report/templates/report.html.j2.
"""

from __future__ import annotations

import json
import math
import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from markupsafe import Markup


from labelling.measure import fcr_by_count, fcr_table, first_contacts, weekly_fcr
from models.diagnostics.scorecards import scored_rows
from models.diagnostics.truth_check import driver_recovery, skill_tracking
from models.scoring import model_frame
from report.config import ReportConfig
from report import measures as ms
from report.charts import Bars, Lines, Scatter, Strips, img
from report.counts import ContactCounts
from report.coverage import coming_back_sentence, coverage_sentence, coverage_table
from report.html import render, table
from report.feature_rows import FeatureRows, max_of
from report.inputs import ModelOutputs, ReportInputs
from report.routing import routing_section
from report.scorecards import COLUMNS as SCORECARD_COLUMNS
from report.scorecards import (add_sums, card_sums, coaching_hit_rates, coaching_list, fair_scorecard_of_sums,
                               scorecard_blocks)
from report.categories import top_and_others
from report.signal_words import signal_words
from report.words import drivers_in_words, same_partition

PCT = (
    "fcr",
    "ci_low",
    "ci_high",
    "observed_fcr",
    "expected_fcr",
    "adjusted_fcr",
    "adjusted_low",
    "adjusted_high",
    "difference",
    "repeat_rate",
    "share_of_repeats",
    "agreement",
    "fcr_before",
    "fcr_now",
    "change",
    "rate_with",
    "rate_without",
    "target",
    "share",
    "low",
    "high",
)
SEGMENT_WORDS = {"channel": "channel", "reason_family": "reason family", "team": "team"}


@dataclass
class Report:
    html: str
    tables: dict[str, pd.DataFrame]
    summary: dict


def _pct(x: float | None) -> str:
    return "not known" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _window(inp: ReportInputs) -> str:
    days = inp.label.get("rules", {}).get("window_days")
    return f"{days:g} days" if isinstance(days, int | float) else "the label window"


def _points(x: float) -> str:
    return f"{x * 100:+.1f} points"


def _section(id_: str, title: str, intro: list[str] | str = (), blocks: list = (), bullets: list[str] = ()) -> dict:
    return {
        "id": id_,
        "title": title,
        "intro": [intro] if isinstance(intro, str) else list(intro),
        "blocks": [Markup(b) for b in blocks],
        "bullets": list(bullets),
    }


def _with_interval(t: pd.DataFrame, significance: float, min_contacts: int) -> pd.DataFrame:
    lo, hi = ms.interval(t["resolved"].to_numpy(), t["first_contacts"].to_numpy(), significance)
    return t.assign(ci_low=lo, ci_high=hi, note=np.where(t["first_contacts"] < min_contacts, "too few contacts", ""))


def after_contact_drivers(after: pd.DataFrame | None, spec: dict) -> list[str]:
    """The after-contact features the diagnostic model actually uses (some attribution)."""
    if after is None:
        return []
    late = {f["name"] for f in spec.get("features", []) if f.get("availability") == "after_contact"}
    used = after[after["feature"].isin(late) & (after["mean_abs_shap"] > 0)]
    return used["feature"].tolist()


def _segment_bars(t: pd.DataFrame, seg: str, target: float, words: str | None = None) -> str:
    words = words or SEGMENT_WORDS.get(seg, seg)
    return img(
        Bars(
            f"FCR by {words}",
            [ms.pretty(v) for v in t["segment"]],
            t["fcr"],
            "first-contact resolution",
            low=t["ci_low"],
            high=t["ci_high"],
            target=target,
            muted=(t["note"] != "").to_numpy(),
        ),
        f"FCR by {words}",
    )


def segment_words(c: pd.DataFrame, seg: str) -> str:
    """A segment in words; reason families that are the reason codes themselves (none given) are "reason"."""
    if seg == "reason_family" and "reason_code" in c and same_partition(c["reason_family"], c["reason_code"]):
        return "reason"
    return SEGMENT_WORDS.get(seg, seg)


def summary_section(cmp: dict, mv: pd.DataFrame, actions: list[str]) -> tuple[dict, list[str]]:
    if not cmp["available"]:
        return _section("summary", "This month at a glance", [f"No month can be headlined: {cmp['why']}."]), []
    now, target = cmp["now"], cmp["target"]
    lines = [
        f"{cmp['current']}: {_pct(now['fcr'])} of {now['first_contacts']:,} first contacts were resolved "
        f"without the customer coming back; the target is {target:.0%} ({cmp.get('vs_target', 'not known')})."
    ]
    if cmp["before"] is None:
        lines.append(cmp.get("previous_why") or "There is no earlier month in the data to compare with.")
    elif cmp["change"] is None:
        lines.append(f"{cmp['previous']} had no first contacts with a known outcome: no comparison.")
    else:
        noise = "beyond noise: a real change" if cmp["beyond_noise"] else "within noise: it could be chance alone"
        lines.append(
            f"{cmp['previous']}: {_pct(cmp['before']['fcr'])}, so the change is {_points(cmp['change'])}, "
            f"{noise} (two-proportion test, p = {cmp['p_value']:.3f})."
        )
    movers = [
        f"{SEGMENT_WORDS.get(r.segment, r.segment).capitalize()} {ms.pretty(r.value)}: {_pct(r.fcr_before)} to "
        f"{_pct(r.fcr_now)} ({_points(r.change)}, {'beyond noise' if r.beyond_noise else 'within noise'})."
        for r in mv.itertuples()
    ]
    blocks = []
    if movers:
        blocks.append(
            "<h3>Biggest movers since last month</h3><ul class='movers'>"
            + "".join(f"<li>{Markup.escape(m)}</li>" for m in movers)
            + "</ul>"
        )
    else:
        blocks.append("<p>No reason family, channel or team is large enough in both months to rank movers.</p>")
    blocks.append(
        "<h3>Actions this week</h3><ol class='actions'>"
        + "".join(f"<li>{Markup.escape(a)}</li>" for a in actions)
        + "</ol>"
    )
    return _section("summary", "This month at a glance", lines, blocks), movers


def coverage_section(inp: ReportInputs, coverage: str) -> dict:
    """Which share of the export the FCR figure covers, why the rest is not in it, and what counted as the
    customer coming back (report/coverage.py)."""
    t, _ = coverage_table(inp.ingest, inp.label)
    return _section(
        "coverage",
        "What the FCR figure covers",
        [coverage, coming_back_sentence(inp.label)],
        [table(t.rename(columns={"what": "contacts of the export", "rows": "rows"}), ("share",))],
    )


def team_week_block(tw: pd.DataFrame) -> str:
    """Teams as rows, weeks as columns; each cell coloured by its verdict against the team's target."""
    if not len(tw):
        return ""
    weeks = sorted(tw["week"].unique())
    partial = tw.groupby("week")["partial"].any()
    head = "".join(f"<th>{w:%d %b}{' (partial)' if partial[w] else ''}</th>" for w in weeks)
    rows = []
    for team, g in tw.groupby("team", sort=True):
        g = g.set_index("week")
        cells = []
        for w in weeks:
            r = g.loc[w]
            text = "" if r["first_contacts"] == 0 else f"{r['fcr']:.0%}"
            mark = {"above target": " ▲", "below target": " ▼"}.get(r["verdict"], "")
            cells.append(
                f"<td class='{r['verdict'].replace(' ', '-').split('-(')[0]}' title='{r['verdict']}, "
                f"{int(r['first_contacts'])} first contacts'>{text}{mark}</td>"
            )
        rows.append(
            f"<tr><td>{Markup.escape(ms.pretty(team))}</td><td>{g['target'].iloc[0]:.0%}</td>{''.join(cells)}</tr>"
        )
    legend = (
        "<p class='legend note'><span class='above-target' style='background:#d4efe6'>▲ above target</span>"
        "<span style='background:#f8dccb'>▼ below target</span> (beyond noise); plain: within noise of the "
        "target; grey: too few contacts to judge; <i>partial</i>: some outcomes not known yet, not compared."
        "</p>"
    )
    return (
        legend
        + "<div class='scroll'><table class='teamweek'><thead><tr><th>Team</th><th>Target</th>"
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def switching_block(matrix: pd.DataFrame) -> tuple[str, str]:
    total = int(matrix.to_numpy().sum())
    same = int(sum(matrix.loc[c, c] for c in matrix.index if c in matrix.columns))
    shares = matrix.div(matrix.sum(axis=1), axis=0)
    show = pd.DataFrame({"first channel": [ms.pretty(i) for i in matrix.index]})
    for c in matrix.columns:
        show[ms.pretty(c)] = [f"{n:,} ({s:.0%})" for n, s in zip(matrix[c], shares[c])]
    show["repeats"] = matrix.sum(axis=1).to_numpy()
    text = (
        f"{total:,} repeat contacts; {total - same:,} ({(total - same) / total:.0%}) came back on another channel "
        "than the one they started on. Rows: where the customer first got in touch; columns: where they came "
        "back (share of the row)."
    )
    return table(show), text


def signal_section(sv: dict, signal: dict | None = None) -> dict:
    """`signal`: contract.json `outcome_signal` (what the user's own resolution column is)."""
    w = signal_words(sv["column"], signal)
    intro = [
        f"Two measurements of the same thing: {w.what}, and whether the customer came back. "
        f"On {sv['contacts']:,} contacts with both, they agree on {sv['agreement']:.0%} "
        f"({sv['low']:.0%} to {sv['high']:.0%}).",
        f"{sv['says_resolved_but_came_back']:,} {w.resolved}: the customer came back about the same issue "
        f"anyway; {w.resolved_but_came_back}.",
        f"{sv['says_unresolved_but_no_repeat']:,} {w.unresolved}: the customer did not come back within "
        f"the window; {w.unresolved_no_repeat}. Repeat tracking counts these as resolved, so FCR from repeats "
        "alone flatters the operation by at most this much.",
    ]
    labels = {
        "says_resolved_but_came_back": f"{w.resolved}, came back",
        "says_unresolved_but_no_repeat": f"{w.unresolved}, did not come back",
    }
    blocks = [table(sv["by"], PCT, labels=labels)] if "by" in sv else []
    return _section("survey", w.title, intro, blocks)


def not_in_data(counts: ContactCounts, inp: ReportInputs, cmp: dict, cfg: ReportConfig, has_agents: bool
                ) -> list[str]:
    """What this export could not support, and what would enable it (columns shown as code)."""
    out, c = [], counts.views["channel_team"]

    def missing(col: str) -> bool:
        return not counts.has(col)

    if missing("agent_id"):
        out.append("Agent scorecards and the coaching list: add an agent column (<code>agent_id</code>) to the export.")
    if missing("team"):
        out.append(
            "Teams week by week and team targets: add a team column (<code>team</code>), or an agents table "
            "with each agent's team."
        )
    if missing("transfers"):
        out.append("FCR by number of transfers: add a transfers count (<code>transfers</code>).")
    if ms.signal_column(counts.views["signal"]) is None:
        out.append(
            "Survey against repeat tracking: add the survey answer (<code>survey_resolved</code>) or your own "
            "resolution flag (<code>resolution_signal</code>)."
        )
    if missing("channel") or c["channel"].astype(str).nunique() < 2:
        out.append(
            "Where customers go when they come back: the export has a single channel; add "
            "<code>channel</code> with each contact's channel."
        )
    if not inp.reason_names:
        out.append(
            "Reason names: reasons are shown by their codes; a file naming each reason code enables them "
            "(the setting: see the analysts' section)."
        )
    if inp.model is None:
        out.append(
            "What drives repeats, fair scorecards and the coaching list: " + str(Markup.escape(no_model_words(inp)))
            + "."
        )
    elif inp.model.casemix is None:
        out.append("Fair scorecards: the case-mix model is switched off (the setting: see the analysts' section).")
    if cmp.get("available") and cmp.get("before") is None:
        out.append("Change from last month and biggest movers: the data covers one month; export at least two.")
    if not cmp.get("available"):
        out.append(
            "FCR: no contact's outcome is known yet; export contacts older than the label window "
            f"({inp.label.get('rules', {}).get('window_days', 'window')} days)."
        )
    return out


def settings_words(inp: ReportInputs) -> list[str]:
    """Settings that would enable what the report left out, named as params.yaml names them (for analysts)."""
    out = []
    if not inp.reason_names:
        out.append(
            "Reason names: set <code>report.reason_names</code> in params.yaml to a file with the columns "
            "<code>reason_code,reason_name</code>."
        )
    if inp.model is not None and inp.model.casemix is None:
        out.append("Fair scorecards: set <code>train.casemix_model: true</code> in params.yaml.")
    return out


def no_model_words(inp: ReportInputs) -> str:
    """Why there are no drivers or scorecards: no useful model (train's reason), or train has not run."""
    if inp.no_model:
        return "no model was useful on this data, so none was trained or registered (why: see the analysts' section)"
    return "no model was trained on this data (run the train and explain stages)"


def analysts_section(
    inp: ReportInputs, cfg: ReportConfig, transfers: pd.DataFrame | None, checks: dict | None, hits: dict | None
) -> dict:
    """The model's own view for analysts: its drivers and evaluation, then the technical tables."""
    blocks, intro = (
        [],
        [
            "For analysts: the model's own view (SHAP attributions on the log-odds scale), its "
            "evaluation on the newest contacts, and technical tables. Operations readers can stop above."
        ],
    )
    m = inp.model
    if inp.no_model:
        intro.append(f"Why no model was trained: {in_words(inp.no_model)}.")
    if m is not None:
        blocks += _shap_blocks(inp, cfg)
        blocks.append(_evaluation_curves(m))
        blocks.append(_driver_table(m.drivers))
        blocks += _after_contact_blocks(m)
        intro += _model_words(m)
    if transfers is not None:
        blocks.append(
            Markup("<h3>FCR by number of transfers</h3>") + table(transfers.rename(columns={"segment": "transfers"}), PCT)
        )
    settings = settings_words(inp)
    if settings:
        blocks.append(
            "<h3>Settings that would enable more</h3><ul>" + "".join(f"<li>{x}</li>" for x in settings) + "</ul>"
        )
    if checks:
        blocks.append(
            "<h3>Synthetic centre, checked against its truth</h3><pre>"
            + str(Markup.escape(json.dumps({**checks, "coaching": hits}, indent=1, default=str)))
            + "</pre>"
        )
    return _section("analysts", "The model, for analysts (technical)", intro, blocks)


def _shap_blocks(inp: ReportInputs, cfg: ReportConfig) -> list[str]:
    """Mean |SHAP| by feature, then (with a SHAP sample) each contact's SHAP per feature and the
    dependence plots."""
    m = inp.model
    d, shap, spec = m.drivers, m.shap, m.spec
    blocks = [
        img(
            Bars(
                "Drivers of repeats: mean |SHAP| (log-odds)",
                d["feature"].head(15),
                d["mean_abs_shap"].head(15),
                "mean |SHAP|",
                percent=False,
                groups=np.where(d["controllable"].head(15), "controllable", "not controllable"),
                colours={"controllable": "blue", "not controllable": "orange"},
            )
        )
    ]
    top = [f for f in d["feature"].head(8) if f"shap_{f}" in shap.columns]
    values = model_frame(FeatureRows.of(inp.table).rows_with(shap["contact_id"], spec["model_features"]), spec) if len(
        shap) else None
    if values is None:
        return blocks
    blocks.append(
        img(
            Strips(
                "Each contact's SHAP per feature (beeswarm; colour: low to high value)",
                {f: shap[f"shap_{f}"] for f in top},
                _shades(values, top),
                "SHAP (log-odds of a repeat)",
            )
        )
    )
    numeric = [f for f in d["feature"] if f in values and not isinstance(values[f].dtype, pd.CategoricalDtype)]
    blocks.append(
        "<div class='grid'>"
        + "".join(
            img(
                Scatter(
                    f"Dependence: {f}", pd.to_numeric(values[f], errors="coerce"), shap[f"shap_{f}"], f, "SHAP"
                )
            )
            for f in numeric[: cfg.dependence_plots]
        )
        + "</div>"
    )
    return blocks


def _shades(values: pd.DataFrame, features: list[str]) -> dict[str, np.ndarray]:
    """Each feature's values as 0 (low) to 1 (high) between its 5th and 95th percentiles; categories mid-grey."""
    shades = {}
    for f in features:
        v = values[f]
        if isinstance(v.dtype, pd.CategoricalDtype):
            shades[f] = np.full(len(v), 0.5)
        else:
            num = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
            lo, hi = np.nanpercentile(num, [5, 95]) if np.isfinite(num).any() else (0.0, 1.0)
            shades[f] = np.clip((num - lo) / (hi - lo if hi > lo else 1), 0, 1)
    return shades


def _evaluation_curves(m: ModelOutputs) -> str:
    """ROC, precision-recall, calibration and capture on the test window, side by side."""
    c, met = m.curves, m.card["test_metrics"]
    return (
        "<div class='grid'>"
        + "".join(
            [
                img(
                    Lines(
                        f"ROC (AUC {met['roc_auc']:.3f})",
                        c["roc"]["fpr"],
                        {"model": c["roc"]["tpr"]},
                        "true positive rate",
                        "false positive rate",
                        diagonal=True,
                    )
                ),
                img(
                    Lines(
                        "Precision-recall",
                        c["pr"]["recall"],
                        {"model": c["pr"]["precision"]},
                        "precision",
                        "recall",
                    )
                ),
                img(
                    Lines(
                        f"Calibration (ECE {met['ece']:.3f})",
                        c["calibration"]["mean_predicted"],
                        {"observed": c["calibration"]["observed_rate"]},
                        "observed repeat rate",
                        "predicted repeat probability",
                        diagonal=True,
                    )
                ),
                img(
                    Lines(
                        "Repeats captured vs contacts sent to specialists",
                        c["capture"]["contacts_share"],
                        {"model": c["capture"]["repeats_captured"], "random": c["capture"]["random"]},
                        "repeats captured",
                        "contacts sent",
                        percent_x=True,
                    )
                ),
            ]
        )
        + "</div>"
    )


def _driver_table(d: pd.DataFrame) -> str:
    return table(
        d[
            [
                col
                for col in (
                    "rank",
                    "feature",
                    "description",
                    "family",
                    "controllable",
                    "mean_abs_shap",
                    "share_toward_repeat",
                )
                if col in d
            ]
        ].head(15)
    )


def _after_contact_blocks(m: ModelOutputs) -> list[str]:
    """The diagnostic model with what happens during the contact (when trained)."""
    if m.after is None:
        return []
    blocks = ["<h3>Drivers with what happens during the contact (diagnostic model, not for routing)</h3>"]
    if not after_contact_drivers(m.after, m.spec):
        blocks.append(
            "<p>Nothing to add: the export has no transfers, handle times or disposition (what happens "
            "during the contact), so this model's drivers are those above.</p>"
        )
        return blocks
    blocks.append(
        img(
            Bars(
                "After-contact model: mean |SHAP|",
                m.after["feature"].head(15),
                m.after["mean_abs_shap"].head(15),
                "mean |SHAP|",
                percent=False,
                groups=np.where(m.after["controllable"].head(15), "controllable", "not controllable"),
                colours={"controllable": "blue", "not controllable": "orange"},
            )
        )
    )
    return blocks


def _model_words(m: ModelOutputs) -> list[str]:
    """The routing model's version, test window, metrics and promotion in a sentence (and its capture)."""
    card, met = m.card, m.card["test_metrics"]
    words = [
        f"Routing model: registry version {m.registry.get('version')} (its MLflow run: `fcr status`); "
        f"test window {card['split']['test']['from']} to "
        f"{card['split']['test']['to']} ({card['split']['test']['contacts']:,} contacts): ROC AUC "
        f"{met['roc_auc']:.3f}, log loss {met['log_loss']:.4f}, ECE {met['ece']:.4f}, capture at 10% "
        f"{met.get('capture_at_10pct', float('nan')):.0%}. Promotion: {in_words(m.registry.get('reason'))}."
    ]
    if "model" in m.capture:
        words.append(capture_words(m.capture))
    return words


def truth_checks(inp: ReportInputs, agents: pd.DataFrame, min_spread: float) -> dict | None:
    """On the synthetic centre (its truth files present): the report's findings against the truth."""
    meta_path, skill_path = inp.truth_dir / "truth.json", inp.truth_dir / "agent_truth.parquet"
    if inp.model is None or not (meta_path.exists() and skill_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    skill = pd.read_parquet(skill_path).set_index("agent_id")["skill"]
    return {
        "driver_recovery": driver_recovery(
            inp.model.drivers,
            meta["planted_drivers"],
            meta.get("non_drivers", []),
            inp.model.top_n,
            min_spread,
            inp.model.after,
        ),
        "agent_skill_tracking": skill_tracking(agents, skill),
        "skill": skill,
    }


CARD_COLUMNS = ["started_at", "status", "repeated", "agent_id", "team", "channel", "reason_family"]


def fair_cards(inp: ReportInputs, cfg: ReportConfig) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The agents' and teams' scorecards and the coaching list, from sums of the scored contacts per agent, team
    and reason family, made a row group of the feature table at a time (report/scorecards.py `card_sums`)."""
    empty = pd.DataFrame(columns=SCORECARD_COLUMNS)
    t = FeatureRows.of(inp.table)
    if (inp.model is None or inp.model.casemix is None or "agent_id" not in t.columns
            or not t.fold(["agent_id"], lambda part: bool(part["agent_id"].notna().any()), operator.or_)):
        return {"agents": empty, "teams": empty.copy()}, pd.DataFrame()
    horizon = t.fold(["status", "started_at"], ms.outcome_horizon, max_of)
    casemix = inp.model.casemix

    def newest_scored(part: pd.DataFrame) -> pd.DataFrame:
        # The last `scorecard_days` of known outcomes: recent enough to coach on, long enough to tell agents
        # apart; labelled contacts handled by a person (not a placeholder agent id).
        recent = (ms.utc_naive(part["started_at"]) > horizon - pd.Timedelta(days=cfg.scorecard_days)).to_numpy()
        rows = part[recent & scored_rows(part, cfg.placeholder_agents)]
        return card_sums(rows, casemix.predict(rows) if len(rows) else np.array([]))

    sums = t.fold([*CARD_COLUMNS, *getattr(casemix, "spec", {}).get("model_features", [])], newest_scored, add_sums)
    agents = _fair_card(sums, "agent", cfg, "agents")
    in_team = sums.index.get_level_values("team").notna()
    teams = _fair_card(sums[in_team], "team", cfg, "teams") if in_team.any() else empty.copy()
    return {"agents": agents, "teams": teams}, coaching_list(agents, sums, cfg.coaching_families)


def _fair_card(sums: pd.DataFrame, level: str, cfg: ReportConfig, who: str) -> pd.DataFrame:
    contacts = sums["contacts"].sum()
    overall = 1 - float(sums["repeats"].sum() / contacts) if contacts else np.nan
    return fair_scorecard_of_sums(sums.groupby(level=level).sum(), overall, cfg.scorecard_min_contacts,
                                  cfg.significance, who)


BASELINE_WORDS = {"overall_rate": "the overall repeat rate", "reason_rate": "the repeat rate of each reason",
                  "frequent_caller": "the customer's number of recent contacts",
                  "previous_outcome": "the outcome of the customer's previous contact",
                  "logistic_regression": "a logistic regression"}


def capture_words(capture: dict[str, float]) -> str:
    """The model's share of repeats caught in the riskiest 10% beside the frequent-caller baseline and the ceiling."""
    text = f"Sending the riskiest 10% of contacts to specialists catches {capture['model']:.0%} of repeats"
    if "frequent_caller" in capture:
        text += f"; ranking by the customer's number of recent contacts alone would catch {capture['frequent_caller']:.0%}"
    if "true_probabilities" in capture:
        text += (f"; on this synthetic centre the true probabilities, the best any model could do, catch "
                 f"{capture['true_probabilities']:.0%}")
    return text + "."


def in_words(reason: object) -> str:
    """The registry's promotion reason with the baselines named in words, not as identifiers."""
    text = str(reason) if reason is not None else "not recorded"
    for name, words in BASELINE_WORDS.items():
        text = text.replace(name, words)
    return text


@dataclass
class Findings:
    """What the sections are built from, measured once (`measure`): the contacts and settings, the FCR
    tables, this month against the last, reasons, teams by week, channel switching, the outcome
    signal, scorecards, drivers in words and the truth checks."""

    inp: ReportInputs
    cfg: ReportConfig
    contacts: pd.DataFrame  # the contacts' counts (report/counts.py `ContactCounts.rows`)
    timezone: str
    segments: list[str]
    overall: pd.DataFrame
    seg_tables: dict[str, pd.DataFrame]
    weekly: pd.DataFrame | None  # every week (the chart shows those with enough contacts)
    cmp: dict
    movers: pd.DataFrame
    reasons: pd.DataFrame
    period: object
    team_weeks: pd.DataFrame
    switching: pd.DataFrame
    signal: dict
    transfers: pd.DataFrame | None
    cards: dict[str, pd.DataFrame]
    coach: pd.DataFrame
    has_agents: bool
    words: pd.DataFrame
    checks: dict | None
    hits: dict | None

    @property
    def sig(self) -> float:
        return self.cfg.significance

    @property
    def floor(self) -> int:
        return self.cfg.min_segment_contacts


def build_report(inp: ReportInputs, cfg: ReportConfig) -> Report:
    """The page section by section, in the order it shows them (report/templates/report.html.j2 has one
    block per section), its tables and its summary."""
    found = measure(inp, cfg)
    actions = actions_this_week(found)
    summary_sec, movers_text = summary_section(found.cmp, found.movers, actions)
    coverage = coverage_sentence(inp.ingest, inp.label)
    missing = not_in_data(inp.counts, inp, found.cmp, cfg, found.has_agents)
    sections = {
        "summary": summary_sec,
        "coverage": coverage_section(inp, coverage),
        "fcr": fcr_section(found),
        "reasons": reasons_section(found),
        "teams": teams_section(found),
        "switching": switching_section(found),
        "survey": survey_section(found),
        "drivers": drivers_section(found),
        "scorecards": scorecards_section(found),
        "coaching": coaching_section(found),
        "routing": routing_section(inp.routing),
        "missing": missing_section(missing),
        "analysts": analysts_section(inp, cfg, found.transfers, found.checks, found.hits),
    }
    html = render(
        {
            "title": "First-contact resolution: operations report",
            "describes": describes(found),
            "kpis": kpis(found),
            "sections": sections,
        }
    )
    summary = report_summary(found, coverage, movers_text, actions, missing, sections)
    return Report(html, report_tables(found), summary)


def segment_view(views: dict[str, pd.DataFrame], seg: str) -> pd.DataFrame:
    """The view of the contacts' counts that splits on `seg` (report/counts.py VIEWS)."""
    return views["reason"] if seg in ("reason_family", "reason_code") else views["channel_team"]


def measure(inp: ReportInputs, cfg: ReportConfig) -> Findings:
    views, sig, floor = inp.counts.views, cfg.significance, cfg.min_segment_contacts
    c, by_reason = views["channel_team"], views["reason"]  # (each counts every contact once: report/counts.py)
    tz = cfg.timezone or "UTC"
    if inp.counts.timezone != tz:
        raise ValueError(f"the contacts were counted by day in {inp.counts.timezone}, the report cuts months in {tz}")
    rules = inp.label.get("rules", {})
    cal = ms.Calendar.of(c, tz, float(rules.get("window_days", 0)), rules.get("as_of"), floor)
    segs = [s for s in SEGMENT_WORDS if inp.counts.has(s)]
    seg_tables = {s: _with_interval(fcr_table(segment_view(views, s), s), sig, floor) for s in segs}
    overall = _with_interval(fcr_table(c), sig, 1)
    first = first_contacts(c, ["started_at"])
    weekly = _with_interval(weekly_fcr(c, first=first, tz=tz), sig, floor) if len(first) else None
    cmp = ms.period_comparison(c, cfg.fcr_target, sig, cal)
    mv = ms.movers({s: segment_view(views, s) for s in segs}, floor, sig, cfg.movers, cal)
    reasons, period = ms.monthly_reasons(by_reason, inp.reason_names, cfg.top_reasons, cal)
    tw = ms.team_weeks(c, cfg.team_targets, cfg.fcr_target, cfg.weeks_shown, floor, sig, tz)
    switching = inp.counts.switching if "channel" in segs and c["channel"].astype(str).nunique() > 1 else pd.DataFrame()
    sv = ms.signal_agreement(views["signal"], "channel" if "channel" in segs else None, sig)
    transfers = fcr_by_count(views["transfers"], "transfers") if inp.counts.has("transfers") else None
    cards, coach = fair_cards(inp, cfg)
    has_agents = len(cards["agents"]) > 0
    m = inp.model
    words = (
        drivers_in_words(m.drivers, m.spec, inp.table, m.shap, cfg.drivers_in_words, sig)
        if m is not None
        else pd.DataFrame()
    )
    checks = truth_checks(inp, cards["agents"], cfg.truth_check_min_spread) if has_agents else None
    hits = coaching_hit_rates(cards["agents"], coach, checks.pop("skill")) if checks else None
    return Findings(inp, cfg, c, tz, segs, overall, seg_tables, weekly, cmp, mv, reasons, period, tw, switching, sv,
                    transfers, cards, coach, has_agents, words, checks, hits)


def actions_this_week(found: Findings) -> list[str]:
    """The few things the numbers point at, most specific first."""
    reasons, coach, tw, mv, words = found.reasons, found.coach, found.team_weeks, found.movers, found.words
    actions = []
    # Never on a reason with fewer first contacts in the period than a segment needs, nor on one that makes no more
    # than its share of the repeats (its share of the month's first contacts): the most repeats of a reason that
    # repeats less than the others is its volume, not how it is handled.
    total = _now(found).get("first_contacts") or 0
    solid = reasons[(reasons["repeats"] > 0) & (reasons["first_contacts"] >= found.floor)
                    & (reasons["share_of_repeats"] > reasons["first_contacts"] / max(total, 1))]
    if len(solid):
        r0 = solid.iloc[0]
        actions.append(
            f"Review how \u201c{r0['reason']}\u201d contacts are handled: {int(r0['repeats']):,} repeats in "
            f"{found.period.name}, {r0['share_of_repeats']:.0%} of all."
        )
    if len(coach):
        actions.append(
            f"Coach {len(coach)} agent(s) whose FCR is credibly below what their contacts lead one to "
            f"expect, starting with {', '.join(coach['agent'].head(3))} (coaching list below)."
        )
    below = tw[(tw["verdict"] == "below target")] if len(tw) else tw
    if len(below):
        last = below["week"].max()
        names = sorted(below.loc[below["week"] == last, "team"].astype(str))
        actions.append(
            f"Talk with the team lead(s) of {', '.join(ms.pretty(n) for n in names[:5])}: below target "
            f"beyond noise in the week of {last:%d %b}."
        )
    worse = mv[(mv["change"] < 0) & mv["beyond_noise"]] if len(mv) else mv
    if len(worse):
        w = worse.iloc[0]
        actions.append(
            f"Find out what changed for {SEGMENT_WORDS.get(w['segment'], w['segment'])} "
            f"{ms.pretty(w['value'])}: FCR fell {_points(-w['change']).lstrip('+')}."
        )
    ctrl = words[words["controllable"] & (words["times_as_likely"].fillna(0) > 1)] if len(words) else words
    if len(ctrl):
        actions.append(f"Act on what the operation controls: {ctrl.iloc[0]['sentence']}")
    if not actions:
        actions.append("Nothing in this data stands out beyond noise: keep watching the weekly figures.")
    return actions


def fcr_section(found: Findings) -> dict:
    """FCR by week (weeks with enough contacts), by segment, and the channel table."""
    cfg, weekly, floor, sig = found.cfg, found.weekly, found.floor, found.sig
    blocks = []
    shown_weeks = weekly[weekly["first_contacts"] >= floor] if weekly is not None else None
    if weekly is not None and len(shown_weeks) < len(weekly):
        blocks.append(
            f"<p class='note'>{len(weekly) - len(shown_weeks):,} of {len(weekly):,} weeks have fewer than "
            f"{floor:,} first contacts with a known outcome and are left out of the weekly chart.</p>"
        )
    weekly = shown_weeks
    if weekly is not None and len(weekly):
        blocks.append(
            img(
                Lines(
                    "FCR by week (first contacts whose outcome is known)",
                    list(pd.to_datetime(weekly["week"])),
                    {"FCR": weekly["fcr"]},
                    "first-contact resolution",
                    band=(weekly["ci_low"], weekly["ci_high"]),
                    target=cfg.fcr_target,
                ),
                "FCR by week",
            )
        )
    blocks.append(
        "<div class='grid'>"
        + "".join(
            _segment_bars(
                top_and_others(t, cfg.top_categories, sig, floor), s, cfg.fcr_target, segment_words(segment_view(found.inp.counts.views, s), s)
            )
            for s, t in found.seg_tables.items()
        )
        + "</div>"
    )
    if "channel" in found.seg_tables:
        blocks.append(
            table(
                found.seg_tables["channel"]
                .assign(segment=lambda t: t["segment"].map(ms.pretty))
                .rename(columns={"segment": "channel", "ci_low": "low", "ci_high": "high"}),
                PCT,
            )
        )
    return _section(
        "fcr",
        "First-contact resolution",
        f"Share of first contacts resolved without the customer coming back about the same issue within "
        f"{_window(found.inp)}. Bars start at zero; the whiskers show the range "
        f"the true figure lies in ({1 - sig:.0%}). Grey bars have fewer than {floor} first "
        f"contacts and are not ranked.",
        blocks,
    )


def reasons_section(found: Findings) -> dict:
    """The month's top reasons of repeat contacts, with the change from last month."""
    reasons, period = found.reasons, found.period
    if period is None or not len(reasons):
        return _section(
            "reasons", "Top reasons of repeat contacts", "Not enough data: no contact with a known outcome."
        )
    rs = reasons.drop(columns=["reason_code"]) if not found.inp.reason_names else reasons
    signed = [f"{int(v):+,}" if pd.notna(v) else "" for v in rs["change_from_last_month"]]
    rs = rs.assign(change_from_last_month=signed)
    return _section(
        "reasons",
        (
            f"Top {len(reasons)} reasons of repeat contacts, {period.name}"
            if len(reasons) > 1
            else f"The reason of repeat contacts, {period.name}"
        ),
        "Contacts the customer came back about, by reason: repeats this month, their share of all repeats, and "
        "the change from last month (in contacts).",
        [
            img(
                Bars(
                    f"Repeats by reason, {period.name}",
                    reasons["reason"],
                    reasons["repeats"],
                    "repeat contacts",
                    percent=False,
                )
            ),
            table(rs, PCT),
        ],
    )


def teams_section(found: Findings) -> dict:
    title = "Teams week by week against their targets"
    if len(found.team_weeks):
        return _section(
            "teams",
            title,
            f"FCR of each team's first contacts per week (Monday to Sunday, {found.timezone} time) against the team's "
            "target. A week still waiting for outcomes is marked partial and not judged.",
            [team_week_block(found.team_weeks)],
        )
    return _section(
        "teams",
        title,
        "Not shown: "
        + (
            "the export has no team column (see Not in your data)."
            if "team" not in found.segments
            else "no team has first contacts with a known outcome in these weeks."
        ),
    )


def switching_section(found: Findings) -> dict:
    title = "Where customers go when they come back"
    if len(found.switching):
        block, text = switching_block(found.switching)
        return _section("switching", title, text, [block])
    c = found.contacts
    return _section(
        "switching",
        title,
        "Not shown: "
        + (
            "the export has a single channel (see Not in your data)."
            if "channel" not in found.segments or c["channel"].astype(str).nunique() < 2
            else "no customer came back within the window."
        ),
    )


def survey_section(found: Findings) -> dict:
    sv = found.signal
    if sv["available"]:
        return signal_section(sv, found.inp.signal)
    return _section(
        "survey",
        "What customers say against what they do",
        "Not shown: "
        + (
            "no contact has both a survey answer (or resolution flag) and a known outcome."
            if "column" in sv
            else "the export has no survey answer or resolution flag (see Not in your data)."
        ),
    )


def drivers_section(found: Findings) -> dict:
    """The strongest drivers in plain words: what the operation can act on, then who calls and why."""
    title = "What drives repeats"
    words = found.words
    if found.inp.model is None:
        return _section(
            "drivers",
            title,
            f"Not shown: {no_model_words(found.inp)}. Drivers cannot be given; the descriptive sections "
            "above (FCR, reasons, teams) stand on their own.",
        )
    if not len(words):
        return _section(
            "drivers",
            title,
            "No driver the model uses makes a difference "
            "beyond noise on its own in this data: nothing known when a contact arrives tells "
            "reliably whether the customer will come back.",
        )
    controllable = [s for s, ok in zip(words["sentence"], words["controllable"]) if ok]
    given = [s for s, ok in zip(words["sentence"], words["controllable"]) if not ok]
    blocks = [
        "<h3>The operation can act on these</h3><ul>"
        + "".join(f"<li>{Markup.escape(s)}</li>" for s in controllable)
        + "</ul>"
        if controllable
        else "<p>None of the strongest drivers is under the operation's control.</p>",
        "<h3>Who calls and why (not controllable, but worth planning for)</h3><ul>"
        + "".join(f"<li>{Markup.escape(s)}</li>" for s in given)
        + "</ul>"
        if given
        else "",
    ]
    ratio = words.dropna(subset=["times_as_likely"])
    blocks.append(
        img(
            Bars(
                "How much more likely a repeat is, by driver",
                [f"{d}: {cnd}" for d, cnd in zip(ratio["driver"], ratio["condition"])],
                ratio["times_as_likely"],
                "times as likely to come back",
                percent=False,
                groups=np.where(ratio["controllable"], "the operation can act on it", "who calls and why"),
                colours={"the operation can act on it": "blue", "who calls and why": "orange"},
            ),
            "drivers in plain words",
        )
    )
    return _section(
        "drivers",
        title,
        "The strongest drivers the model found, measured on the contacts themselves: how often "
        "customers came back when the driver is present against when it is not. Drivers whose "
        "difference is within noise on its own are left out.",
        blocks,
    )


def _no_scorecards(found: Findings) -> str:
    """Why there are no scorecards (nor a coaching list)."""
    m, cfg = found.inp.model, found.cfg
    why = (
        "the export has no agent column"
        if not found.inp.counts.has("agent_id")
        else no_model_words(found.inp)
        if m is None
        else "no case-mix model was trained on this data"
        if m.casemix is None
        else f"no agent has contacts with a known outcome in the last {cfg.scorecard_days} days"
    )
    return f"Not shown: {why} (see Not in your data)."


def scorecards_section(found: Findings) -> dict:
    title = "Agent and team scorecards, adjusted for case mix"
    if not found.has_agents:
        return _section("scorecards", title, _no_scorecards(found))
    cfg = found.cfg
    return _section(
        "scorecards",
        title,
        [
            "Each agent's and team's resolution rate: the share of every contact they handled (first "
            "contacts and the customer's follow-ups alike) that the customer did not have to come back "
            "about. It is not the headline's FCR, which counts first contacts only; the follow-ups are "
            "counted because they are work the agent can resolve too, and they give each agent a third "
            "more contacts to be judged on. It is shown beside the rate expected for the contacts they "
            "actually got (from a model that does not know who handled them), so someone who takes the "
            "hard calls is not ranked below someone who takes the easy ones. Small samples are pulled "
            "toward the average in proportion to their noise.",
            f"Contacts of the last {cfg.scorecard_days} days whose outcome is known. "
            f"Ranked by the lower end of the range (the figure they have shown at least), "
            f"not by the point. Fewer than {cfg.scorecard_min_contacts:,} contacts: "
            "\u201ctoo few contacts\u201d, not ranked. Agent ids that mean \u201cno agent\u201d "
            "are not scored.",
        ],
        scorecard_blocks(found.cards),
    )


def coaching_section(found: Findings) -> dict:
    if not found.has_agents:
        return _section("coaching", "Coaching list", _no_scorecards(found))
    coach, cards = found.coach, found.cards
    return _section(
        "coaching",
        "Coaching list",
        (
            f"{len(coach)} agent(s) whose adjusted resolution rate is credibly below what their "
            f"contacts lead one to expect, "
            "with the reason families where their repeats most exceed the expected ones."
            if len(coach)
            else f"Not shown: {cards['agents'].attrs['not_ranked']}."
            if cards["agents"].attrs.get("not_ranked")
            else "No agent is credibly below what their contacts lead one to expect."
        ),
        [
            table(
                coach,
                PCT,
                labels={
                    "adjusted_high": "adjusted resolution rate at most",
                    "contacts": "contacts handled",
                    "observed_fcr": "resolution rate",
                    "expected_fcr": "resolution rate expected for their contacts",
                },
            )
        ] if len(coach) else [],
    )


def missing_section(missing: list[str]) -> dict:
    """`missing`: `not_in_data`'s lines."""
    return _section(
        "missing",
        "Not in your data",
        "What this report could not compute for this export, and what would enable it."
        if missing
        else "Everything this report can show was computable from this export.",
        ["<ul>" + "".join(f"<li>{Markup(x)}</li>" for x in missing) + "</ul>"] if missing else [],
    )


def describes(found: Findings) -> str:
    """The line under the title: the contacts' span, how far outcomes are known, the model's version."""
    c, m, inp = found.contacts, found.inp.model, found.inp
    first = inp.counts.first_start  # (the counts keep each count's latest start, not its earliest)
    started = ms.utc_naive(c["started_at"]) if len(c) else pd.Series(dtype="datetime64[ns]")
    span = (f"contacts from {ms.utc_naive(pd.Series([first])).iloc[0]:%d %b %Y} to {started.max():%d %b %Y}"
            if len(started) and first is not None else "no contacts")
    horizon = ms.outcome_horizon(c)
    reg = m.registry if m is not None else {}
    model_words = (
        f"Drivers from model version {reg.get('version')} "
        + ("(the champion)" if reg.get("promoted") else "(not the current champion; why: see the analysts' section)")
        if m is not None
        else "No model was useful on this data (why: see the analysts' section)"
        if inp.no_model
        else "No model on this data"
    )
    return (
        f"{span}; outcomes known for contacts up to {horizon:%d %b %Y}" if horizon is not None else span
    ) + f". {model_words}."


def _now(found: Findings) -> dict:
    return found.cmp.get("now", {}) if found.cmp["available"] else {}


def kpis(found: Findings) -> list[tuple[str, str]]:
    cmp = found.cmp
    return [
        (f"FCR, {cmp['current']}" if cmp["available"] else "FCR", _pct(_now(found).get("fcr"))),
        ("change from last month", _points(cmp["change"]) if cmp.get("change") is not None else "no comparison"),
        ("target", f"{found.cfg.fcr_target:.0%}"),
        ("first contacts, all time", f"{int(found.overall['first_contacts'].iloc[0]):,}"),
    ]


def report_tables(found: Findings) -> dict[str, pd.DataFrame]:
    """The tables written beside the page as CSV."""
    cards, switching, transfers, weekly = found.cards, found.switching, found.transfers, found.weekly
    return {
        "scorecard_agents": cards["agents"],
        "scorecard_teams": cards["teams"],
        "top_reasons": found.reasons,
        "coaching_list": found.coach,
        "team_weeks": found.team_weeks,
        "movers": found.movers,
        "drivers_in_words": found.words,
        **({"channel_switching": switching.reset_index()} if len(switching) else {}),
        **({"fcr_by_transfers": transfers} if transfers is not None else {}),
        **{f"fcr_by_{s}": t for s, t in found.seg_tables.items()},
        **({"fcr_by_week": weekly} if weekly is not None else {}),
        "coverage": coverage_table(found.inp.ingest, found.inp.label)[0],
    }


def report_summary(
    found: Findings, coverage: str, movers_text: list[str], actions: list[str], missing: list[str], sections: dict
) -> dict:
    """metrics/report.json."""
    cmp, cards, inp = found.cmp, found.cards, found.inp
    reg = inp.model.registry if inp.model is not None else {}
    return {
        "period": cmp.get("current"),
        "period_why": cmp.get("why"),
        "timezone": found.timezone,
        "coverage": coverage,
        "merged_share": inp.label.get("merges", {}).get("merged_share"),
        "fcr": _now(found).get("fcr"),
        "change": cmp.get("change"),
        "p_value": cmp.get("p_value"),
        "beyond_noise": cmp.get("beyond_noise"),
        "movers": movers_text,
        "actions": actions,
        "agents_scored": int((cards["agents"]["verdict"] != "too few contacts").sum()),
        "teams_scored": int((cards["teams"]["verdict"] != "too few contacts").sum()),
        "coaching_list": int(len(found.coach)),
        "not_in_data": [Markup(x).striptags() for x in missing],
        "model_version": reg.get("version"),
        "no_model": inp.no_model,
        "truth_checks": found.checks,
        "coaching_truth": found.hits,
        "sections": [s["id"] for s in sections.values()],
    }
