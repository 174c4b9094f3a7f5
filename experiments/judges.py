"""What a biased judge or a fitted preference model costs a Nash learner, measured under the true game.

Four parts (``games.judges``, ``games.fitted``): (1) ``bias``: COMAL, INPO, MWU's average and OMWU learn from
sampled duels judged by a biased judge (position b, style lambda, label noise eps; ``games.judges.BIAS_GRID``)
under a fixed, a random and a symmetrized order at equal judgments (both orders: half the duels), and the
final policy's true exploitability is read against the exact price of the judge's game
(``games.judges.price``); on LLMFAO the crowd is the truth and GPT-3.5 / GPT-4 are the judges (its learners
run a quarter of ``--steps``, ``SHORTER``); (2) ``fit``:
the true exploitability of the Nash policy of an empirical P^, a Bradley-Terry and a GPM fit to n comparisons;
(3) ``overfit``: COMAL optimizing a model fitted to 1000 comparisons, true exploitability along the run.
Every number is a median over seeds with a 95 % bootstrap interval.

    python -m experiments judges [--quick] [--games cycle,random] [--rules comal,omwu] [--seeds 16]
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass

import numpy as np

from .common import cli, output, study, tables

STUDY = "judges"
GAMES = ("cycle", "random", "sequence", "llmfao")
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
    rules: tuple = study.rules(
        "comal,inpo,averaged(mwu),omwu", "rules learning from the judge", quick="comal,omwu"
    )
    seeds: int = study.seeds(16, quick=4, least=2)
    steps: int = study.steps(2000, quick=400)
    samples: int = study.option(
        16, "judged duels per action and step (both orders: half)", parse=study._count("samples")
    )


def named(text: str, dtype: str, seed: int):
    """The study's own games by name (``cycle``, ``random``: 5 x 5 cyclic, ``sequence``: 3 tokens x 2,
    ``llmfao``: the crowd's game) for :func:`experiments.common.study.load_game`."""
    import games

    from .common.gamespec import GameSpec

    make = {
        "cycle": lambda: games.comal_cycle(dtype=dtype),
        "random": lambda: games.random_preference(seed, 5, "cyclic", dtype=dtype),
        "sequence": lambda: games.sequence_game(3, 2, "reward_cycle", cycle=0.5, seed=seed, dtype=dtype),
        "llmfao": lambda: games.library.llmfao("crowd", missing="bradley_terry", dtype=dtype),
    }
    return GameSpec(make[text](), text, {"name": text}) if text in make else None


def judged(c: Config, name: str):
    """``(truth, [(bias, value, judge game)])``: the bias grid (style feature: a sequence game's lengths, else
    ``i / (n - 1)``), or on LLMFAO (the crowd's game) its two GPT judges."""
    import games

    truth = study.load_game(name, c.dtype, c.seed, named).game
    if name == "llmfao":
        real = [
            (j, 0.0, games.library.llmfao(j, missing="bradley_terry", dtype=c.dtype))
            for j in ("gpt3", "gpt4")
        ]
        return truth, [("none", 0.0, truth), *real]
    n = truth.shape[0]
    feats = games.judges.lengths(truth) if truth.sequences else np.arange(n) / (n - 1)
    return truth, games.judges.bias_grid(truth, features=feats)


