"""The test window replayed under routing policies: the FCR each would reach, estimated before deploying it.

In: the feature table, the test window's contacts and arrival risk (train's test_predictions), the routing
model and the case-mix model (models_out), routing params, the specialist capacity, and on the synthetic
centre a function giving the true repeat probability of a contact with any agent. Out: metrics (per
policy FCR, uplift over today's FCR in points with intervals, repeats avoided per month, and the truth
where known) and the capacity curve of `risk_to_specialists`.

The population is the test window's labelled agent-handled contacts (beyond routing.max_contacts a random
sample of them, each agent's capacity then what it handled among them: the same replay on a smaller
centre); FCR is the share of them the customer did not come back about within the label window. Policies, within each period (hour or day) and among the
agents working in it, each taking at most the contacts it handled then:
- `as_assigned`: what happened (the observed FCR);
- `risk_to_specialists`: contacts at or above the model's risk threshold for the capacity (the test
  window's score quantile, as the service sets it) go to their reason family's specialists; the others go
  where the centre most often sends such contacts (the propensity's most likely agents);
- `best_available_agent`: the agents maximising the routing model's predicted resolution over the period,
  the ranking /v1/route returns, with capacity.
Both policies are fixed at the start of the test window: a candidate agent's features (repeat rates,
team) are as they stood then, tenure grows with time. A policy fed the window's own outcomes (a service
learning every contact) would give an agent fewer contacts of a family after its unlucky repeats there,
the very repeats the correction weighs: on the default centre that live policy's estimate overshot its
true uplift by 0.5 points (2.51 against 1.97), the fixed policy's lands on it (2.35, interval 1.85-2.81,
truth 1.97).
A contact goes only to agents the centre gave such contacts at least `min_propensity` of the time
(overlap); a contact whose own agent is outside it stays as assigned. Policies never look at who handled a
contact. The estimate (models/routing/estimate.py: the outcome model's paired difference plus a correction
weighted per agent x `correction_cell`) holds under: the model right, or its error for an agent the same on
the contacts of a cell the policy gives it as on those it had; every candidate agent possible for the
contact; and one contact's outcome not depending on another's agent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.schema import NO_AGENT_CHANNELS
from contract.tables import parquet_columns
from models.model_files import SavedModel
from models.routing.agents import pair_rows, specialist_pool
from models.routing.assign import assign
from models.routing.estimate import uplift_interval
from models.routing.propensity import fit_propensity
from models.config import RoutingConfig

log = logging.getLogger(__name__)

POLICIES = ("as_assigned", "risk_to_specialists", "best_available_agent")
ASSUMPTIONS = ("Each policy is the one that would have been set at the start of the period, from the agents' "
               "records up to then. The estimate assumes the routing model is right, or that its error for an agent is the same on "
               "the contacts of a kind (by default a reason family) a policy gives it as on those it had, that the "
               "agents a policy uses handled such contacts before, that "
               "one contact's outcome does not depend on another's agent, and that an agent handles at most the "
               "contacts it handled in the same period.")
DAYS_PER_MONTH = 365.25 / 12


def replay_columns(features_path, model: SavedModel, casemix: SavedModel | None) -> list[str]:
    """The feature-table columns the replay reads: all but those known only after the contact and the label
    columns no policy or model uses (a tenth of the table's memory at 10M contacts)."""
    after = {f["name"] for f in model.spec["features"] if f.get("availability") == "after_contact"}
    used = {*model.spec["model_features"], *(casemix.spec["model_features"] if casemix else ())}
    skip = (after | {"is_first_contact", "contact_seq"}) - used
    return [c for c in parquet_columns(features_path) if c not in skip]


def _no_estimate(reason: str, **extra: object) -> tuple[dict, pd.DataFrame]:
    log.warning("routing: no estimate: %s", reason)
    return ({"estimate": None, "reason": reason, "assumptions": ASSUMPTIONS, **extra},
            pd.DataFrame(columns=["specialist_capacity", "uplift_points", "uplift_low", "uplift_high", "true_uplift_points"]))


@dataclass
class _Window:
    """The test window's population (labelled agent-handled contacts, in time order) and the history before it."""
    pop: pd.DataFrame
    before: pd.DataFrame
    y: np.ndarray  # 1 = resolved
    own: np.ndarray  # the agent who handled each contact (text)
    per_month: float
    start: pd.Timestamp  # the window's first contact (any, not only the population's)
    window_contacts: int  # the population before any sampling


def _window(table: pd.DataFrame, test: pd.DataFrame, max_contacts: int, seed: int) -> _Window | str:
    """The window, or why there is none; beyond `max_contacts` contacts a random sample of them (in time order)."""
    in_test = table["contact_id"].isin(pd.Index(test["contact_id"])).to_numpy()
    if not in_test.any():
        return "the test window holds no contact of the feature table"
    agent_ok = table["agent_id"].notna() & ~table["channel"].astype("str").isin(NO_AGENT_CHANNELS)
    labelled = (table["status"].astype("str") == "labelled") & table["repeated"].notna()
    pop = table[in_test & agent_ok & labelled].sort_values("started_at", kind="stable").reset_index(drop=True)
    start = table.loc[in_test, "started_at"].min()
    before = table[(table["started_at"] < start) & agent_ok].reset_index(drop=True)
    if len(pop) == 0:
        return "no labelled agent-handled contact in the test window (no agents named?)"
    days = max((pop["started_at"].max() - pop["started_at"].min()).total_seconds() / 86_400, 1.0)
    per_month = len(pop) / days * DAYS_PER_MONTH  # of the whole window: uplift per contact x contacts a month
    window_contacts = len(pop)
    if len(pop) > max_contacts:
        log.info("routing: a random %d of the window's %d contacts replayed (routing.max_contacts)", max_contacts, len(pop))
        keep = np.sort(np.random.default_rng(seed).choice(len(pop), max_contacts, replace=False))
        pop = pop.iloc[keep].reset_index(drop=True)
    return _Window(pop, before, 1.0 - pop["repeated"].astype(bool).to_numpy(float),
                   pop["agent_id"].astype("str").to_numpy(), per_month, start, window_contacts)


def _candidates(w: _Window, e_all: tuple[np.ndarray, np.ndarray], agents: list[str], routable: np.ndarray,
                model: SavedModel, cfg: RoutingConfig) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, np.ndarray]:
    """Candidate pairs: routable contacts x agents working in the same period, inside the overlap, with the
    routing model's predicted resolution `m`. Returns the routable contacts' positions, their periods, the
    pairs (c: routable contact 0.., a: agent, e: propensity, m) and each routable contact's own-agent m."""
    r_idx = np.flatnonzero(routable)
    period = w.pop["started_at"].dt.floor("h" if cfg.capacity_period == "hour" else "D").to_numpy()[r_idx]
    working = pd.DataFrame({"p": period, "a": w.own[r_idx]}).drop_duplicates()
    cand = pd.DataFrame({"c": np.arange(len(r_idx)), "p": period}).merge(working, on="p")
    e_table, e_row = e_all  # (Propensity.rows: P(agent | cell) and each contact's cell)
    cand["e"] = e_table[e_row[r_idx[cand["c"].to_numpy()]], pd.Index(agents).get_indexer(cand["a"])]
    cand = cand[cand["e"] >= cfg.min_propensity].reset_index(drop=True)
    # Agent features as of the window's start (the policy fixed then; see the module docstring).
    rows = pair_rows(w.before, w.pop.iloc[r_idx], cand["c"].to_numpy(), cand["a"].to_numpy())
    cand["m"] = 1.0 - model.predict(rows)  # predicted resolution with that agent
    is_own = cand["a"].to_numpy() == w.own[r_idx][cand["c"].to_numpy()]
    m_own = np.full(len(r_idx), np.nan)
    m_own[cand["c"].to_numpy()[is_own]] = cand["m"].to_numpy()[is_own]
    log.info("routing: %d contacts, %d routable, %d candidate pairs", len(w.pop), len(r_idx), len(cand))
    return r_idx, period, cand, m_own


