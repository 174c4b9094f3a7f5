"""Many games at once: every rule on B games of a random family (default 256 cyclic 5x5), vmapped.

Per rule: the median and inter-quartile band of the last-iterate gap curves, and the share of games where it
reaches gap ``--level``. A fixed game gives an ensemble of B random starts instead (``--hp start_noise=S``,
S > 0). B is ``--seeds``.

    python -m experiments ensemble [--quick] [--seeds 256] [--games random_preference:n=7] [--rules mwu,comal]
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np

from .common import cli, figures, output, study, tables

STUDY = "ensemble"


@dataclass(frozen=True)
class Config(study.Runs):
    games: tuple = study.games(
        "random_preference:n=5,kind=cyclic",
        "one ensemble each: a random family (one draw per seed) or a fixed game (one random start per seed)",
    )
    comparisons: str = study.comparisons("a fixed game: an ensemble of random starts")
    seeds: int = study.seeds(256, "ensemble size B: games drawn or random starts (default 256)", quick=16)
    steps: int = study.steps(5000, quick=500)
    x: str = study.x_axis("oracle_calls")
    jobs: int = study.jobs()
    record_every: int = study.option(
        50, "record the metrics every this many steps, and at step 0 (default 50)"
    )
    level: float = study.option(1e-6, "gap threshold of the summary's share (default 1e-6)")


def _random(item: str) -> bool:
    """A library family with a random key the item does not fix: one draw per seed."""
    import games

    name = item.partition(":")[0].strip()
    fn = getattr(games.library, name, None)
    return callable(fn) and "key" in inspect.signature(fn).parameters and "key=" not in item


def prepare(c: Config) -> Config:
    """:func:`~experiments.common.checks.check` (a random family: on its first draw); a fixed game needs random
    starts."""
    c = study.check(c)
    fixed = [item for item in study.game_items(c) if not _random(item)]
    still = [t for t in c.rules if not study.hparams(c, t).get("start_noise", 0) > 0]
    if fixed and still:
        raise ValueError(
            f"--games {fixed[0]} is one fixed game: give --hp start_noise=S (S > 0) for an ensemble of random "
            f"starts ({', '.join(still)} start at the uniform policy)"
        )
    return c


def _label(c: Config, item: str) -> str:
    return item if _random(item) else study.load_game(item, c.dtype, c.seed).label


@functools.cache
def _ensemble(c: Config, item: str):
    """``(games, equilibria, seeds, where)`` of one ensemble: B draws of a random family with keys from
    --seed's SeedSequence (solved by LP once per process), or B seeded starts on a fixed game."""
    import games

    keys = cli.run_seeds(c.seed, c.seeds)
    if _random(item):
        draws = [study.load_game(item, c.dtype, k).game for k in keys]
        where = dict(game=[f"{item}#{i}" for i in range(c.seeds)], seed=c.seed)
        return draws, [games.solve(g) for g in draws], None, where
    gs = study.load_game(item, c.dtype, c.seed)
    return gs.game, games.solve(gs.game), keys, dict(game=gs.label, seed=keys)


def simulate(c: Config, item: str, source: str) -> dict:
    import algorithms

    rule, (draws, eqs, seeds, where) = study.load_rule(source), _ensemble(c, item)
    run = dict(
        steps=c.steps, record_every=c.record_every, seeds=seeds, feedback=cli.feedback_type(c.feedback)
    )
    tr = algorithms.sweep(rule, draws, **run, nash=eqs, **study.hparams(c, rule))
    df, _ = tables.tidy(tr, experiment=STUDY, rule=rule.name, **where)
    return {"trace": _reduce(df, c.steps, f"{_label(c, item)} x{c.seeds}")}


