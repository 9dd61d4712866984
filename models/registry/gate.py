"""The promotion gate: does the candidate beat every simple baseline on the test window, credibly?

In: test-window outcomes (1 = repeated), the candidate's calibrated probabilities, each baseline's
probabilities on the same rows, and `train.registry.gate` from params. Out: a `GateResult` whose
`to_dict()` states the rule in words, every paired-bootstrap interval and each check's verdict.

Each check is a paired bootstrap on the test rows (the same resampled rows score the model and the
baseline, so the noise they share cancels). The candidate beats a simple baseline when the lower end
of the interval of (baseline log loss - model log loss) exceeds `min_log_loss_reduction` and the
lower end of the interval of (model AUC - baseline AUC) exceeds `min_auc_gain` (a margin set to
null is not checked). Against the logistic regression the candidate only has to be not credibly
worse: it fails when the whole interval of (model log loss - logistic log loss) lies above
`logistic_max_excess` (the two are often close on real data; that is reported, not refused).
Anything that cannot be computed (one class in the test window, a missing baseline) fails the gate, and
so does a model with fewer than `min_trees` trees (early stopping found nothing past the first split).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from models.config import GateConfig

EPS = 1e-7
SIMPLE_BASELINES = ("overall_rate", "reason_rate", "frequent_caller", "previous_outcome")
LOGISTIC = "logistic_regression"
CHUNK = 64  # resamples per block at most
CELLS = 1 << 26  # resample counts per block at most (256 MB of int32): bounds memory on large test windows


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


class Ranking:
    """One scorer's test-window scores ranked once: which tie group (distinct score, ascending) each positive
    and each negative is in, as 0/1 matrices (groups x rows), so that the weighted positives and negatives
    of every group under a whole block of resamples are two sparse products."""

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        y = np.asarray(y).astype(bool)
        _, group = np.unique(np.asarray(p, dtype=np.float64), return_inverse=True)
        groups = int(group.max()) + 1 if len(group) else 0

        def member(g: np.ndarray) -> sparse.csr_matrix:
            return sparse.csr_matrix((np.ones(len(g)), (g, np.arange(len(g)))), shape=(groups, len(g)))

        self.pos, self.neg = member(group[y]), member(group[~y])

    def auc(self, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
        """ROC AUC under each row of the resample counts of the positives (B x positives) and the negatives
        (B x negatives); ties count one half. NaN where a resample holds one class only."""
        return self.auc_t(np.ascontiguousarray(w_pos.T), np.ascontiguousarray(w_neg.T))

    def auc_t(self, w_pos_t: np.ndarray, w_neg_t: np.ndarray) -> np.ndarray:
        """`auc` from the transposed counts (positives x B, negatives x B; shared by every scorer of a block)."""
        pos, neg = self.pos @ w_pos_t, self.neg @ w_neg_t  # groups x B: weighted counts per tie group
        total_pos, total_neg = pos.sum(axis=0), neg.sum(axis=0)
        below = np.cumsum(neg, axis=0) - neg  # weighted negatives ranked strictly below each group
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (pos * (below + 0.5 * neg)).sum(axis=0) / (total_pos * total_neg)
        return np.where((total_pos > 0) & (total_neg > 0), auc, np.nan)


def weighted_auc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of `p` under each row of `weights` (resample counts, shape B x n); ties count one half.
    NaN where a resample holds one class only."""
    y = np.asarray(y).astype(bool)
    return Ranking(y, p).auc(weights[:, y].astype(np.float64), weights[:, ~y].astype(np.float64))


