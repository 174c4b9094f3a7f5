"""Paired comparisons of rules on a runs table: is A better than B, in which column, by how much, and how sure.

A runs table (the suite's ``runs.csv``) has one row per run: ``rule, game, feedback, budget, game_index,
run, gap``. Every rule runs the same runs, so run ``(game, feedback, budget, game_index, run)`` of A and of B
differ only by the rule. Per *column* (``game, feedback [@budget]``) and pair of rules: the median log10 gap
ratio (the effect), the probability of improvement P(A < B) (rliable's statistic, read on paired runs),
percentile-bootstrap intervals of both (resampled within each game), the Wilcoxon signed-rank p-value,
Holm-adjusted over the pair's columns, and the verdict: better, worse or cannot tell (docs/studies/suite.md).

Why not rliable or autorank: they treat the two rules' runs as independent samples, and pull arch, seaborn or
statsmodels; the paired statistics are a few lines of numpy and ``scipy.stats.wilcoxon``.
"""

from __future__ import annotations

import itertools

import numpy as np

from .tables import RESAMPLES

#: Significance level of a verdict (after Holm's adjustment).
ALPHA = 0.05
#: Gaps below this are round-off of a float64 gap of order-one payoffs: they compare as equal.
FLOOR = 1e-15
#: Gaps within this relative difference are a tie: round-off accumulated over a run, far below any effect.
RTOL = 1e-9
#: A diverged run's gap (NaN or inf): worse than any finite one, and finite, so ranks and medians stay defined.
DIVERGED = 1e300
KEY = ["game", "feedback", "budget", "game_index", "run"]
#: The columns of :func:`compare`'s frame.
COLUMNS = "rule other column game feedback budget runs effect effect_lo effect_hi".split()
COLUMNS += "p_improve p_improve_lo p_improve_hi p_value p_holm verdict".split()


def column_names(df) -> list[str]:
    """``game, feedback``, with `` @budget`` where a game and feedback are read at several budgets."""
    many = df.groupby(["game", "feedback"])["budget"].transform("nunique") > 1
    return [
        f"{g}, {f}" + (f" @{b:.1e}" if m else "") for g, f, b, m in zip(df.game, df.feedback, df.budget, many)
    ]


def log_ratio(gap_a, gap_b) -> np.ndarray:
    """Paired ``log10(gap_a / gap_b)``, gaps clipped at :data:`FLOOR`, round-off ties (:data:`RTOL`) exactly 0.

    >>> log_ratio([1e-3, 0.2, 1e-20, 0.5], [1e-1, 0.2 * (1 + 1e-12), 1e-18, 0.05]).round(6).tolist()
    [-2.0, 0.0, 0.0, 1.0]
    """
    a = np.clip(np.asarray(gap_a, np.float64), FLOOR, None)
    b = np.clip(np.asarray(gap_b, np.float64), FLOOR, None)
    d = np.log10(a) - np.log10(b)
    return np.where(np.abs(a - b) <= RTOL * np.maximum(a, b), 0.0, d)


def improvement(d, axis=-1):
    """``P(A < B)`` from paired log ratios ``d``: the share of ``d < 0``, ties (``d == 0``) counting 1/2."""
    d = np.asarray(d)
    return np.mean((d < 0) + 0.5 * (d == 0), axis=axis)


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values: the k-th smallest (from 0) times ``m - k``, made non-decreasing in
    that order and capped at 1. ``holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]``."""
    p = np.asarray(p, np.float64)
    order = np.argsort(p, kind="stable")
    adj = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    out = np.empty_like(p)
    out[order] = np.minimum(adj, 1.0)
    return out


def wilcoxon_p(d) -> np.ndarray:
    """Two-sided Wilcoxon signed-rank p-values of paired log ratios along the last axis (zeros dropped; 1 where
    every pair ties): ``scipy.stats.wilcoxon``, one call for a whole ``[pairs, runs]`` array."""
    import warnings

    from scipy import stats

    d = np.asarray(d, np.float64)
    with warnings.catch_warnings():  # an all-zero row: scipy warns and returns NaN; here it is p = 1
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        p = np.asarray(stats.wilcoxon(d, axis=-1, zero_method="wilcox").pvalue, np.float64)
    return np.where(np.any(d != 0, axis=-1), p, 1.0)


def _resamples(strata: np.ndarray, rng, n: int) -> np.ndarray:
    """``[n, runs]`` indices: each resample draws every stratum's runs with replacement from that stratum."""
    parts = []
    for s in np.unique(strata):
        pos = np.flatnonzero(strata == s)
        parts.append(pos[rng.integers(0, pos.size, size=(n, pos.size))])
    return np.concatenate(parts, axis=1)


