"""Learning from sampled preferences: each rule's closed form against its loss, minimised by an optimizer over
a parameterized policy, with the exact population loss or K judged pairs per iteration.

The design (rules, feedback, policies, games) is on ``docs/studies/sampled.md``. Writes ``summary.csv``
(:func:`summary`), ``sppo_46_vs_41.csv`` (:func:`sppo_difference`) and ``sampled.png``.

    python -m experiments sampled [--quick] [--rules inpo,my_rules:my_rule] [--games paper] [--pairs 16,256]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import cli, figures, gamespec, output, results, study, tables

STUDY = "sampled"
ETA, TAU = 0.5, 0.1
#: label -> (closed form, the loss it is the population minimizer of, hyperparameters: IPO's tau = 1/eta)
RULES = {
    "iterative_ipo": ("iterative_ipo", "ipo", {"tau": 1 / ETA}),
    "sppo": ("sppo", "sppo", {"eta": ETA}),
    **{r: (r, r, {"eta": ETA, "tau": TAU}) for r in ("inpo", "nash_md", "egpo")},
    "comal(inpo)": ("inpo", "inpo", {"eta": ETA, "tau": TAU}),
}
POLICIES = ("tabular", "loglinear", "mlp")
TABULAR = "any other game runs with the tabular policy only"  # no response features
PAIRS = (16, 256, 4096)
LEVELS = (1e-2, 1e-4)


def _pairs(text):
    pairs = tuple(sorted({cli.positive_int("--pairs")(t) for t in str(text).split(",") if t.strip()}))
    if not pairs:
        raise ValueError(f"--pairs must name at least one K >= 1, got {text!r}")
    return pairs


@dataclass(frozen=True)
class Config(study.Runs):
    rules: tuple = study.rules(
        ",".join(RULES),
        f"this study's {', '.join(RULES)} (closed form and loss), or any rule (its closed form only)",
    )
    games: tuple = study.games(",".join(gamespec.FEATURED), TABULAR, named=gamespec.FEATURED, quick="paper")
    feedback: str = study.feedback(
        "exact", "what the closed forms observe (the losses: population, --pairs K)"
    )
    hp: tuple = study.hp("RULE is a --rules item; applies to its closed form and its loss; pairs is --pairs")
    seeds: int = study.seeds(2, "seeds per K (default 2; --quick 1)", quick=1)
    steps: int = study.steps(
        None,
        "iterations per run, a multiple of 100 (default 1000, 500 on a contextual game; --quick 200)",
        quick=200,
    )
    x: str = study.x_axis("comparisons", "the summary's second cost-to-level column (the first: iterations)")
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
    """Iterations per run: ``--steps``, else 1000 (500 on a contextual game)."""
    return c.steps or (500 if _game(c, item)[0].game.contextual else 1000)


def _label(text: str) -> str:
    return text if text in RULES else study.load_rule(text).name


def _rule(c: Config, text: str, feedback: str, policy, prompts: int | None):
    """``(rule, its hyperparameters, feedback model)`` of a ``--rules`` item: a study label's closed form under
    ``--feedback`` (``feedback == "closed form"``) or its loss-based rule (COMAL-wrapped for ``comal(...)``) on
    the population loss or ``sampled(max(--pairs) / B)`` pairs per prompt; any other rule as it is."""
    import algorithms
    import games

    if feedback == "closed form":
        fb = cli.feedback_type(c.feedback)
    elif feedback == "sampled":
        fb = games.feedback.sampled(max(c.pairs) // (prompts or 1))
    else:
        fb = None
    if text not in RULES:
        rule, hp = study.load_rule(text), {}
    else:
        closed, loss, hp = RULES[text]
        rule = (
            algorithms.get(closed)
            if feedback == "closed form"
            else algorithms.loss_based(loss, policy, prompts=prompts)
        )
        rule = algorithms.comal(rule, c.comal_every) if text.startswith("comal") else rule
    return rule, {**hp, **study.hparams(c, rule, text)}, fb


def prepare(c: Config) -> Config:
    """float64; ``--steps`` a multiple of 100 above ``--comal-every``; ``--pairs`` against B; ``--hp`` against
    every rule it reaches (each label's closed form and tabular loss-based rule, on each game); memory."""
    from algorithms import memory, policies

    if c.dtype != "float64":
        raise ValueError("--dtype: the sampled study runs in float64 only")
    fb, items = cli.feedback_type(c.feedback), study.game_items(c)
    low = min(_steps(c, i) for i in items)
    if low % 100:
        raise ValueError(f"--steps ({low}) must be a multiple of 100")
    if c.comal_every >= low and "comal(inpo)" in c.rules:
        raise ValueError(f"--comal-every ({c.comal_every}) must be below --steps ({low})")
    for _, n, _ in c.hp:
        if n in ("pairs", "samples"):
            raise ValueError(f"--hp {n}: pairs is this study's grid axis (--pairs)")
    for item in items:
        (gs, feats), b = _game(c, item), c.prompts_per_iteration
        p = b if gs.game.contextual else None
        if p and (bad := [k for k in c.pairs if k % b]):
            raise ValueError(f"--pairs {bad[0]} is not a multiple of --prompts-per-iteration {b}")
        if feats is None and set(c.policies) - {"tabular"}:
            cli.note(f"{gs.label}: no response features; the tabular policy only")
        built = {t: [_rule(c, t, "closed form", None, None)] for t in c.rules}
        for t in c.rules:
            if t in RULES:
                built[t].append(_rule(c, t, "sampled", policies.tabular(gs.game), p))
            elif built[t][0][0].exact_only and fb.stochastic:
                raise ValueError(f"rule {t} reads the whole game: exact feedback only, got {fb.name}")
        declared = {t: {h.name for r, _, _ in rules for h in r.hparams} for t, rules in built.items()}
        for scope, n, _ in c.hp:  # scoped: every label it names declares n (its closed form or its loss)
            if bad := [t for t in c.rules if scope in (t, _label(t)) and n not in declared[t]]:
                raise ValueError(f"--hp {n}: rule {_label(bad[0])} declares no {n!r}")
        study.check_hp(c, {t: [r for r, _, _ in rules] for t, rules in built.items()})
        n = _steps(c, item)
        run = {"steps": n, "record_every": n // 100}
        egpo, _, sampled = _rule(c, "egpo", "sampled", policies.tabular(gs.game), p)
        pairs = [k // (p or 1) for k in c.pairs]
        try:
            memory.check_sweep(
                egpo, gs.game, **run, seeds=c.seeds, metrics=("gap",), feedback=sampled, samples=pairs
            )
        except ValueError as err:
            raise ValueError(f"--pairs {max(c.pairs)}: {err}") from None
        # the library's pre-flight of every rule, after --pairs (whose memory is then named by it)
        for rule, hp, rule_fb in (r for rules in built.values() for r in rules):
            study.preflight(rule, gs.game, run, rule_fb, **hp)
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
        return {"sppo_46_vs_41": sppo_difference()}
    (gs, feats), closed = _game(c, item), feedback == "closed form"
    b = c.prompts_per_iteration if gs.game.contextual and feedback == "sampled" else None  # population: all
    rule, grid, fb = _rule(c, text, feedback, None if closed else policies.by_name(kind, gs.game, feats), b)
    if feedback == "sampled":  # how many of the K_max drawn are judged: the run hyperparameter samples
        grid["samples"] = [k // (b or 1) for k in c.pairs]
    stochastic = feedback == "sampled" or (fb is not None and fb.stochastic)
    n = _steps(c, item)
    seeds = cli.run_seeds(c.seed, c.seeds if stochastic else 1)  # exact runs are deterministic
    tr = algorithms.sweep(
        rule, gs.game, steps=n, record_every=n // 100, seeds=seeds, metrics=("gap",), feedback=fb, **grid
    )
    m, _ = tables.tidy(tr, experiment=STUDY, game=gs.label, rule=_label(text), seed=c.seed)
    m["policy"] = kind
    if feedback == "sampled":
        m = m.rename(columns={"samples": "pairs"})
        m["pairs"] = m["pairs"] * (b or 1)  # judged pairs per iteration, all prompts together
    m["feedback"] = "K=" + m["pairs"].astype(int).astype(str) if feedback == "sampled" else feedback
    return {"trace": m}


def report(c: Config, t: dict, folder) -> dict:
    df, sppo = t["trace"], t["sppo_46_vs_41"]
    rows = summary(df, c.x)
    output.write_frame(folder / "summary.csv", rows)
    if (fig := figure(df, c.policies)) is not None:
        output.save_figure(fig, folder / "sampled.png", drawn_by=figures.drawn_by(figure))
    steps = {_game(c, i)[0].label: _steps(c, i) for i in study.game_items(c)}
    never = rows.filter(like="_to_").isin([np.inf]).any(axis=1).sum()
    diff = sppo.iloc[:, -1].astype(float)
    print(
        f"summary.csv: {len(rows)} runs (game, policy, rule, feedback) of {', '.join(map(str, steps.values()))} "
        f"iterations: the gap reached (mean of the last 10% of the records), the final gap and the "
        f"{' and '.join(dict.fromkeys(['step', tables.x_column(c.x)]))} from which it stays below "
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
            {"name": r, "closed_form": RULES[r][0], "loss": RULES[r][1], **RULES[r][2]}
            for r in c.rules
            if r in RULES
        ],
        "optimizer": "optax.sgd(0.5), 10 steps per iteration (algorithms.loss_based defaults)",
        "steps": steps,
        "record_every": {g: n // 100 for g, n in steps.items()},
    }


def _gap(df):
    """The gap records, over all prompts on a contextual game."""
    return df[(df["metric"] == "gap") & (df["prompt"].isna() if "prompt" in df.columns else True)]


def summary(df, x: str = "comparisons"):
    """One row per (game, policy, rule, feedback): the final gap (:func:`experiments.common.results.summary`),
    ``gap_reached`` (mean of the last 10 % of the records, median over seeds) and, per level of :data:`LEVELS`,
    the iterations and ``--x`` cost to stay below it (NaN where none is counted) and the share of seeds there."""
    gap, by = _gap(df), ["game", "policy", "rule", "feedback"]
    rows = results.summary(gap, by=by, level=LEVELS[0])[[*by, "final", "final_lo", "final_hi", "seeds"]]
    runs = results.runs(gap, "gap", "step", by).values()
    rows.insert(
        4, "gap_reached", [np.median(v[:, -max(1, v.shape[1] // 10) :].mean(axis=1)) for _, v in runs]
    )
    for level in LEVELS:
        for col in dict.fromkeys(["step", tables.x_column(x)]):
            s = results.summary(gap, by=by, level=level, x=col)
            counted = (col == "step") | (gap.groupby(by, sort=False)[col].max().to_numpy() > 0)
            cost = s.filter(like=f"{col}_to_level")
            rows[cost.columns.str.replace("level", f"{level:g}")] = np.where(counted[:, None], cost, np.nan)
        rows[f"reached_{level:g}"] = s["reached"].to_numpy()
    return rows


LOSSES = ("sppo", "sppo_exact_z")  # SPPO's (4.6), and (4.1) with its exact log Z


def sppo_difference():
    """Max |pi_(4.6) - pi_(4.1)| after one population-loss iteration minimised to convergence (paper game)."""
    import pandas as pd

    import algorithms
    import games
    from algorithms import policies

    game, rows = games.comal_cycle(), []
    for start in ((1 / 3, 1 / 3, 1 / 3), (0.2, 0.3, 0.5)):
        for eta in (0.5, 2.0):
            rules = [
                algorithms.loss_based(loss, policies.tabular(game), optimizer_steps=2000) for loss in LOSSES
            ]
            got = [
                np.asarray(algorithms.run(r, game, steps=1, start=np.array(start), eta=eta).policy.x)
                for r in rules
            ]
            rows.append((str(tuple(round(s, 3) for s in start)), eta, f"{np.abs(got[0] - got[1]).max():.2e}"))
    return pd.DataFrame(rows, columns=("start", "eta", "max |pi_4.6 - pi_4.1| after one step"))


#: The exact rows' final gap, drawn as a line in the panels of their rule and game
REFS = {
    "closed form": dict(color="tab:red", ls="-", lw=3.5, alpha=0.35),
    "population": dict(color="k", ls="--", lw=1.2),
}


def figure(df, policies):
    """One panel per rule, game and policy: the K curves against comparisons by
    :func:`experiments.common.results.gap_figure`, and the final gap of the population loss (that policy) and
    of the closed form (every policy) as horizontal lines. None when no run judges comparisons."""
    gap = _gap(df).assign(run=lambda d: d["rule"] + ": " + d["game"] + ", " + d["policy"])
    sampled = gap[gap["feedback"].str.startswith("K=")]
    if sampled.empty:
        return None
    refs = []
    exact = gap[~gap.index.isin(sampled.index)]
    for (r, g, pol, fb), part in exact.groupby(["rule", "game", "policy", "feedback"]):
        final = part[part["step"] == part["step"].max()]["value"].median()
        for p in policies if fb == "closed form" else [pol]:
            refs.append({"y": final, "panel": f"{r}: {g}, {p}", "label": f"{fb} (final gap)", **REFS[fb]})
    title = f"sampled preferences: K judged pairs per iteration (zeros drawn at {figures.PLOT_FLOOR:g})"
    by, level = ("run", "feedback"), LEVELS[-1]
    return results.gap_figure(
        sampled, x="comparisons", level=level, by=by, panel="run", refs=refs, title=title
    )


named = gamespec.featured  # the study's own games: paper, contextual
STUDY_DECL, main = study.declare(
    globals(), refuses={"schedules": "every rule runs at constant hyperparameters; K is the --pairs axis"}
)
