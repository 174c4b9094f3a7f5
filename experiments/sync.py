"""Reference sync: the gap after a fixed budget against the sync interval K and the mix alpha.

Every ``K`` steps the reference moves to ``ref' ∝ ref^(1 - alpha) pi^alpha`` (:mod:`algorithms.sync`; alpha = 1:
the hard sync of GRPO and COMAL). One compiled sweep per rule over K x alpha x seeds, under sampled feedback at
equal comparisons per step. The rules and games: ``docs/studies/sync.md``.

    python -m experiments sync [--quick] [--rules inpo,ipo] [--games paper] [--seeds 16] [--steps 2048]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import cli, output, study, tables
from .common.gamespec import GameSpec

STUDY = "sync"
OWN = ("inpo", "ipo", "dpo", "mlp")
AGAINST = {"K=1, alpha=1 (no magnet)": (1.0, 1.0), "never synced": (None, 1.0), "TR-DPO": (512.0, 0.6)}


def _rules(text: str) -> tuple:
    return tuple(i.strip() for i in text.split(",") if i.strip() in OWN or study.load_rule(i))


@dataclass(frozen=True)
class Config(study.Base):
    rules: tuple = study.option(
        "inpo,ipo,dpo,mlp", f"{', '.join(OWN)} or a rule", quick="inpo,mlp", parse=_rules
    )
    games: tuple = study.games("paper,cycles", named=("paper", "cycles"), quick="paper")
    feedback: str = study.feedback("sampled:4", "what the learner observes (default sampled:4)")
    hp: tuple = study.hp("inner_steps and beta are the grid axes")
    seeds: int = study.seeds(16, quick=16)
    steps: int = study.steps(2048, quick=128)
    jobs: int = study.jobs()


def grid(c: Config) -> tuple[list[float], list[float]]:
    """K (``steps + 1`` stands for never) and alpha."""
    ks = [k for k in ([1, 8, 64] if c.quick else [2**i for i in range(11)]) if k <= c.steps]
    return [*map(float, ks), c.steps + 1.0], [0.3, 1.0] if c.quick else [0.1, 0.3, 0.6, 1.0]


def named(text: str, dtype: str, seed: int):
    import games

    if text == "paper":
        return GameSpec(games.comal_cycle(dtype=dtype), "paper", {"library": "comal_cycle"})
    if text == "cycles":
        g, _ = games.library.contextual_cycles_with_features(seed, 4, 4, 3, decay=1.0, dtype=dtype)
        return GameSpec(g, "cycles", {"library": "contextual_cycles_with_features(seed, 4, 4, 3, decay=1)"})
    return None


def rules(c: Config, item: str, name: str) -> tuple:
    """``(game spec, {label: rule})`` of a ``--rules`` item on a ``--games`` item."""
    import algorithms
    import games

    spec = study.load_game(item, c.dtype, c.seed, named)
    if name not in OWN:
        return spec, {name: algorithms.comal(study.load_rule(name), 1, beta=1.0)}
    feats = {"paper": games.library.COMAL_CYCLE_FEATURES}.get(spec.label)
    if spec.label == "cycles":
        feats = games.library.contextual_cycles_with_features(c.seed, 4, 4, 3, decay=1.0)[1]
    return spec, algorithms.sync.swept(name, spec.game, features=feats)


def prepare(c: Config) -> Config:
    if any(n in ("inner_steps", "beta") for _, n, _ in c.hp):
        raise ValueError("--hp: inner_steps and beta are this study's grid axes (K and alpha)")
    import algorithms

    first = study.game_items(c)[0]
    study.check_hp(c, {name: list(rules(c, first, name)[1].values()) for name in c.rules})
    fb = cli.feedback_type(c.feedback)
    for item in study.game_items(c):
        for name in c.rules:
            spec, rs = rules(c, item, name)
            for label, rule in rs.items():
                if label in algorithms.sync.LOSS_BASED and fb.kind == "noisy":
                    raise ValueError(f"rule {rule.name} judges pairs or reads the whole game, not {fb.name}")
                if rule.exact_only and fb.stochastic:  # before any work
                    raise ValueError(
                        f"rule {rule.name} reads the whole game: exact feedback only, not {fb.name}"
                    )
                rule.init(spec.game, c.seed, **study.hparams(c, rule, name))
    return c


def simulate(c: Config, item: str, name: str) -> dict:
    import pandas as pd

    import algorithms
    import games

    (spec, rs), fb, (ks, alphas) = rules(c, item, name), cli.feedback_type(c.feedback), grid(c)
    # under sampled:K a loss-based rule judges K n pairs per prompt: the closed forms' K duels per action
    pairs = games.feedback.sampled(fb.samples * spec.game.shape[0]) if fb.kind == "sampled" else fb
    frames, final = [], {}
    for label, rule in rs.items():
        tr = algorithms.sweep(
            rule, spec.game, steps=c.steps, record_every=c.steps, seeds=cli.run_seeds(c.seed, c.seeds),
            feedback=pairs if label in algorithms.sync.LOSS_BASED else fb, inner_steps=ks, beta=alphas,
            **study.hparams(c, rule, name),
        )  # fmt: skip
        df = tables.tidy(tr, experiment=STUDY, game=spec.label, rule=label, seed=c.seed)[0]
        frames.append(df[(df.metric == "gap") & (df.step == c.steps)])
        final[label] = np.asarray(tr.policy.x).reshape(c.seeds, len(ks), len(alphas), -1, spec.game.shape[0])
    out = {"trace": tables.combine(frames)}
    # mlp: how far the parameter EMA ends from the log-space mixing (total variation, mean over prompts)
    if len(final) == 2:
        tv = np.abs(final["mlp"] - final["mlp_params"]).sum(-1).mean(-1) / 2  # [S, K, alpha]
        s, k, a = np.meshgrid(cli.run_seeds(c.seed, c.seeds), ks, alphas, indexing="ij")
        cols = {"seed": s.ravel(), "inner_steps": k.ravel(), "beta": a.ravel(), "value": tv.ravel()}
        out["distance"] = pd.DataFrame({"game": spec.label, "rule": "mlp vs mlp_params", **cols})
    return out


def _k(k: float, steps: int) -> str:
    return "never" if k > steps else str(int(k))


def report(c: Config, t: dict, folder) -> dict:
    import pandas as pd

    summary, best = [], []
    for (game, rule), d in t["trace"].groupby(["game", "rule"], sort=False):
        gaps = {kb: g.sort_values("seed")["value"].to_numpy() for kb, g in d.groupby(["inner_steps", "beta"])}
        for (k, a), v in gaps.items():
            med, lo, hi = tables.bootstrap_median(v, 0)
            summary.append([game, rule, _k(k, c.steps), a, med, lo, hi, f"{med:.3g} [{lo:.3g}, {hi:.3g}]"])
        (kb, ab), top = min(gaps.items(), key=lambda kv: np.median(kv[1]))
        row = [game, rule, _k(kb, c.steps), ab, float(np.median(top))]
        for label, (k, a) in AGAINST.items():
            key = (c.steps + 1.0 if k is None else k, a)
            if key in gaps and key != (kb, ab):  # paired by seed: the same seeds in every cell
                med, lo, hi = tables.bootstrap_median(top - gaps[key], 0)
                verdict = "lower" if hi < 0 else "higher" if lo > 0 else "cannot tell"
                best.append([*row, label, med, lo, hi, verdict])
    head = ["game", "rule", "K", "alpha", "gap", "gap_lo", "gap_hi", "median [95 % CI]"]
    output.write_csv(folder / "summary.csv", summary, head)
    vs = ["game", "rule", "K", "alpha", "gap", "against", "paired_diff", "diff_lo", "diff_hi", "verdict"]
    output.write_csv(folder / "best.csv", best, vs)
    if "distance" in t:
        dist = [
            [game, _k(k, c.steps), a, *tables.bootstrap_median(g.sort_values("seed")["value"], 0)]
            for (game, k, a), g in t["distance"].groupby(["game", "inner_steps", "beta"])
        ]
        output.write_csv(folder / "mlp_distance.csv", dist, ["game", "K", "alpha", "tv", "tv_lo", "tv_hi"])
    output.save_figure(figure(pd.DataFrame(summary, columns=head), c), folder / "sync.png", dpi=72)
    print(f"the lowest median gap after {c.steps} steps ({c.feedback}), paired against:")
    print(tables.table([[f"{x:.3g}" if isinstance(x, float) else x for x in r] for r in best], vs))
    return {"grid": {"K": grid(c)[0], "alpha": grid(c)[1]}}


def figure(summary, c: Config):
    from matplotlib.figure import Figure

    panels = list(summary.groupby(["game", "rule"], sort=False))
    cols, nrows = min(len(panels), 5), -(-len(panels) // 5)
    fig = Figure(figsize=(2.5 * cols, 2.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, cols, sharey=True, squeeze=False).ravel()
    for ax, ((game, rule), d) in zip(axes, panels):
        for a, g in d.groupby("alpha"):
            x = np.arange(len(g))
            ax.plot(x, g["gap"], "o-", ms=3, label=f"α = {a:g}")
            ax.fill_between(x, g["gap_lo"], g["gap_hi"], alpha=0.2)
        ax.set_xticks(x, g["K"], rotation=90, fontsize=7)
        ax.set(yscale="log", title=f"{game}, {rule}", xlabel="sync interval K")
    axes[0].set_ylabel(f"gap after {c.steps} steps ({c.feedback})\nmedian over seeds, 95 % bootstrap band")
    axes[0].legend(fontsize=7)
    return fig


REFUSES = {
    "x": "every cell of the grid runs the same steps and comparisons",
    "schedules": "K and alpha are the grid axes",
    "comparisons": "the games are the paper's cycle and a cyclic ensemble (or --games)",
}
STUDY_DECL, main = study.declare(globals(), refuses=REFUSES)
