"""Why regularized methods lose the 50 % guarantee, and how COMAL escapes it.

Per KL weight ``tau``: the duality gap of the regularized equilibrium (exact) against the final last-iterate gap
of INPO, MMD and Nash-MD (one vmapped sweep over ``tau`` each) and of COMAL (INPO inner), at the rules' declared
``eta``. How to read it, and the limits it shows: ``docs/studies/tau_bias.md``.

    python -m experiments tau_bias [--quick] [--hp eta=0.2] [--steps 20000] [--rules inpo,comal] [--games ...]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import cli, figures, gamespec, output, study, tables

STUDY = "tau_bias"
#: the taus of the exact regularized-equilibrium curve
FINE_TAUS = np.geomspace(1e-3, 1.0, 25)


@dataclass(frozen=True)
class Config(study.Runs):
    rules: tuple = study.rules("inpo,mmd,nash_md,comal", "the rules; each must take tau")
    hp: tuple = study.hp("tau is the grid axis")
    steps: int = study.steps(20000, quick=2000)
    x: str = study.x_axis("steps", "unit of what each run spent, a column per rule in the summary")


def taus(c: Config) -> np.ndarray:
    """The grid axis: the rules' KL weights."""
    return np.geomspace(0.03, 1.0, 4) if c.quick else np.geomspace(0.01, 1.0, 9)


def prepare(c: Config) -> Config:
    """:func:`~experiments.common.checks.check_grid` at both ends of the tau grid."""
    return study.check_grid(c, ("tau",), [{"tau": float(tau)} for tau in taus(c)[[0, -1]]])


def units(c: Config):
    """Per game and rule one sweep over tau, then per game the exact curve."""
    exact = [((item, "regularized_equilibrium"), (item, None)) for item in study.game_items(c)]
    return study.game_rule_units(c) + exact


def _reg_gaps(game, grid) -> np.ndarray:
    """The regularized equilibrium's gap per tau (NaN where the solver fails)."""
    import games

    eqs = [gamespec.solved(games.regularized_equilibrium, game, float(t)) for t in grid]
    return np.array([np.nan if eq is None else eq.gap for eq in eqs])


def simulate(c: Config, item: str, source: str | None) -> dict:
    """One rule's sweep over the tau grid, or (``source`` None) the exact curve on the fine grid."""
    import pandas as pd

    import algorithms

    gs = study.load_game(item, c.dtype, c.seed)
    if source is None:
        exact = _reg_gaps(gs.game, FINE_TAUS)
        if not (ok := np.isfinite(exact)).all():
            failed = ", ".join(f"{t:.3g}" for t in FINE_TAUS[~ok])
            cli.note(
                f"{gs.label}: regularized equilibrium not solved at tau = {failed}; those points skipped"
            )
        ids = {"experiment": STUDY, "game": gs.label, "rule": "regularized_equilibrium", "tau": FINE_TAUS[ok]}
        run = dict(start_noise=0.0, seed=c.seed, step=0, oracle_calls=0.0, comparisons=0.0, finite=True)
        return {"trace": pd.DataFrame(ids | run | {"metric": "gap", "value": exact[ok]})}
    rule, fb = study.load_rule(source), cli.feedback_type(c.feedback)
    seeds = {"seeds": [c.seed]} if fb.stochastic else {}  # exact feedback: no key, no seed axis
    run = dict(steps=c.steps, record_every=c.steps, feedback=fb, **seeds)
    tr = algorithms.sweep(rule, gs.game, **run, **study.hparams(c, rule), tau=taus(c))
    return {"trace": tables.tidy(tr, experiment=STUDY, game=gs.label, rule=rule.name, seed=c.seed)[0]}


def report(c: Config, t: dict, folder) -> dict:
    df, grid = t["trace"], taus(c)
    unit = cli.X_AXES[c.x].split(" (")[0]
    for _, gs, tag in study.each_game(c):
        d = df[df["game"] == gs.label]
        runs = d[(d["rule"] != "regularized_equilibrium") & (d["step"] == c.steps) & (d["metric"] == "gap")]
        finals = {r: g.sort_values("tau") for r, g in runs.groupby("rule", sort=False)}
        costs = {} if c.x == "steps" else {r: g[c.x].to_numpy() for r, g in finals.items()}
        gaps = [_reg_gaps(gs.game, grid), *(g["value"].to_numpy() for g in finals.values())]
        rows = [
            [f"{tau:.3g}", *(f"{v[i]:.4e}" for v in gaps), *(f"{v[i]:.6g}" for v in costs.values())]
            for i, tau in enumerate(grid)
        ]
        header = ["tau", "regularized eq. gap", *finals, *[f"{k}: {unit}" for k in costs]]
        output.write_csv(folder / f"summary{tag}.csv", rows, header)
        exact = d[d["rule"] == "regularized_equilibrium"]
        etas = sorted({f"{e:g}" for e in runs["eta"].dropna()}) if "eta" in runs else []
        eta, curves = ", ".join(etas) or "—", {k: g["value"] for k, g in finals.items()}
        fig = figure(exact["tau"], exact["value"], grid, curves, eta, gs.label)
        output.save_figure(fig, folder / f"tau_bias{tag}.png")
        print(
            f"final last-iterate gap after {c.steps} steps (eta={eta}, {c.feedback} feedback) vs tau, {gs.label}:"
        )
        print(tables.table(rows, header))
    return {"hyperparameters": {"tau": grid.tolist(), "exact_curve_tau": FINE_TAUS.tolist()}}


def figure(fine_taus, exact, taus, finals, eta, game):
    import matplotlib as mpl
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.6, 4.8), layout="constrained")
    ax = fig.subplots()
    ax.loglog(fine_taus, exact, "k-", lw=2, label="gap of the regularized equilibrium (solved exactly)")
    cmap, marks = mpl.colormaps["tab10"], dict(ls="none", ms=7, mfc="none", mew=1.5)
    for i, ((label, gaps), marker) in enumerate(zip(finals.items(), "osd^v<>ph")):
        ax.loglog(
            taus, figures.plot_floor(np.asarray(gaps)), marker, color=cmap(i % 10), label=label, **marks
        )
    ylabel = f"final last-iterate duality gap\n(exact zeros drawn at {figures.PLOT_FLOOR:g})"
    ax.set(xlabel="τ (KL weight)", ylabel=ylabel, ylim=(figures.PLOT_FLOOR / 3, 1))
    ax.grid(alpha=0.25, which="major")
    ax.set_title(f"regularization bias on {game} (η={eta})", fontsize=11)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


REFUSES = {
    "schedules": "the rules run at constant step sizes (tau is the grid axis)",
    "seeds": "one run per tau from --seed: the final gaps are compared with the exact curve",
    "jobs": "the sweeps run one after the other in one process (seconds each; the table order is fixed)",
}
STUDY_DECL, main = study.declare(globals(), refuses=REFUSES)
