"""Learning from sampled preferences: each rule's closed form against its loss, minimised by an optimizer over
a parameterized policy, with the exact population loss or K judged pairs per iteration.

Rules: iterative IPO, SPPO, INPO, Nash-MD, EGPO and COMAL(INPO), each as its closed form (``--feedback``) and
as :func:`algorithms.loss_based` on its loss (SPPO's (4.6): it replaces log Z by eta/2, so its population
minimizer is not the MWU step; COMAL re-centres loss-based INPO every ``--comal-every`` iterations); any other
rule runs as its closed form only. Feedback: the population loss and K = 16, 256, 4096 judged pairs per
iteration (hard labels; on a contextual game B prompts drawn by rho, K / B pairs each). Policies: tabular,
log-linear and a (10, 10) tanh MLP over the response features of the paper's 3x3 cycle (d = 2) and a contextual
game (16 prompts x 5 responses, d = 3); any other game runs with the tabular policy only.

Writes ``trace.csv``, ``summary.csv`` (:func:`summary`), ``sppo_46_vs_41.csv`` and ``sampled.png``.

    python -m experiments sampled [--quick] [--rules inpo,my_rules:my_rule] [--games paper] [--pairs 16,256]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .common import cli, figures, gamespec, output, results, study, tables

STUDY = "sampled"
ETA, TAU = 0.5, 0.1
#: label -> (closed-form factory name, loss name): the loss whose population minimizer the closed form is
RULES = {
    "iterative_ipo": ("iterative_ipo", "ipo"),
    "sppo": ("sppo", "sppo"),
    "inpo": ("inpo", "inpo"),
    "nash_md": ("nash_md", "nash_md"),
    "egpo": ("egpo", "egpo"),
    "comal(inpo)": ("inpo", "inpo"),
}
POLICIES = ("tabular", "loglinear", "mlp")
GAMES = gamespec.FEATURED
PAIRS = (16, 256, 4096)
LEVELS = (1e-2, 1e-4)
STEPS = {"paper": 1000, "contextual": 500}  # iterations per run (the full run's defaults)


def hparams(label: str) -> dict[str, float]:
    """The study's hyperparameters of a rule (iterative IPO's tau is 1/eta: the same step as the others)."""
    if label == "iterative_ipo":
        return {"tau": 1 / ETA}
    if label == "sppo":
        return {"eta": ETA}
    return {"eta": ETA, "tau": TAU}


def rule_for(label: str, feedback: str, policy, comal_every: int, prompts: int | None, pairs=PAIRS):
    """The closed form (``feedback == "closed form"``) or the loss-based rule of ``label`` (drawing
    ``max(pairs) / B`` pairs per prompt; the ``pairs`` hyperparameter says how many are judged)."""
    import algorithms

    closed, loss = RULES[label]
    if feedback == "closed form":
        rule = algorithms.get(closed)
    else:
        k = None if feedback == "population" else max(pairs) // (prompts or 1)
        rule = algorithms.loss_based(loss, policy, pairs=k, prompts=prompts)
    return algorithms.comal(rule, comal_every) if label.startswith("comal") else rule


def _pairs(text):
    try:
        pairs = tuple(sorted({int(t) for t in str(text).split(",") if t.strip()}))
    except ValueError:
        raise ValueError(f"--pairs must be comma-separated whole numbers, got {text!r}") from None
    if not pairs or pairs[0] < 1:
        raise ValueError(f"--pairs must name at least one K >= 1, got {text!r}")
    return pairs


@dataclass(frozen=True)
class Config(study.Base):
    rules: tuple = study.rules(
        ",".join(RULES),
        f"this study's {', '.join(RULES)} (closed form and loss), or any rule (its closed form only)",
    )
    games: tuple = study.games(
        ",".join(GAMES), "any other game runs with the tabular policy only", named=GAMES, quick="paper"
    )
    comparisons: str = study.comparisons()
    feedback: str = study.feedback(
        "exact",
        "what the closed-form rows observe (the loss-based rows keep this study's own axis: the population "
        "loss and --pairs K)",
    )
    hp: tuple = study.hp("RULE is a --rules item; applies to its closed form and its loss; pairs is --pairs")
    seeds: int = study.seeds(2, "seeds per K (default 2; --quick 1)", quick=1)
    steps: int = study.steps(
        None,
        "iterations per run, a multiple of 100 (default 1000, 500 on a contextual game, whose iterations cost "
        "1.5-3x more; --quick 200)",
        quick=200,
    )
    x: str = study.x_axis(
        "comparisons",
        "unit of the second cost-to-level column of the summary (the first counts iterations; the figure's "
        "x-axis is comparisons)",
    )
    jobs: int = study.jobs()
    policies: tuple = study.option(
        ",".join(POLICIES),
        f"comma-separated subset of {', '.join(POLICIES)} (default all; --quick tabular)",
        quick="tabular",
        parse=study.subset("--policies", POLICIES),
    )
    pairs: tuple = study.option(
        ",".join(map(str, PAIRS)),
        "comma-separated K, judged pairs per iteration (default 16,256,4096; --quick 16,256)",
        quick="16,256",
        parse=_pairs,
    )
    comal_every: int = study.option(100, "COMAL's iterations between reference updates (default 100)")
    prompts_per_iteration: int = study.option(
        4, "B, prompts drawn by rho per iteration on a contextual game (K / B pairs each; default 4)"
    )


def _game(c: Config, item: str):
    """``(GameSpec, features or None)``."""
    return study.load_game(item, c.dtype, c.seed, gamespec.featured), gamespec.features(item, c.dtype, c.seed)


def _steps(c: Config, item: str) -> int:
    return c.steps or STEPS.get(item, 500 if _game(c, item)[0].game.contextual else 1000)


def _label(text: str) -> str:
    return text if text in RULES else study.load_rule(text).name


def _rule(c: Config, text: str, fb: str, policy, prompts, pairs=None):
    """``(rule, its hyperparameters)``: a study label as :func:`rule_for`, any other rule as it is."""
    rule = (
        rule_for(text, fb, policy, c.comal_every, prompts, pairs or c.pairs)
        if text in RULES
        else study.load_rule(text)
    )
    declared = {h.name for h in rule.hparams}
    given = {n: v for s, n, v in c.hp if n in declared and s in (None, text, rule.name, _label(text))}
    return rule, {**(hparams(text) if text in RULES else {}), **given}


def prepare(c: Config) -> Config:
    """float64; ``--steps`` a multiple of 100 above ``--comal-every``; ``--pairs`` against B; ``--hp`` against
    every rule it reaches (each label's closed form and tabular loss-based rule, on each game); memory."""
    from algorithms import memory, policies

    if c.dtype != "float64":
        raise ValueError("--dtype: the sampled study runs in float64 only")
    fb = cli.feedback_type(c.feedback)
    items = study.game_items(c)
    low = min(_steps(c, i) for i in items)
    if low % 100:
        raise ValueError(f"--steps ({low}) must be a multiple of 100")
    if c.comal_every >= low and "comal(inpo)" in c.rules:
        raise ValueError(f"--comal-every ({c.comal_every}) must be below --steps ({low})")
    for scope, n, _ in c.hp:
        if n == "pairs":
            raise ValueError("--hp pairs: pairs is this study's grid axis (--pairs)")
        if scope is not None and not any(scope in (t, _label(t)) for t in c.rules):
            raise ValueError(
                f"--hp {scope}.{n}: no rule {scope!r} among the rules run ({', '.join(c.rules)})"
            )
    for item in items:
        (gs, feats), b, declared = _game(c, item), c.prompts_per_iteration, set()
        game = gs.game
        bad = [k for k in c.pairs if k % b]
        if game.contextual and bad:
            raise ValueError(f"--pairs {bad[0]} is not a multiple of --prompts-per-iteration {b}")
        if feats is None and set(c.policies) - {"tabular"}:
            cli.note(f"{gs.label}: no response features; the tabular policy only")
        for t in c.rules:
            built = [_rule(c, t, "closed form", None, None)]
            if t in RULES:
                tab = policies.tabular(game)
                built.append(_rule(c, t, "sampled", tab, b if game.contextual else None))
            elif study.load_rule(t).exact_only and fb.stochastic:
                raise ValueError(f"rule {t} reads the whole game: exact feedback only, got {fb.name}")
            for scope, n, _ in c.hp:
                if scope in (t, _label(t)) and not any(n in {h.name for h in r.hparams} for r, _ in built):
                    raise ValueError(f"--hp {n}: rule {_label(t)} declares no {n!r}")
            for rule, hp in built:
                declared |= {h.name for h in rule.hparams}
                rule.init(game, c.seed, **hp)
        for n in [n for s, n, _ in c.hp if s is None and n not in declared][:1]:
            raise ValueError(f"--hp {n}: no rule run declares {n!r}")
        p = b if game.contextual else None
        egpo = rule_for("egpo", "sampled", policies.tabular(game), c.comal_every, p, c.pairs)
        try:
            memory.check_sweep(
                egpo,
                game,
                steps=_steps(c, item),
                record_every=_steps(c, item) // 100,
                seeds=c.seeds,
                metrics=("gap",),
                pairs=[k // (p or 1) for k in c.pairs],
            )
        except ValueError as err:
            raise ValueError(f"--pairs {max(c.pairs)}: {err}") from None
    return c


def units(c: Config):
    """Per game and rule: the closed form, then the population loss and the sampled loss per policy; last,
    SPPO's (4.6) against (4.1)."""
    out = []
    for item in study.game_items(c):
        pols = c.policies if _game(c, item)[1] is not None else ("tabular",) * ("tabular" in c.policies)
        for t in c.rules:
            for fb in ("closed form", "population", "sampled") if t in RULES else ("closed form",):
                for kind in pols if fb != "closed form" else ("exact",):
                    out.append(((item, t, fb, kind), ("run", item, t, fb, kind)))
    return [*out, (("sppo (4.6) vs (4.1)",), ("sppo",))]


def simulate(c: Config, what: str, item=None, text=None, feedback=None, kind=None) -> dict:
    """One sweep (a rule's closed form, or its loss with one feedback and policy, over seeds x K), or the
    SPPO comparison."""
    import algorithms
    from algorithms import policies

    if what == "sppo":
        return {"sppo_46_vs_41": _sppo_frame()}
    (gs, feats), closed = _game(c, item), feedback == "closed form"
    game = gs.game
    b = c.prompts_per_iteration if game.contextual and feedback == "sampled" else None  # population: all
    policy = None if closed else policies.by_name(kind, game, feats)
    rule, grid = _rule(c, text, feedback, policy, b)
    if feedback == "sampled":
        grid["pairs"] = [k // (b or 1) for k in c.pairs]
    fb = cli.feedback_type(c.feedback) if closed else None  # --feedback: the closed forms' observation
    stochastic = feedback == "sampled" or (fb is not None and fb.stochastic)
    n = _steps(c, item)
    seeds = cli.run_seeds(c.seed, c.seeds if stochastic else 1)  # exact runs are deterministic
    tr = algorithms.sweep(
        rule, game, steps=n, record_every=n // 100, seeds=seeds, metrics=("gap",), feedback=fb, **grid
    )
    return {"trace": _frame(tr, gs.label, _label(text), feedback, kind, c.seed, b)}


def report(c: Config, t: dict, folder) -> dict:
    df, sppo = t["trace"], t["sppo_46_vs_41"]
    gms = [_game(c, i)[0].label for i in study.game_items(c)]
    rows = summary(df, c.x)
    output.write_frame(folder / "summary.csv", rows)
    if (fig := figure(df, c.policies)) is not None:
        output.save_figure(fig, folder / "sampled.png", drawn_by=figures.drawn_by(figure))
    steps = {g: _steps(c, i) for g, i in zip(gms, study.game_items(c))}
    never = rows.filter(like="_to_").isin([np.inf]).any(axis=1).sum()
    diff = sppo.iloc[:, -1].astype(float)
    print(
        f"summary.csv: {len(rows)} runs (game, policy, rule, feedback) of {', '.join(map(str, steps.values()))} "
        f"iterations: the gap reached (mean of the last 10% of the records), the final gap and the "
        f"{' and '.join(COSTS[x] for x in dict.fromkeys(['steps', c.x]))} from which it stays below "
        f"{' and '.join(f'{v:g}' for v in LEVELS)} (medians over {c.seeds} seed(s), 95% bootstrap intervals); "
        f"{never} run(s) do not stay below some level. sppo_46_vs_41.csv: SPPO's loss (4.6) against its exact "
        f"update (4.1) after one step, max |difference| {diff.min():.1e} to {diff.max():.1e}"
    )
    return {
        "feedback_axes": {
            "closed_form": c.feedback,
            "population": "exact expectation over pairs",
            "sampled": {"pairs": list(c.pairs), "labels": "hard"},
        },
        "study_rules": [
            {"name": r, "closed_form": RULES[r][0], "loss": RULES[r][1], **hparams(r)}
            for r in c.rules
            if r in RULES
        ],
        "optimizer": "optax.sgd(0.5), 10 steps per iteration (algorithms.loss_based defaults)",
        "steps": steps,
        "record_every": {g: n // 100 for g, n in steps.items()},
    }


def _frame(tr, gname, label, fb, kind, seed, prompts):
    m, _ = tables.tidy(tr, experiment=STUDY, game=gname, rule=label, seed=seed)
    m["policy"] = kind
    if fb == "sampled":
        m["feedback"] = "K=" + (m["pairs"] * (prompts or 1)).astype(int).astype(str)
        m["pairs"] = m["pairs"] * (prompts or 1)  # judged pairs per iteration, all prompts together
    else:
        m["feedback"] = fb
    return m


#: ``--x`` -> the summary's cost column (besides iterations, ``step``)
COSTS = {"steps": "step", "oracle_calls": "oracle_calls", "comparisons": "comparisons"}


def _gap(df):
    """The gap records, over all prompts on a contextual game."""
    return df[(df["metric"] == "gap") & (df["prompt"].isna() if "prompt" in df.columns else True)]


def summary(df, x: str = "comparisons"):
    """One row per (game, policy, rule, feedback): :func:`experiments.common.results.summary`'s final gap,
    ``gap_reached`` (the mean of the last 10 % of the records, median over seeds) and, per level of
    :data:`LEVELS`, the iterations and the ``--x`` cost from which the gap stays at or below it (medians with 95 %
    bootstrap intervals; NaN where the run counts none of that cost: exact feedback judges no comparisons) and
    the share of seeds that get there."""
    gap, by = _gap(df), ["game", "policy", "rule", "feedback"]
    rows = results.summary(gap, by=by, level=LEVELS[0])[[*by, "final", "final_lo", "final_hi", "seeds"]]
    tails = [
        v[:, -max(1, v.shape[1] // 10) :].mean(axis=1)
        for _, v in results.runs(gap, "gap", "step", by).values()
    ]
    rows.insert(4, "gap_reached", [np.median(t) for t in tails])
    for level in LEVELS:
        for col in dict.fromkeys(["step", COSTS[x]]):
            s = results.summary(gap, by=by, level=level, x=col)
            counted = (col == "step") | (gap.groupby(by, sort=False)[col].max().to_numpy() > 0)
            cost = s.filter(like=f"{col}_to_level")
            rows[[c.replace("level", f"{level:g}") for c in cost.columns]] = np.where(
                counted[:, None], cost, np.nan
            )
        rows[f"reached_{level:g}"] = s["reached"].to_numpy()
    return rows


def _sppo_frame():
    import pandas as pd

    header = ("start", "eta", "max |pi_4.6 - pi_4.1| after one step")
    return pd.DataFrame(sppo_difference(), columns=header)


def sppo_difference():
    """Max |pi_(4.6) - pi_(4.1)| after one population-loss iteration minimised to convergence (paper game)."""
    import algorithms
    import games
    from algorithms import policies

    game = games.comal_cycle()
    rows = []
    for start in ((1 / 3, 1 / 3, 1 / 3), (0.2, 0.3, 0.5)):
        for eta in (0.5, 2.0):
            got = []
            for loss in ("sppo", "sppo_exact_z"):
                rule = algorithms.loss_based(loss, policies.tabular(game), optimizer_steps=2000)
                got.append(
                    np.asarray(algorithms.run(rule, game, steps=1, start=np.array(start), eta=eta).policy.x)
                )
            rows.append((str(tuple(round(s, 3) for s in start)), eta, f"{np.abs(got[0] - got[1]).max():.2e}"))
    return rows


#: The exact rows' final gap, drawn as a line in the panels of their rule and game
REFS = {
    "closed form": dict(color="tab:red", ls="-", lw=3.5, alpha=0.35),
    "population": dict(color="k", ls="--", lw=1.2),
}


def figure(df, policies):
    """One panel per rule, game and policy: the K curves against comparisons by
    :func:`experiments.common.results.gap_figure` (median over seeds, 95 % bootstrap band), and the final gap
    of the population loss (that policy) and of the closed form (every policy) as horizontal lines. None when no
    run judges comparisons."""
    gap = _gap(df)
    gap = gap.assign(run=gap["rule"] + ": " + gap["game"] + ", " + gap["policy"])
    sampled = gap[gap["feedback"].str.startswith("K=")]
    if sampled.empty:
        return None
    refs = []
    for (r, g, pol, fb), part in gap[~gap.index.isin(sampled.index)].groupby(
        ["rule", "game", "policy", "feedback"]
    ):
        final = part[part["step"] == part["step"].max()]["value"].median()
        for p in policies if fb == "closed form" else [pol]:
            refs.append({"y": final, "panel": f"{r}: {g}, {p}", "label": f"{fb} (final gap)", **REFS[fb]})
    title = f"sampled preferences: K judged pairs per iteration (zeros drawn at {figures.PLOT_FLOOR:g})"
    by = ("run", "feedback")
    return results.gap_figure(
        sampled, x="comparisons", level=LEVELS[-1], by=by, panel="run", refs=refs, title=title
    )


STUDY_DECL = study.Study(
    STUDY,
    __doc__.splitlines()[0],
    Config,
    units,
    simulate,
    report,
    prepare,
    refuses={"schedules": "every rule runs at constant hyperparameters; K is the --pairs axis"},
    named=gamespec.featured,
)
main = study.command(STUDY_DECL)

if __name__ == "__main__":
    sys.exit(cli.entry(main))