def units(c: Config):
    out = [(("bias", g, r), ("bias", g, r)) for g in c.games for r in c.rules]
    small = [g for g in c.games if g not in ("sequence", "llmfao")]
    return out + [
        ((p, g), (p, g, None))
        for p in ("price", "fit", "overfit")
        for g in c.games
        if p == "price" or g in small
    ]


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
        rule, Js = study.load_rule(rule_text), [g for _, _, g in grid]
        steps = _steps(c, name)
        kw = dict(steps=steps, record_every=steps, seeds=c.seeds)
        # A skew-symmetric judge (no position bias; LLMFAO's GPT judges) is its own K: a random order is then
        # the fixed order's law and its runs would be the fixed order's again (same seeds), so they are reused.
        Ks = [games.judges.played_game(g, "random") for g in Js]
        moved = [i for i, (J, K) in enumerate(zip(Js, Ks)) if np.abs(np.asarray(J.A - K.A)).max() > 1e-12]
        one = algorithms.sweep(
            rule, Js + [Ks[i] for i in moved], feedback=games.feedback.sampled(c.samples), **kw
        )
        both = algorithms.sweep(
            rule, Js, feedback=games.feedback.sampled(max(c.samples // 2, 1), "both"), **kw
        )
        k = len(Js)
        rand = [k + moved.index(i) if i in moved else i for i in range(k)]
        for order, tr, sel in (
            ("fixed", one, slice(0, k)),
            ("random", one, rand),
            ("both", both, slice(None)),
        ):
            gap, judgments = (
                _true_gap(A, np.asarray(tr.policy.x)[sel]),
                np.asarray(tr.counters["comparisons"])[sel],
            )
            for (bias, value, _), gs, ns in zip(grid, gap, judgments[..., -1]):
                rows += [
                    dict(bias=bias, value=value, order=order, seed=s, gap=v, judgments=n)
                    for s, (v, n) in enumerate(zip(gs, ns))
                ]
        return {"bias": frame(rows, rule=rule.name)}
    ns = (1000,) if part == "overfit" else FIT_NS[:3] if c.quick else FIT_NS
    fits = games.fitted.fit_models(truth, ns, c.seeds, c.seed)
    if part == "fit":
        for (model, Ph), (i, n), s in itertools.product(fits.items(), enumerate(ns), range(c.seeds)):
            lo, hi = games.fitted.true_gap(Ph[i, s], truth)
            rows.append(dict(model=model, n=n, seed=s, gap=hi, gap_low=lo))
        return {"fit": frame(rows)}
    every = max(c.steps // 20, 1)  # COMAL on the fitted game with exact feedback: 5 x --steps, 21 records
    for model, Ph in fits.items():
        gl = [games.fitted.fitted_game(P, truth) for P in Ph[0]]
        tr = algorithms.sweep(
            algorithms.get("comal"), gl, steps=c.steps * 5, record_every=every * 5, record_policy=True
        )
        for s, gs in enumerate(_true_gap(A, np.asarray(tr.policies.x))):
            rows += [dict(model=model, seed=s, step=int(t), gap=v) for t, v in zip(tr.steps, gs)]
    return {"overfit": frame(rows)}


def _summary(df, by, rng, folder, name, title, extra=None):
    """Median true gap and its 95 % bootstrap interval per group: written, printed, returned."""
    rows = []
    for key, d in df.groupby(by, sort=False):
        m, lo, hi = tables.bootstrap_median(d["gap"], rng)
        rows.append([*map(str, key), f"{m:.3g}", f"{lo:.3g}", f"{hi:.3g}", *([extra(d)] if extra else [])])
    header = [*by, "true gap (median)", "95% CI low", "95% CI high", *(["judgments"] if extra else [])]
    output.write_csv(folder / f"summary_{name}.csv", rows, header)
    print(f"{title}:\n" + tables.table(rows, header))
    return rows


def report(c: Config, t: dict, folder) -> dict:
    rng, out = np.random.default_rng(c.seed), {}
    if "price" in t:
        cols = ["game", "bias", "value", "order", "low", "high", "tv_low", "tv_high", "pnt", "sntd"]
        rows = [
            [f"{v:.3g}" if isinstance(v, float) else v for v in r]
            for r in t["price"][cols].itertuples(index=False)
        ]
        output.write_csv(folder / "summary_price.csv", rows, cols)
        print(
            "exact price of each judge (true gap and TV over its equilibrium set):\n"
            + tables.table(rows, cols)
        )
    if "bias" in t:
        by, short = (
            ["game", "rule", "bias", "value", "order"],
            [f"{g}: {_steps(c, g)}" for g in SHORTER if g in c.games],
        )
        _summary(
            t["bias"],
            by,
            rng,
            folder,
            "bias",
            f"true gap after {c.steps} steps" + (f" ({', '.join(short)})" if short else ""),
            lambda d: f"{d['judgments'].median():.0f}",
        )
    if "fit" in t:
        f = t["fit"]
        _summary(f, ["game", "model", "n"], rng, folder, "fit", "true gap of the fitted model's Nash policy")
        for (g, m), d in f.groupby(["game", "model"], sort=False):
            med = d.groupby("n")["gap"].median()
            out[f"{g}/{m}"] = int(med[med <= 1e-2].index.min()) if (med <= 1e-2).any() else None
    if "overfit" in t:
        _summary(
            t["overfit"],
            ["game", "model", "step"],
            rng,
            folder,
            "overfit",
            "COMAL on a model fitted to 1000 comparisons",
        )
    return {"fewest_comparisons_to_gap_1e-2": out}


STUDY_DECL = study.Study(
    STUDY,
    __doc__.splitlines()[0],
    Config,
    units,
    simulate,
    report,
    named=named,
    refuses={
        "feedback": "the learners observe sampled duels judged by each judge, in each order",
        "hp": "the rules run at their declared hyperparameters",
        "schedules": "the rules run at constant step sizes",
        "comparisons": "LLMFAO is one of --games (its crowd is the truth)",
        "x": "the cost is the number of judgments, given in the summary",
        "jobs": "the units run one after the other in one process",
    },
)
main = study.command(STUDY_DECL)

if __name__ == "__main__":
    sys.exit(cli.entry(main))