def _pool(before: pd.DataFrame, casemix: SavedModel | None, cfg: RoutingConfig) -> tuple[dict | None, str | None]:
    """Per reason family its specialists (models/routing/agents.py), or why there are none."""
    hist_ok = ((before["status"].astype("str") == "labelled") & before["repeated"].notna()).to_numpy()
    # (the columns the pool reads, of the labelled rows only: a copy of the whole history is GBs at 10M contacts)
    hist = before.loc[hist_ok, [c for c in ("agent_id", "reason_family", "team") if c in before.columns]]
    hist["repeated"] = before.loc[hist_ok, "repeated"].astype("float")
    exp_before = None if casemix is None else casemix.predict(before.loc[hist_ok, casemix.spec["model_features"]])
    try:
        return specialist_pool(hist, exp_before, cfg.specialist_team, cfg.specialist_share, cfg.min_history), None
    except ValueError as exc:
        return None, str(exc)


def _evaluate(w: _Window, r_idx: np.ndarray, cand: pd.DataFrame, m_own: np.ndarray, cell_r: np.ndarray,
              agents_r: np.ndarray, cfg: RoutingConfig) -> tuple[dict, np.ndarray]:
    """The policy's FCR and uplift with intervals (as assigned outside the overlap), and the agents."""
    n, y, own = len(w.pop), w.y, w.own
    key = pd.MultiIndex.from_arrays([cand["c"], cand["a"]])
    m_pol = cand["m"].to_numpy()[key.get_indexer(pd.MultiIndex.from_arrays([np.arange(len(r_idx)), agents_r]))]
    # (agent, cell) codes of the observed and the policy's agent; outside the overlap one inert cell
    agent_codes, agent_names = pd.factorize(np.concatenate([own[r_idx], agents_r]))
    pairs = pd.MultiIndex.from_arrays([agent_codes, np.concatenate([cell_r, cell_r])])
    cell_codes, cells = pd.factorize(pairs)
    k, a = len(cells), len(agent_names)
    own_cell, pol_cell = np.full(n, k), np.full(n, k)
    own_cell[r_idx], pol_cell[r_idx] = cell_codes[:len(r_idx)], cell_codes[len(r_idx):]
    agent_of_cell = np.append(cells.get_level_values(0).to_numpy(), a)
    m_own_all, m_pol_all = y.copy(), y.copy()
    m_own_all[r_idx], m_pol_all[r_idx] = m_own, m_pol
    agents = own.copy()
    agents[r_idx] = agents_r
    return uplift_interval(y, m_own_all, m_pol_all, own_cell, pol_cell, agent_of_cell, cfg.bootstrap), agents


