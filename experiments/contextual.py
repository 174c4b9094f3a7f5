"""A contextual game: several prompts, each with its own preference matrix, and non-uniform prompt weights.

One policy per prompt (``[C, n]``); every metric is the rho-weighted sum over prompts. Reports the aggregate
last-iterate gap and each prompt's own gap for every rule. Games: ``contextual<C>x<N>`` (:func:`named`) or any
preference game (a single game is one prompt).

    python -m experiments contextual [--quick] [--games contextual8x5] [--rules mwu,comal] [--hp start_noise=0.5]
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

import numpy as np

from .common import cli, figures, gamespec, output, results, study, tables

STUDY = "contextual"


def named(text: str, dtype: str, seed: int):
    """``contextual<C>x<N>``: :func:`games.library.contextual_cycles` ``(seed, C, N)``; None for other names."""
    import games

    match = re.fullmatch(r"contextual(\d+)x(\d+)", text.strip())
    if match is None:
        return None
    prompts, n = map(int, match.groups())
    if prompts < 1 or n < 3:
        raise ValueError(f"--games {text}: needs >= 1 prompt and >= 3 responses (cyclic prompts)")
    game = games.library.contextual_cycles(seed, prompts, n, dtype=dtype)
    meta = {"name": "games.library.contextual_cycles", "prompts": prompts, "n": n, "seed": seed}
    return gamespec.GameSpec(game, text.strip(), meta)


@dataclass(frozen=True)
class Config(study.Runs):
    rules: tuple = study.rules("mwu,inpo,omwu,comal")
    games: tuple = study.games(
        "contextual4x3", "contextual games, one figure each", named=("contextual<C>x<N>",)
    )
    hp: tuple = study.hp("start_noise=S perturbs each start")
    steps: int = study.steps(10000, "steps per rule, recorded 200 times (default 10000)", quick=1000)
    x: str = study.x_axis("oracle_calls")
    jobs: int = study.jobs(1)


def every(c: Config) -> int:
    return max(1, c.steps // 200)


@functools.cache
def _game(c: Config, item: str):
    """The item's game; a single preference game is played as a contextual game of one prompt (same gap)."""
    import games

    gs = study.load_game(item, c.dtype, c.seed, named)
    if gs.game.contextual or not gs.game.preference:
        return gs
    one = games.preference_game(np.asarray(gs.game.P)[None], dtype=c.dtype, labels=gs.game.labels)
    return dataclasses.replace(gs, game=one, meta={**gs.meta, "prompts": 1})


def prepare(c: Config) -> Config:
    """``--steps`` a multiple of the record interval, preference games only, then
    :func:`~experiments.common.checks.check`."""
    if c.steps % every(c):
        raise ValueError(f"--steps ({c.steps}) must be a multiple of {every(c)}")
    for item in study.game_items(c):
        if not _game(c, item).game.preference:
            raise ValueError(f"--games {item}: the per-prompt gaps need a preference game")
    return study.check(c, lambda item: _game(c, item).game)


def simulate(c: Config, item: str, source: str) -> dict:
    import algorithms
    import games

    gs, rule, fb = _game(c, item), study.load_rule(source), cli.feedback_type(c.feedback)
    run = dict(steps=c.steps, record_every=every(c), key=c.seed, feedback=fb, record_policy=True)
    tr = algorithms.run(rule, gs.game, **run, nash=games.solve(gs.game), **study.hparams(c, source))
    prompt_gap = np.asarray(tr.metrics["gap_by_context"])  # each prompt's own gap: [R+1, C]
    tr = tr._replace(metrics={k: v for k, v in tr.metrics.items() if not k.endswith("_by_context")})
    assert np.allclose(prompt_gap @ np.asarray(gs.game.weights), tr.metrics["gap"], rtol=1e-6, atol=1e-12)
    m, pol = tables.tidy(
        tr, experiment=STUDY, game=gs.label, rule=rule.name, seed=c.seed, extra={"prompt_gap": prompt_gap}
    )
    return {"trace": m, "policies": pol}


def report(c: Config, t: dict, folder) -> dict:
    meta = {}
    for item, _, tag in study.each_game(c, named):
        gs = _game(c, item)  # a single game as one prompt
        rho, df = np.asarray(gs.game.weights), t["trace"][t["trace"]["game"] == gs.label]
        last = df[df["step"] == c.steps]
        summary = []
        for rule, d in last.groupby("rule", sort=False):
            per_prompt = d[d["metric"] == "prompt_gap"].sort_values("prompt")["value"]
            agg = d.loc[d["metric"] == "gap", "value"].iloc[0]
            summary.append((rule, f"{agg:.3e}", *[f"{v:.2e}" for v in per_prompt]))
        header = ("rule", "aggregate gap", *[f"prompt {k} (rho={rho[k]:.2f})" for k in range(rho.size)])
        output.write_csv(folder / f"summary{tag}.csv", summary, header)
        fig, stamp = prompt_figure(df, rho, c.x, gs.label), figures.drawn_by(prompt_figure)
        output.save_figure(fig, folder / f"contextual{tag}.png", drawn_by=stamp)
        print(f"{gs.label}: {rho.size} prompts, rho = {np.round(rho, 3).tolist()}, {c.steps} steps")
        print(tables.table(summary, header))
        meta[gs.label] = {**gs.meta, "weights": rho.tolist()}
    return {"steps": c.steps, "record_every": every(c), "x_axis": c.x, "game": meta}


def prompt_figure(df, rho, x: str, game: str):
    """:func:`experiments.common.results.gap_figure` with one panel per rule: each prompt's gap and the
    rho-weighted aggregate."""
    d = df[df["metric"].isin(["gap", "prompt_gap"])]
    names = {k: f"prompt {k} (ρ={w:.2f})" for k, w in enumerate(rho)}
    d = d.assign(curve=d["prompt"].map(names).fillna("aggregate (ρ-weighted)"), metric="gap")
    title = f"{game}: each prompt's gap and the aggregate"
    return results.gap_figure(
        d, x="step" if x == "steps" else x, by=("rule", "curve"), panel="rule", title=title
    )


REFUSES = {
    "seeds": "one run per rule from --seed: the figure shows each prompt's curve, not a band over seeds",
}
STUDY_DECL, main = study.declare(globals(), refuses=REFUSES)