def compare(runs, rules=None, *, seed: int = 0, resamples: int = RESAMPLES, alpha: float = ALPHA):
    """Every pair of ``rules`` (default: all, in order of appearance) in every column both run, both ways: a
    DataFrame of :data:`COLUMNS`, one row per ``(rule, other, column)``. ``effect``: median log10 gap ratio,
    rule over other; ``p_improve``: P(rule < other); ``_lo``/``_hi``: 95 % bootstrap intervals; ``p_value``:
    Wilcoxon; ``p_holm``: Holm over the pair's columns. The row (B, A) mirrors (A, B). Raises ValueError where
    two rules ran different runs of a column."""
    import pandas as pd

    runs = runs.assign(column=column_names(runs), gap=runs.gap.fillna(np.inf).clip(upper=DIVERGED))
    rules = list(dict.fromkeys(runs.rule)) if rules is None else [r for r in rules if r in set(runs.rule)]
    wide = runs.pivot_table(index=["column", *KEY], columns="rule", values="gap", aggfunc="first", sort=False)
    rng = np.random.default_rng(seed)
    rows = []
    for column, part in wide.groupby(level="column", sort=False):
        idx = _resamples(part.index.get_level_values("game_index").to_numpy(), rng, resamples)
        g, fb, b = part.index[0][1:4]
        gaps = part.reindex(columns=rules).to_numpy(np.float64)  # [runs, rules]
        ran = ~np.isnan(gaps)
        pairs = []
        for i, j in itertools.combinations(range(len(rules)), 2):
            if (ran[:, i] & ran[:, j]).any():
                if not (ran[:, i] & ran[:, j]).all():
                    raise ValueError(
                        f"{column}: {rules[i]} and {rules[j]} ran different runs; the comparison is paired"
                    )
                pairs.append((i, j))
        if not pairs:
            continue
        D = log_ratio(gaps[:, [i for i, _ in pairs]].T, gaps[:, [j for _, j in pairs]].T)  # [pairs, runs]
        eff, imp = [], []
        step = max(1, 4_000_000 // idx.size)  # pairs per chunk: [chunk, resamples, runs] stays ~32 MB
        for k in range(0, len(pairs), step):
            boot = D[k : k + step][:, idx]  # [chunk, resamples, runs]
            eff.append(np.quantile(np.median(boot, axis=2), [0.025, 0.975], axis=1).T)
            imp.append(np.quantile(improvement(boot, axis=2), [0.025, 0.975], axis=1).T)
        eff, imp = np.concatenate(eff), np.concatenate(imp)
        rows.append(
            pd.DataFrame(
                dict(rule=[rules[i] for i, _ in pairs], other=[rules[j] for _, j in pairs], column=column)
                | dict(game=g, feedback=fb, budget=b, runs=D.shape[1], effect=np.median(D, axis=1))
                | dict(effect_lo=eff[:, 0], effect_hi=eff[:, 1], p_improve=improvement(D))
                | dict(p_improve_lo=imp[:, 0], p_improve_hi=imp[:, 1], p_value=wilcoxon_p(D))
            )
        )
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    one = pd.concat(rows, ignore_index=True)
    one["p_holm"] = one.groupby(["rule", "other"])["p_value"].transform(lambda p: holm(p.to_numpy()))
    sign = np.sign(one.effect).where(one.effect != 0, np.sign(one.p_improve - 0.5))
    sig = one.p_holm < alpha
    one["verdict"] = np.where(sig & (sign < 0), "better", np.where(sig & (sign > 0), "worse", "cannot tell"))
    # (B, A): the sides and each interval's ends swap, effects change sign, probabilities p become 1 - p
    ends = {"rule": "other", "other": "rule", "effect_lo": "effect_hi", "effect_hi": "effect_lo"}
    back = one.rename(columns=ends | {"p_improve_lo": "p_improve_hi", "p_improve_hi": "p_improve_lo"})
    back[["effect", "effect_lo", "effect_hi"]] *= -1
    p_cols = ["p_improve", "p_improve_lo", "p_improve_hi"]
    back[p_cols] = 1 - back[p_cols]
    back["verdict"] = one.verdict.map({"better": "worse", "worse": "better", "cannot tell": "cannot tell"})
    both = pd.concat([one, back], ignore_index=True)[COLUMNS]
    order = {r: k for k, r in enumerate(rules)}
    return both.sort_values(["rule", "other"], key=lambda s: s.map(order), kind="stable", ignore_index=True)


def undecided(pairs) -> list[str]:
    """Columns where no pair of rules is told apart: every rule at the same floor (or the runs cannot tell);
    they decide nothing in :func:`ranking`."""
    told = pairs.groupby("column", sort=False)["verdict"].apply(lambda v: (v != "cannot tell").any())
    return [c for c, t in told.items() if not t]


def ranking(pairs, rules, where=None):
    """Rules by significant wins minus losses over the columns (and opponents) of ``pairs`` (``where``: a
    boolean mask selecting rows). Equal scores share a rank; rules with equal wins and losses that no column
    tells apart are one row (``rules`` joined by " = "). Columns: ``rank, rules, better, worse, score``."""
    import pandas as pd

    p = pairs if where is None else pairs[where]
    rules = [r for r in rules if r in set(p.rule)]
    better = p[p.verdict == "better"].groupby("rule").size().reindex(rules, fill_value=0)
    worse = p[p.verdict == "worse"].groupby("rule").size().reindex(rules, fill_value=0)
    score = better - worse
    apart = set(zip(p.rule[p.verdict != "cannot tell"], p.other[p.verdict != "cannot tell"]))
    groups: list[list[str]] = []
    for r in sorted(rules, key=lambda r: -score[r]):  # stable: the given order within a score
        for grp in groups:
            same = (better[grp[0]], worse[grp[0]]) == (better[r], worse[r])
            if same and not any((r, o) in apart for o in grp):
                grp.append(r)
                break
        else:
            groups.append([r])
    top = [grp[0] for grp in groups]  # a row's wins and losses are those of each of its rules
    return pd.DataFrame(
        dict(rank=[1 + int((score > score[r]).sum()) for r in top], rules=[" = ".join(g) for g in groups])
        | dict(better=better[top].to_numpy(), worse=worse[top].to_numpy(), score=score[top].to_numpy())
    )


def tied_rank(values, rtol: float = RTOL) -> np.ndarray:
    """Ranks, smallest first; values within ``rtol`` (relative) of their group's smallest, or both below
    :data:`FLOOR`, share the group's mean rank (round-off ties are ties)."""
    v = np.clip(np.asarray(values, np.float64), FLOOR, None)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(v.size)
    start = 0
    while start < v.size:
        end = start + 1
        while end < v.size and v[order[end]] - v[order[start]] <= rtol * v[order[end]]:
            end += 1
        ranks[order[start:end]] = (start + 1 + end) / 2
        start = end
    ranks[np.isnan(v)] = np.nan
    return ranks