def replay(table: pd.DataFrame, test: pd.DataFrame, model: SavedModel, casemix: SavedModel | None,
           cfg: RoutingConfig, capacity: float, true_p=None) -> tuple[dict, pd.DataFrame]:
    """Metrics and the capacity curve (see the module docstring). `test`: contact_id, p_repeat."""
    w = _window(table, test, cfg.max_contacts, cfg.bootstrap.seed)
    if isinstance(w, str):
        return _no_estimate(w)
    pop, own, n = w.pop, w.own, len(w.pop)
    features = [f for f in cfg.propensity.features if f in table.columns]
    fit = w.before[w.before["started_at"] >= w.start - pd.Timedelta(days=cfg.propensity.fit_days)]
    if fit["agent_id"].nunique() < 2:
        return _no_estimate(f"{fit['agent_id'].nunique()} agent(s) before the test window: nothing to route between")

    prop = fit_propensity(fit, fit["agent_id"], features, cfg.propensity.alpha)
    e_all = prop.rows(pop)
    col = pd.Index(prop.agents).get_indexer(own)
    e_own = np.where(col >= 0, e_all[0][e_all[1], np.maximum(col, 0)], 0.0)
    routable = e_own >= cfg.min_propensity
    overlap = float(routable.mean())
    base = {"contacts": n, "window_contacts": w.window_contacts, "contacts_per_month": w.per_month, "overlap_share": overlap,
            "propensity_features": features, "capacity_period": cfg.capacity_period}
    if overlap < cfg.min_overlap_share:
        return _no_estimate(f"only {overlap:.1%} of the test window's contacts went to an agent the centre gives such "
                            f"contacts at least {cfg.min_propensity:g} of the time (routing.min_overlap_share "
                            f"{cfg.min_overlap_share:g}): too little overlap to say what another routing would do", **base)

    r_idx, period, cand, m_own = _candidates(w, e_all, prop.agents, routable, model, cfg)
    pool, pool_reason = _pool(w.before, casemix, cfg)
    fam = pop["reason_family"].astype("str").to_numpy()[r_idx]
    in_pool = (np.array([a in pool.get(f, ()) for f, a in zip(fam[cand["c"]], cand["a"])], dtype=bool)
               if pool is not None else None)
    risk = pop[["contact_id"]].merge(test[["contact_id", "p_repeat"]], on="contact_id", how="left")["p_repeat"].to_numpy()

    def policy_agents(name: str, cap: float) -> np.ndarray:
        if name == "best_available_agent":
            utility = cand["m"].to_numpy()
        else:
            risky = risk[r_idx] >= np.quantile(test["p_repeat"], 1 - cap)
            utility = cand["e"].to_numpy() + 2.0 * (risky[cand["c"]] & in_pool)
        return assign(period, own[r_idx], cand["c"].to_numpy(), cand["a"].to_numpy(), utility)

    cell_cols = [c for c in cfg.correction_cell if c in pop.columns]
    cell_r = (pop[cell_cols].astype("str").agg("\x00".join, axis=1).to_numpy()[r_idx] if cell_cols
              else np.zeros(len(r_idx), dtype=str))

    def evaluate(agents_r: np.ndarray) -> tuple[dict, np.ndarray]:
        return _evaluate(w, r_idx, cand, m_own, cell_r, agents_r, cfg)

    true_own = None if true_p is None else true_p(pop["contact_id"], own)
    out = {"estimate": "doubly_robust", **base, "observed_fcr": float(w.y.mean()), "specialist_capacity": capacity,
           "policies": {}, "assumptions": ASSUMPTIONS}
    for name in POLICIES:
        if name == "risk_to_specialists" and pool is None:
            out["policies"][name] = {"estimate": None, "reason": pool_reason}
            continue
        res, agents = evaluate(own[r_idx] if name == "as_assigned" else policy_agents(name, capacity))
        out["policies"][name] = _per_month(res, w.per_month) | {"contacts_moved": int((agents != own).sum())} | (
            {} if true_own is None else
            _truth(true_own, true_p(pop["contact_id"], agents) if name != "as_assigned" else true_own))
    curve = []
    for cap in cfg.capacity_curve if pool is not None else ():
        res, agents = evaluate(policy_agents("risk_to_specialists", cap))
        row = {"specialist_capacity": cap, **{k: res[k] for k in ("uplift_points", "uplift_low", "uplift_high")}}
        if true_own is not None:
            row["true_uplift_points"] = _truth(true_own, true_p(pop["contact_id"], agents))["true_uplift_points"]
        curve.append(row)
    return out, pd.DataFrame(curve)


def _per_month(res: dict, per_month: float) -> dict:
    """The repeats a policy avoids per month (with its interval) from its uplift in points."""
    return res | {"repeats_avoided_per_month": res["uplift_points"] / 100 * per_month,
                  "repeats_avoided_low": res["uplift_low"] / 100 * per_month,
                  "repeats_avoided_high": res["uplift_high"] / 100 * per_month}


def _truth(true_own: np.ndarray, true_policy: np.ndarray) -> dict:
    """The generator's own answer, on the contacts it knows (both probabilities defined)."""
    known = ~np.isnan(true_own) & ~np.isnan(true_policy)
    if not known.any():
        return {"true_fcr": None, "true_uplift_points": None}
    return {"true_fcr": float(1 - true_policy[known].mean()),
            "true_uplift_points": 100 * float(true_own[known].mean() - true_policy[known].mean()),
            "true_contacts": int(known.sum())}
