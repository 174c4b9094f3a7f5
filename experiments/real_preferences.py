"""Real preferences: the LLMFAO comparisons of 59 language models as games, their equilibrium sets and judges.

Per judge (the crowd, GPT-3.5, GPT-4; LLMFAO by D. Ustalov, CC BY 4.0, in ``games/data/llmfao``) and game
(rates: NLHF; margins: the maximal lottery): the whole equilibrium set (:mod:`games.equilibria`) with a bootstrap
of its ranges, its maximum-entropy point, social-choice diagnostics, the Bradley-Terry leader's worst-case win
rate; then across judges, per treatment of the unobserved pairs (``--missing bradley_terry`` fails on a GPT
judge's resample where a model never loses: the error names it), per prompt, and the rules on ``--games``.

    python -m experiments real_preferences [--quick] [--boot 200] [--missing tie] [--rules ...] [--games ...]
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from .common import cli, figures, gamespec, output, results, study, tables

STUDY = "real_preferences"
JUDGES = ("crowd", "gpt3", "gpt4")
KINDS = ("rates", "margins")
MISSING = ("tie", "bradley_terry", "worst_case")  # games.comparisons.MISSING (a test keeps them equal)
TOL = 1e-9  # a model is "in" an equilibrium above this mass
#: The columns of equilibria.csv (per judge, game and model) and summary.csv (per judge and game).
EQUILIBRIA = """judge kind missing model mass_min mass_max in_every in_some max_entropy lo hi in_some_probability
    in_every_probability bt_score"""
SUMMARY = """judge kind missing records unique in_every in_some in_some_boot_lo in_some_boot_hi stable_models value
    top_model top_mass top_mass_min top_mass_max condorcet smith_size cyclic_triads curl_share bt_leader
    bt_leader_mass_min bt_leader_mass_max bt_leader_worst_win_rate bt_leader_worst_win_rate_lo
    bt_leader_worst_win_rate_hi bt_leader_gap bt_leader_beaten_by"""


def _boot(text) -> int:
    """An integer >= 2, also written as ``1e3`` (so that ``--boot 1e9`` reaches the memory check)."""
    n = cli.positive("--boot")(str(text))
    if n != int(n) or n < 2:
        raise ValueError(f"--boot must be an integer >= 2, got {text!r}")
    return int(n)


@dataclass(frozen=True)
class Config(study.Runs):
    rules: tuple = study.rules("all", "the rules run on --games", quick="inpo,comal")
    games: tuple = study.games("crowd", "the games the rules run on (a judge: its rates game)", named=JUDGES)
    comparisons: str = study.comparisons("a game the rules run on too")
    feedback: str = study.feedback("sampled:64", "the rules' feedback besides exact (exact: only)")
    steps: int = study.steps(5000, "steps per rule and game (default 5000; records: steps/20)", quick=200)
    x: str = study.x_axis("steps", "unit of the cost column of rules.csv and of the printed rules table")
    jobs: int = study.jobs()
    boot: int = study.option(200, "resamples per judge and game (default 200)", quick=10, parse=_boot)
    missing: str = study.option("tie", "the judges' unobserved pairs (default tie)", choices=MISSING)
    tau_line: float = study.option(0.1, "tau of the regularized-equilibrium line of rules.png (default 0.1)")

    @property
    def record_every(self) -> int:
        return max(1, self.steps // 20)


def _rules_game(c: Config, item: str):
    item = f"llmfao:judge={item},missing={c.missing}" if item in JUDGES else item
    return study.load_game(item, c.dtype, c.seed)


def _feedbacks(c: Config, source: str) -> list[str]:
    stochastic = cli.feedback_type(c.feedback).stochastic
    return ["exact"] + ([c.feedback] if stochastic and not study.load_rule(source).exact_only else [])


def prepare(c: Config) -> Config:
    """--x against --feedback, --boot against this machine's memory, every rule on every game."""
    import games

    study.check_cost(c)
    for j in JUDGES:  # the draws [boot, records] and the ranges [boot, 2, 59], as games.bootstrap counts them
        K, per = len(_llmfao(j).pooled().multiplicity), 2 * len(_llmfao(j).labels)
        games.core.check_memory("--boot", f"{c.boot} resamples of {K} records", 8.0 * c.boot * (K + per + 1))
    for item in study.game_items(c):
        study.check_rules(c, _rules_game(c, item).game, cli.feedback_type("exact"))
    only = [study.load_rule(t).name for t in c.rules if len(_feedbacks(c, t)) == 1]
    if only and c.feedback != "exact":
        cli.note(f"{', '.join(only)} read the whole game: exact feedback only (not {c.feedback})")
    return c


