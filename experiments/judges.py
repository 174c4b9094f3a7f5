"""What a biased judge or a fitted preference model costs a Nash learner, measured under the true game.

Parts (``games.judges``, ``games.fitted``): ``bias``, learners on sampled duels of a biased judge
(``games.judges.BIAS_GRID``; on LLMFAO the crowd is the truth, GPT-3.5 and GPT-4 the judges) in a fixed, a
random and both orders at equal judgments, read against ``price``, the exact price of the judge's game;
``fit``, the Nash policy of an empirical, Bradley-Terry or GPM model fitted to n comparisons; ``overfit``, COMAL
on a model fitted to 1000 comparisons. Each a true exploitability: median over seeds, 95 % bootstrap interval.

    python -m experiments judges [--quick] [--games cycle,random] [--rules comal,omwu] [--seeds 16]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .common import gamespec, output, study, tables

STUDY = "judges"
GAMES = ("cycle", "random", "sequence", "llmfao")
RULES = "comal,inpo,averaged(mwu),omwu"
FIT_NS = (100, 1000, 10_000, 100_000, 1_000_000)
# LLMFAO's learners run a quarter of --steps: with 59 responses, 200 steps of one rule (16 seeds, every judge and
# order) took 48 s of CPU, so four rules at 2000 steps would take some 20 CPU minutes, more than the rest of the
# study. OMWU and INPO reach their noise floor there within 400 steps; MWU's average still drifts (the page says).
SHORTER = {"llmfao": 4}


def _steps(c: Config, name: str) -> int:
    return max(c.steps // SHORTER.get(name, 1), 1)


@dataclass(frozen=True)
class Config(study.Base):
    games: tuple = study.games(",".join(GAMES), "the true games", named=GAMES, quick="cycle")
    rules: tuple = study.rules(RULES, "rules learning from the judge", quick="comal,omwu")
    seeds: int = study.seeds(16, quick=4, least=2)
    steps: int = study.steps(2000, quick=400)
    samples: int = study.option(16, "judged duels per action and step (both orders: half)")


def named(text: str, dtype: str, seed: int):
    """The study's own games by name (``cycle``, ``random``: 5 x 5 cyclic, ``sequence``: 3 tokens x 2,
    ``llmfao``: the crowd's game) for :func:`experiments.common.study.load_game`."""
    import games

    make = {
        "cycle": lambda: games.comal_cycle(dtype=dtype),
        "random": lambda: games.random_preference(seed, 5, "cyclic", dtype=dtype),
        "sequence": lambda: games.sequence_game(3, 2, "reward_cycle", cycle=0.5, seed=seed, dtype=dtype),
        "llmfao": lambda: games.library.llmfao("crowd", missing="bradley_terry", dtype=dtype),
    }
    return gamespec.GameSpec(make[text](), text, {"name": text}) if text in make else None


def judged(c: Config, name: str):
    """``(truth, [(bias, value, judge game)])``: the bias grid (style feature: a sequence game's lengths, else
    ``i / (n - 1)``), or on LLMFAO (the crowd's game) its two GPT judges."""
    import games

    truth = study.load_game(name, c.dtype, c.seed, named).game
    if name == "llmfao":
        gpt = {j: games.library.llmfao(j, missing="bradley_terry", dtype=c.dtype) for j in ("gpt3", "gpt4")}
        return truth, [("none", 0.0, truth), *((j, 0.0, g) for j, g in gpt.items())]
    n = truth.shape[0]
    feats = games.judges.lengths(truth) if truth.sequences else np.arange(n) / (n - 1)
    return truth, games.judges.bias_grid(truth, features=feats)


def units(c: Config):
    small = [g for g in c.games if g not in ("sequence", "llmfao")]
    bias = [("bias", g, r) for g in c.games for r in c.rules]
    parts = [("price", g) for g in c.games] + [(p, g) for p in ("fit", "overfit") for g in small]
    return [(u, u) for u in bias] + [(p, (*p, None)) for p in parts]


def _true_gap(A, pi):  # [.., n]: the true duality gap of self-play policies
    return (pi @ A.T).max(-1) - (pi @ A).min(-1)