def resample_weights(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Seeded bootstrap resamples of n rows (n draws with replacement each) as count matrices, a block of at most
    CHUNK resamples and CELLS counts at a time (at 30M contacts, blocks of 64 over the 3.9M-row test window took
    train to 13 GB). Each resample's draws are made alone: the same stream as a block drawn at once, so the
    resamples do not depend on the block size."""
    rng = np.random.default_rng(seed)
    block = max(1, min(CHUNK, CELLS // max(n, 1)))
    left = resamples
    while left > 0:
        b = min(block, left)
        counts = np.empty((b, n), dtype=np.int32)
        for i in range(b):
            counts[i] = np.bincount(rng.integers(0, n, size=n), minlength=n)
        yield counts
        left -= b


def bootstrap_draws(y: np.ndarray, scores: dict[str, np.ndarray], ll: dict[str, np.ndarray],
                    cfg: GateConfig) -> dict[str, np.ndarray]:
    """Per scorer, one row per resample: (mean log loss, AUC) on the same resampled rows for every scorer.
    Each block's counts are split into positives and negatives once and shared by all scorers."""
    y = np.asarray(y).astype(bool)
    rankings = {n: Ranking(y, s) for n, s in scores.items()}
    ll_pos = np.column_stack([ll[n][y] for n in scores])
    ll_neg = np.column_stack([ll[n][~y] for n in scores])
    draws: dict[str, list[np.ndarray]] = {n: [] for n in scores}
    for w in resample_weights(len(y), cfg.resamples, cfg.seed):
        w_pos_t, w_neg_t = w[:, y].T.astype(np.float64, order="C"), w[:, ~y].T.astype(np.float64, order="C")
        del w
        mean_ll = (w_pos_t.T @ ll_pos + w_neg_t.T @ ll_neg) / (w_pos_t.sum(axis=0) + w_neg_t.sum(axis=0))[:, None]
        for i, n in enumerate(scores):  # (AUCs a half block at a time: the groups x resamples counts are GBs)
            auc = np.concatenate([rankings[n].auc_t(w_pos_t[:, j:j + CHUNK // 2], w_neg_t[:, j:j + CHUNK // 2])
                                  for j in range(0, w_pos_t.shape[1], CHUNK // 2)])
            draws[n].append(np.stack([mean_ll[:, i], auc], axis=1))
    return {n: np.concatenate(d) for n, d in draws.items()}


@dataclass
class Interval:
    estimate: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def _interval(point: float, draws: np.ndarray, confidence: float) -> Interval:
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(point) or len(draws) == 0:
        return Interval(None, None, None)
    a = (1 - confidence) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    return Interval(float(point), float(lo), float(hi))


@dataclass
class GateResult:
    passed: bool
    rule: str
    checks: dict[str, dict] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "rule": self.rule, "failures": self.failures, "checks": self.checks}


def gate_rule(cfg: GateConfig) -> str:
    parts = []
    if cfg.min_log_loss_reduction is not None:
        parts.append(f"(baseline - model) log loss > {cfg.min_log_loss_reduction}")
    if cfg.min_auc_gain is not None:
        parts.append(f"(model - baseline) AUC > {cfg.min_auc_gain}")
    return (f"at least {cfg.min_trees} trees; on the test window, the lower end of the {cfg.confidence:.0%} "
            f"paired-bootstrap interval ({cfg.resamples} resamples, seed {cfg.seed}) of " + " and of ".join(parts)
            + f" for every simple baseline ({', '.join(SIMPLE_BASELINES)}); and the model is not credibly worse "
            f"than the logistic regression (refused only if the whole interval of (model - logistic) log loss "
            f"lies above {cfg.logistic_max_excess})")


def baseline_gate(y: np.ndarray, p_model: np.ndarray, baselines: dict[str, np.ndarray | None],
                  cfg: GateConfig, trees: int) -> GateResult:
    """Every check of the module docstring; `baselines[name]` None = could not be computed (fails)."""
    y = np.asarray(y, dtype=np.int8)
    result = GateResult(passed=True, rule=gate_rule(cfg))
    if trees < cfg.min_trees:
        # Early stopping kept fewer trees: boosting learnt (almost) nothing past its first split.
        result.failures.append(f"the model has {trees} tree(s), fewer than train.registry.gate.min_trees = "
                               f"{cfg.min_trees}: a degenerate fit")
    if len(y) == 0 or y.min() == y.max():
        result.passed = False
        result.failures.append(f"the test window holds {len(y)} contacts, {int(y.sum())} repeats: one class "
                               "only, so no AUC or comparison can be computed (bring more data or raise "
                               "train.split.test_share)")
        return result
    names = [*SIMPLE_BASELINES, LOGISTIC]
    present = {n: np.asarray(baselines[n], dtype=np.float64) for n in names if baselines.get(n) is not None}
    for n in names:
        if n not in present:
            result.passed = False
            result.failures.append(f"baseline {n} could not be computed, so the model cannot be shown to beat it")
            result.checks[n] = {"passed": False, "reason": "baseline not computed"}
    ll = {n: row_log_loss(y, s) for n, s in {"model": p_model, **present}.items()}
    scores = {"model": np.asarray(p_model, dtype=np.float64), **present}
    point_w = np.ones((1, len(y)), dtype=np.int32)
    point = {n: (float(ll[n].mean()), float(weighted_auc(y, scores[n], point_w)[0])) for n in scores}
    drawn = bootstrap_draws(y, scores, ll, cfg)
    for n in present:
        ll_red = _interval(point[n][0] - point["model"][0], drawn[n][:, 0] - drawn["model"][:, 0], cfg.confidence)
        auc_gain = _interval(point["model"][1] - point[n][1], drawn["model"][:, 1] - drawn[n][:, 1], cfg.confidence)
        check: dict = {"baseline_log_loss": point[n][0], "baseline_auc": point[n][1],
                       "log_loss_reduction": ll_red.to_dict(), "auc_gain": auc_gain.to_dict()}
        reasons = []
        if n == LOGISTIC:
            # excess = -reduction: refused when its interval lies wholly above the allowance.
            if ll_red.high is None or -ll_red.high > cfg.logistic_max_excess:
                reasons.append(f"credibly worse than the logistic regression: log loss excess interval "
                               f"[{_fmt(ll_red.high, -1)}, {_fmt(ll_red.low, -1)}] lies above "
                               f"{cfg.logistic_max_excess}")
        else:
            floor = cfg.min_log_loss_reduction
            if floor is not None and (ll_red.low is None or ll_red.low <= floor):
                reasons.append(f"log loss reduction over {n} {_fmt(ll_red.estimate)} (interval [{_fmt(ll_red.low)}, "
                               f"{_fmt(ll_red.high)}]) not above {cfg.min_log_loss_reduction}")
            if cfg.min_auc_gain is not None and (auc_gain.low is None or auc_gain.low <= cfg.min_auc_gain):
                reasons.append(f"AUC gain over {n} {_fmt(auc_gain.estimate)} (interval [{_fmt(auc_gain.low)}, "
                               f"{_fmt(auc_gain.high)}]) not above {cfg.min_auc_gain}")
        check["passed"] = not reasons
        check["reasons"] = reasons
        result.checks[n] = check
        result.failures += reasons
    result.passed = result.passed and not result.failures
    result.checks["model"] = {"log_loss": point["model"][0], "auc": point["model"][1]}
    return result


def _fmt(x: float | None, sign: int = 1) -> str:
    return "n/a" if x is None else f"{sign * x:.5f}"


def gate_on_test(test: pd.DataFrame, cfg: GateConfig, trees: int) -> GateResult:
    """The gate on the train stage's test-window predictions (columns repeated, p_repeat, p_<baseline>)."""
    names = [*SIMPLE_BASELINES, LOGISTIC]
    return baseline_gate(test["repeated"].to_numpy(), test["p_repeat"].to_numpy(),
                         {n: test[f"p_{n}"].to_numpy() if f"p_{n}" in test.columns else None for n in names}, cfg,
                         trees)