def units(c: Config):
    runs = [("rules", i, r, f) for i in study.game_items(c) for r in c.rules for f in _feedbacks(c, r)]
    todo = [*(("judge", j) for j in JUDGES), *runs, ("transfer",), ("missing",), ("prompts",)]
    return [(u, u) for u in todo]


def simulate(c: Config, what: str, *args) -> dict:
    return globals()[f"_{what}"](c, *args)  # _judge, _rules, _transfer, _missing, _prompts


@functools.cache
def _llmfao(judge: str):
    import games

    return games.datasets.llmfao_comparisons(judge)


@functools.cache
def _game(judge: str, kind: str, missing: str, dtype: str, prompts: bool = False):
    import games

    data = _llmfao(judge) if prompts else _llmfao(judge).pooled()
    return games.from_comparisons(data, kind=kind, missing=missing, dtype=dtype)


def _ranges(game) -> np.ndarray:
    """``[2, n]``: every model's least and greatest mass over the equilibrium set (the bootstrap's statistic)."""
    import games

    s = games.equilibrium_set(game, support_tol=TOL)
    return np.stack([s.x_min, s.x_max])


def _canonical(game) -> np.ndarray:
    """The maximum-entropy equilibrium, or NaN where its solver or check fails (reported, never a vertex)."""
    import games

    me = gamespec.solved(games.max_entropy_equilibrium, game, note="maximum-entropy equilibrium unavailable")
    return np.full(game.shape[0], np.nan) if me is None else np.asarray(me.x)


def _win_rates(game, against) -> np.ndarray:
    """The range of the worst-case win rate over ``game``'s equilibria in ``against``, in [0, 1] (the LPs' ends
    can fall 1e-13 outside)."""
    import games

    return np.clip(games.worst_case_win_rate_range(game, against), 0.0, 1.0)


def _judge(c: Config, j: str) -> dict:
    import pandas as pd

    import games
    from games import social_choice as sc

    pooled = _llmfao(j).pooled()
    fit = games.bradley_terry_fit(pooled)
    triads, hodge = sc.cyclic_triads(pooled), sc.hodge_decomposition(pooled)
    lead = sc.exploitability(_game(j, "rates", c.missing, c.dtype), fit.leader)
    opts = dict(n=c.boot, seed=c.seed, missing=c.missing)
    worst = lambda g: sc.exploitability(g, fit.leader).worst_case_win_rate
    wlo, whi = games.bootstrap(pooled, worst, **opts).interval()
    eq_rows, summary = [], []
    for kind in KINDS:  # records resampled: a prompt resample's game is per prompt, not the pooled one's set
        game, b = _game(j, kind, c.missing, c.dtype), games.bootstrap(pooled, _ranges, kind=kind, **opts)
        (lo, hi), me = b.estimate, _canonical(game)
        some_b = b.samples[:, 1] > TOL  # [boot, n]: in some equilibrium of the resample
        for i, m in enumerate(game.labels):
            row = [j, kind, c.missing, m, lo[i], hi[i], lo[i] > TOL, hi[i] > TOL, me[i]]
            row += [np.quantile(b.samples[:, 0, i], 0.025), np.quantile(b.samples[:, 1, i], 0.975)]
            eq_rows.append([*row, some_b[:, i].mean(), (b.samples[:, 0, i] > TOL).mean(), fit.scores[m]])
        top = int(np.argmax(np.nan_to_num(me, nan=-1.0) + hi * np.isnan(me)))  # hi where no canonical point
        k, every, some, q = game.labels.index(fit.leader), lo > TOL, hi > TOL, (0.025, 0.975)
        row = [j, kind, c.missing, pooled.num_records, bool((hi - lo <= TOL).all()), every.sum(), some.sum()]
        row += [*np.quantile(some_b.sum(1), q), (some_b.mean(0) >= 0.95).sum(), games.solve(game).value]
        row += [game.labels[top], me[top], lo[top], hi[top], sc.condorcet_winner(game) or ""]
        row += [len(sc.smith_set(game)), triads.share, hodge.curl, fit.leader, lo[k], hi[k]]
        summary.append([*row, lead.worst_case_win_rate, wlo, whi, lead.gap, lead.best_response])
    eq = pd.DataFrame(eq_rows, columns=EQUILIBRIA.split())
    return {"equilibria": eq, "summary": pd.DataFrame(summary, columns=SUMMARY.split())}