def simulate(c: Config, part: str, name: str, rule_text):
    import pandas as pd

    import algorithms
    import games

    truth, grid = judged(c, name)
    A, rows, frame = np.asarray(truth.A), [], lambda rows, **kw: pd.DataFrame(rows).assign(game=name, **kw)
    if part == "price":
        return {"price": frame(games.judges.price_table(truth, grid))}
    if part == "bias":  # one sweep: fixed order on J and (same law as a random order) on K; one: both orders
        rule, Js, steps = study.load_rule(rule_text), [g for _, _, g in grid], _steps(c, name)
        sampled = games.feedback.sampled
        kw = dict(steps=steps, record_every=steps, seeds=c.seeds)
        # A skew-symmetric judge (no position bias; LLMFAO's GPT judges) is its own K: a random order is then
        # the fixed order's law and its runs would be the fixed order's again (same seeds), so they are reused.
        Ks = [games.judges.played_game(g, "random") for g in Js]
        moved = [i for i, (J, K) in enumerate(zip(Js, Ks)) if np.abs(np.asarray(J.A - K.A)).max() > 1e-12]
        one = algorithms.sweep(rule, Js + [Ks[i] for i in moved], feedback=sampled(c.samples), **kw)
        both = algorithms.sweep(rule, Js, feedback=sampled(max(c.samples // 2, 1), "both"), **kw)
        k = len(Js)
        rand = [k + moved.index(i) if i in moved else i for i in range(k)]
        orders = (("fixed", one, slice(0, k)), ("random", one, rand), ("both", both, slice(None)))
        for order, tr, sel in orders:
            gap = _true_gap(A, np.asarray(tr.policy.x)[sel])
            judgments = np.asarray(tr.counters["comparisons"])[sel][..., -1]
            for (bias, value, _), gs, ns in zip(grid, gap, judgments):
                for s, (v, n) in enumerate(zip(gs, ns)):
                    rows.append(dict(bias=bias, value=value, order=order, seed=s, gap=v, judgments=n))
        return {"bias": frame(rows, rule=rule.name)}
    ns = (1000,) if part == "overfit" else FIT_NS[:3] if c.quick else FIT_NS
    fits = games.fitted.fit_models(truth, ns, c.seeds, c.seed)
    if part == "fit":
        for (model, Ph), (i, n), s in itertools.product(fits.items(), enumerate(ns), range(c.seeds)):
            lo, hi = games.fitted.true_gap(Ph[i, s], truth)
            rows.append(dict(model=model, n=n, seed=s, gap=hi, gap_low=lo))
        return {"fit": frame(rows)}
    every, comal = max(c.steps // 20, 1), algorithms.get("comal")  # on the fitted game, exact: 5 x --steps
    for model, Ph in fits.items():
        gl = [games.fitted.fitted_game(P, truth) for P in Ph[0]]
        tr = algorithms.sweep(comal, gl, steps=c.steps * 5, record_every=every * 5, record_policy=True)
        for s, gs in enumerate(_true_gap(A, np.asarray(tr.policies.x))):
            rows += [dict(model=model, seed=s, step=int(t), gap=v) for t, v in zip(tr.steps, gs)]
    return {"overfit": frame(rows)}


def report(c: Config, t: dict, folder) -> dict:
    """``summary_<part>.csv``, written and printed: each judge's exact price, and each other part's median true
    gap with its 95 % bootstrap interval; returns the fewest comparisons each fitted model needs for 1e-2."""
    cols = ["game", "bias", "value", "order", "low", "high", "tv_low", "tv_high", "pnt", "sntd"]
    price = t["price"][cols].itertuples(index=False)
    rows = [[f"{v:.3g}" if isinstance(v, float) else v for v in r] for r in price]
    out = {"price": ("exact price of each judge (true gap and TV over its equilibrium set)", rows, cols)}
    short = [f"{g}: {_steps(c, g)}" for g in SHORTER if g in c.games]
    steps = f"{c.steps} steps" + (f" ({', '.join(short)})" if short else "")
    parts = {  # part: (the columns its seeds are grouped by, title)
        "bias": (["game", "rule", "bias", "value", "order"], f"true gap after {steps}"),
        "fit": (["game", "model", "n"], "true gap of the fitted model's Nash policy"),
        "overfit": (["game", "model", "step"], "COMAL on a model fitted to 1000 comparisons"),
    }
    rng = np.random.default_rng(c.seed)
    for part, (by, title) in [(p, v) for p, v in parts.items() if p in t]:
        extra, rows = ["judgments"] if part == "bias" else [], []
        for key, d in t[part].groupby(by, sort=False):
            stats = [f"{v:.3g}" for v in tables.bootstrap_median(d["gap"], rng)]
            rows.append([*map(str, key), *stats, *(f"{d[e].median():.0f}" for e in extra)])
        out[part] = (title, rows, [*by, "true gap (median)", "95% CI low", "95% CI high", *extra])
    for part, (title, rows, header) in out.items():
        output.write_csv(folder / f"summary_{part}.csv", rows, header)
        print(f"{title}:\n" + tables.table(rows, header))
    fewest = {}
    for (g, m), d in t["fit"].groupby(["game", "model"], sort=False) if "fit" in t else ():
        med = d.groupby("n")["gap"].median()
        fewest[f"{g}/{m}"] = int(med[med <= 1e-2].index.min()) if (med <= 1e-2).any() else None
    return {"fewest_comparisons_to_gap_1e-2": fewest}


prepare = None  # not the default checks.check: the learners' feedback is each judge's, no --feedback to check
REFUSES = {
    "feedback": "the learners observe sampled duels judged by each judge, in each order",
    "hp": "the rules run at their declared hyperparameters",
    "comparisons": "LLMFAO is one of --games (its crowd is the truth)",
    "x": "the cost is the number of judgments, given in the summary",
    "jobs": "the units run one after the other in one process",
}
STUDY_DECL, main = study.declare(globals(), refuses=REFUSES)