def report(c: Config, t: dict, folder) -> dict:
    df, items, rows, meta = t["trace"], study.game_items(c), [], []
    header = ("rule", "hparams", "median final gap", "IQR", f"share reaching {c.level:g}")
    for item in items:
        label, random = _label(c, item), _random(item)
        mine = df["game"].map(lambda g, lab=label: g == lab or g.startswith(lab + "#"))
        bands, summary = {}, []
        for rule, g in df[df["game"] == f"{label} x{c.seeds}"].groupby("rule", sort=False):
            qs = [tables.curve(g, f"gap_{q}", c.x) for q in ("q25", "median", "q75")]
            bands[rule] = (qs[1][0], np.stack([v for _, v in qs]))
            final = df.loc[mine & (df.rule == rule) & (df.metric == "gap") & (df.step == c.steps), "value"]
            q = np.quantile(final.to_numpy(), [0.25, 0.5, 0.75])
            iqr, share = f"{q[0]:.2e} .. {q[2]:.2e}", f"{(final.to_numpy() <= c.level).mean():.1%}"
            summary.append((rule, tables.hparams_of(g), f"{q[1]:.3e}", iqr, share))
        what = f"{c.seeds} {'games: ' + label if random else 'random starts on ' + label}"
        tag = "" if len(items) == 1 else f"-{label}"
        fig = band_figure(bands, c.x, what, c.level)
        output.save_figure(fig, folder / f"ensemble{tag}.png", drawn_by=figures.drawn_by(band_figure))
        print(f"{what}, {c.steps} steps:")
        print(tables.table(summary, header))
        rows += [(label, *r) for r in summary]
        kind = "one draw per game" if random else "random starts"
        drawn = {"name": item.partition(":")[0], "spec": item, "keys": "numpy SeedSequence(--seed)"}
        gmeta = drawn if random else study.load_game(item, c.dtype, c.seed).meta
        meta.append({**gmeta, "ensemble": kind, "size": c.seeds})
    study.write_summary(folder, rows, header, len(items))
    return {"game": meta[0] if len(items) == 1 else meta}  # rules: the shell's


def _reduce(df, steps: int, label: str):
    """Per game/start: every metric at the last step; over the ensemble: gap quantiles per record."""
    import pandas as pd

    final = df[df["step"] == steps]
    gap = df[df["metric"] == "gap"]
    keys = [c for c in df.columns if c not in ("game", "seed", "value", "finite", "metric")]
    q = gap.groupby(keys, sort=False)["value"].quantile([0.25, 0.5, 0.75]).rename("value").reset_index()
    level = q.columns[len(keys)]
    q["metric"] = q[level].map({0.25: "gap_q25", 0.5: "gap_median", 0.75: "gap_q75"})
    fin = gap.groupby(keys, sort=False)["finite"].all().reset_index()
    q = q.drop(columns=level).merge(fin, on=keys)
    q["game"], q["seed"] = label, df["seed"].iloc[0] if df["seed"].nunique() == 1 else -1
    return pd.concat([final, q[df.columns]], ignore_index=True)


def band_figure(qs, x: str, what: str, level: float):
    """Median gap and inter-quartile band per rule (``qs``: rule -> (x values, [3, R+1] quartiles)), one panel
    per behaviour of the median (:func:`experiments.common.figures.behaviour` at ``level``) with its own x- and
    y-range; medians equal to round-off drawn once, named together."""
    meds = {lab: (xs, q[1]) for lab, (xs, q) in qs.items()}
    groups = figures.by_behaviour({lab: m[1] for lab, m in meds.items()}, level)
    style = figures.styles(groups)
    fig, panels = figures.panel_figure(
        [figures.panel_title(g, level) for g in groups],
        suptitle=f"{what}: last-iterate gap, median and IQR band; panels by what the median does "
        "(own y-range per panel)",
        sharey=False,
    )
    figures.label_x(panels.values(), x)
    for labs, ax in zip(groups.values(), panels.values()):
        lo, hi = np.inf, 0.0
        lines = figures.draw_curves(ax, {lab: meds[lab] for lab in labs}, style)
        for line in lines:
            lab = line.get_label().split(" = ")[0]
            xs, q = qs[lab][0], figures.plot_floor(qs[lab][1])
            ax.fill_between(xs, q[0], q[2], color=style[lab]["color"], alpha=0.15, lw=0)
            lo, hi = min(lo, q[0].min(), q[1].min()), max(hi, q[2].max())
        ref = ax.axhline(
            level, color="0.45", ls=(0, (6, 3)), lw=1, label=f"gap {level:g} (the summary's level)"
        )
        ax.set_yscale("log")
        ax.grid(alpha=0.25)
        figures.legend_below(ax, handles=lines)
        ax.set_ylim(lo / 2, hi * 2)  # each panel's own range: bands a decade apart stay apart
        figures.set_x_range(ax, [qs[lab][0] for lab in labs])
    next(iter(panels.values())).set_ylabel("last-iterate duality gap")
    figures.reference_legend(fig, [ref])
    return fig


STUDY_DECL, main = study.declare(
    globals(), refuses={"schedules": "the ensemble runs every rule at constant step sizes"}
)