def _transfer(c: Config) -> dict:
    """The range of the worst-case win rate of judge A's equilibria (each game) in judge B's rates game."""
    import pandas as pd

    rows = []
    for kind, a in itertools.product(KINDS, JUDGES):
        game = _game(a, kind, c.missing, c.dtype)
        me = _canonical(game)
        for b in JUDGES:
            B = _game(b, "rates", c.missing, c.dtype)
            rows.append([kind, a, b, *_win_rates(game, B), 0.5 + float((me @ np.asarray(B.A)).min())])
    cols = "kind nash_of scored_in worst_case_win_rate_min worst_case_win_rate_max max_entropy".split()
    return {"transfer": pd.DataFrame(rows, columns=cols)}


def _missing(c: Config) -> dict:
    """Each judge's rates equilibrium set under every treatment of the unobserved pairs, and the range of its
    worst-case win rate over every completion of those pairs (the robust win rate)."""
    import pandas as pd

    import games

    rows = []
    for j in JUDGES:
        worst = games.from_comparisons(_llmfao(j).pooled(), missing="worst_case")
        for m in games.comparisons.MISSING:
            g = _game(j, "rates", m, c.dtype)
            s, (lo, hi) = games.equilibrium_set(g, support_tol=TOL), _win_rates(g, worst)
            some = [g.labels[i] for i in np.argsort(-s.x_max) if s.x_max[i] > TOL]
            rows.append([j, m, s.unique, int(s.in_every_x.sum()), len(some), lo, hi, "; ".join(some[:8])])
    cols = ["judge", "missing", "unique", "in_every", "in_some", "robust_win_rate_min", "robust_win_rate_max"]
    return {"missing": pd.DataFrame(rows, columns=[*cols, "top_in_some"])}


def _prompts(c: Config) -> dict:
    """Per prompt, the crowd's equilibrium set and the range of the pooled set's worst-case win rate there."""
    import pandas as pd

    import games

    ctx, pooled = (_game("crowd", "rates", c.missing, c.dtype, p) for p in (True, False))
    s, P, rows = games.equilibrium_set(ctx, support_tol=TOL), np.asarray(ctx.P), []
    for i, name in enumerate(_llmfao("crowd").prompts):
        lo, hi = _win_rates(pooled, games.preference_game(P[i], dtype=c.dtype))
        unique = bool((s.x_max[i] - s.x_min[i] <= TOL).all())
        every, some = s.in_every_x[i].sum(), s.in_some_x[i].sum()
        rows.append([name, float(ctx.weights[i]), unique, every, some, lo, hi])
    cols = "prompt weight unique in_every in_some pooled_worst_win_rate_min pooled_worst_win_rate_max".split()
    return {"prompts": pd.DataFrame(rows, columns=cols)}


@functools.cache
def _lp(c: Config, item: str):
    import games

    return games.max_entropy_equilibrium(_rules_game(c, item).game).x


def _rules(c: Config, item: str, source: str, fb: str) -> dict:
    import pandas as pd

    import algorithms
    from games import social_choice as sc

    gs, rule = _rules_game(c, item), study.load_rule(source)
    hp = dict(steps=c.steps, record_every=c.record_every, key=c.seed, **study.hparams(c, rule))
    tr = algorithms.run(rule, gs.game, feedback=cli.feedback_type(fb), **hp)
    m, _ = tables.tidy(tr, experiment=STUDY, game=gs.label, rule=rule.name, seed=c.seed)
    m["feedback"], pi = fb, np.asarray(tr.policy.x)
    row = [gs.label, rule.name, fb, float(np.asarray(tr.metrics["gap"])[-1])]
    tv = 0.5 * float(np.abs(pi - _lp(c, item)).sum())
    row += [float(sc.exploitability(gs.game, pi).worst_case_win_rate), tv]
    row += [int((pi > 1e-3).sum()), float(tables.cost(tr, c.x)[-1])]
    cols = "game rule feedback final_gap worst_case_win_rate tv_to_max_entropy support_1e-3".split()
    return {"trace": m, "rules": pd.DataFrame([row], columns=[*cols, c.x])}


def report(c: Config, t: dict, folder) -> dict:
    import games

    fig = equilibria_figure(t["equilibria"], c.missing, c.boot)
    for suffix in (".png", ".pdf"):  # dpi 90: 59 rows of bars, under the docs' 250 kB
        output.save_figure(fig, folder / f"equilibria{suffix}", 90, figures.drawn_by(equilibria_figure))
    reg, items = {}, study.game_items(c)
    for item in items:
        gs = _rules_game(c, item)
        reg[gs.label] = games.regularized_equilibrium(gs.game, c.tau_line).gap
        line = {"y": reg[gs.label], "label": f"regularized equilibrium (τ={c.tau_line:g})"}
        trace = t["trace"][t["trace"].game == gs.label]
        fig = results.gap_figure(trace, by=("rule", "feedback"), refs=[line], title=f"rules on {gs.label}")
        output.save_figure(fig, folder / f"rules{'' if len(items) == 1 else '-' + gs.label}.png")
    print(f"LLMFAO, unobserved pairs: {c.missing}; bootstrap over records, {c.boot} times, seed {c.seed}")
    show = "judge kind unique in_every in_some in_some_boot_lo in_some_boot_hi top_model top_mass_min top_mass_max"
    _print("", t["summary"], show + " condorcet smith_size cyclic_triads bt_leader bt_leader_worst_win_rate")
    _print("worst-case win rate of judge A's equilibria in judge B's rates game", t["transfer"])
    _print("unobserved pairs: the rates equilibrium set and its robust win rate", t["missing"])
    _print("per-prompt crowd sets, and the pooled set's worst-case win rate there", t["prompts"])
    for game, gap in reg.items():
        title = f"rules on {game} (regularized equilibrium's gap at tau={c.tau_line:g}: {gap:.4f})"
        _print(title, t["rules"][t["rules"].game == game])
    game = dict(name="llmfao", judges=list(JUDGES), missing=c.missing, kinds=list(KINDS))
    game |= dict(source="dustalov/llmfao@9e224e94 (CC BY 4.0)", rules_on=dict(zip(items, reg)))
    boot = dict(resamples=c.boot, cluster="records", seed=c.seed, support_tol=TOL)
    return {"steps": c.steps, "record_every": c.record_every, "bootstrap": boot, "game": game}


def _print(title: str, df, cols: str = "") -> None:
    """A table of ``df`` (its columns ``cols``, all when empty), numbers to 3 significant digits."""
    df = df[cols.split()] if cols else df
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
    rows = [[fmt(v) for v in r] for r in df.itertuples(False)]
    print(f"\n{title}\n" if title else "", tables.table(rows, list(df)), sep="")


def equilibria_figure(eq, missing, boot):
    """Per judge, every model's mass over the equilibrium set (thick bar: least to greatest; thin: the 95 %
    bootstrap of those ends; dot: the maximum-entropy equilibrium) in both games, rows in the crowd's
    Bradley-Terry order; left, the three judges' Bradley-Terry scores."""
    from matplotlib.figure import Figure

    scores = {j: eq[(eq.judge == j) & (eq.kind == "rates")].set_index("model")["bt_score"] for j in JUDGES}
    order = scores["crowd"].sort_values().index.tolist()
    fig = Figure(figsize=(15, 13), layout="constrained")
    axes = fig.subplots(1, 1 + len(JUDGES), sharey=True)
    for k, j in enumerate(JUDGES):
        axes[0].plot(scores[j][order].to_numpy(), range(len(order)), "o", ms=4, color=f"C{k}", label=j)
    axes[0].set_yticks(range(len(order)), order, fontsize=7)
    axes[0].set(xlabel="Bradley-Terry score (log-odds)", title="Bradley-Terry scores (crowd order)")
    axes[0].legend(fontsize=7)
    for ax, j in zip(axes[1:], JUDGES):
        for kind, dy, col in (("rates", -0.18, "C3"), ("margins", 0.18, "C4")):
            d = eq[(eq.judge == j) & (eq.kind == kind)].set_index("model").loc[order]
            yy = np.arange(len(order)) + dy
            ax.hlines(yy, d.lo, d.hi, color=col, lw=0.8, alpha=0.6)
            ax.hlines(yy, d.mass_min, d.mass_max, color=col, lw=3, label=f"{kind} game")
            ax.plot(d.max_entropy, yy, "o", ms=3, color="k")
        ax.set(xlim=(-0.02, 1.0), xlabel="mass over the equilibrium set", title=f"judge: {j}")
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"LLMFAO equilibrium sets: least to greatest mass (thick), 95% bootstrap of the ends over {boot} "
        f"resamples (thin), maximum-entropy equilibrium (dot); unobserved pairs: {missing}"
    )
    return fig


REFUSES = {
    "seeds": "one run per rule and feedback (from --seed); the uncertainty is the bootstrap's (--boot)",
}
STUDY_DECL, main = study.declare(globals(), refuses=REFUSES)
