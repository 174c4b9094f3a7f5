"""Real preferences: the LLMFAO comparisons of 59 language models as games, with uncertainty, judges and rules.

For each judge (the crowd, GPT-3.5, GPT-4; LLMFAO by D. Ustalov, CC BY 4.0, shipped in ``games/data/llmfao``):
the equilibrium of the rates game (NLHF) and of the margin game (the maximal lottery), with bootstrap intervals
of every model's mass and the probability that it is in the support; the support size, the Condorcet winner or
the Smith set, the share of cyclic triads and the Hodge curl share; the Bradley-Terry leader's worst-case win
rate and duality gap. Across judges: judge A's Nash policy scored in judge B's game; the equilibrium under each
treatment of the unobserved pairs (``tie``, ``bradley_terry``, ``worst_case``); per-prompt games against the
pooled one. Then the update rules on ``--games`` (default the crowd's rates game), with exact feedback and with
``--feedback``: does COMAL reach the equilibrium, and how large is INPO's regularization bias there?

    python -m experiments real_preferences [--quick] [--boot 1000] [--missing tie] [--rules ...] [--games ...]
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np

from .common import cli, figures, output, rules, study, tables

STUDY = "real_preferences"
JUDGES = ("crowd", "gpt3", "gpt4")
KINDS = ("rates", "margins")
MISSING = ("tie", "bradley_terry", "worst_case")  # games.comparisons.MISSING (a test keeps them equal)
TOL = 1e-9  # a model is "in the support" above this mass


def _boot(text) -> int:
    n = cli.positive_int("--boot")(str(text))
    if n < 2:
        raise ValueError("--boot must be >= 2")
    return n


@dataclass(frozen=True)
class Config(study.Base):
    rules: tuple = study.rules("all", "the rules run on --games", quick="inpo,comal")
    games: tuple = study.games(
        "crowd",
        "the games the rules run on (a judge: its pooled rates game, unobserved pairs as --missing)",
        named=JUDGES,
    )
    comparisons: str = study.comparisons("a game the rules run on too")
    feedback: str = study.feedback(
        "sampled:64",
        "what the rules observe besides exact feedback, which they always run with (exact: only)",
    )
    hp: tuple = study.hp()
    steps: int = study.steps(
        5000, "steps per rule and game (default 5000); metrics every steps/20", quick=200
    )
    x: str = study.x_axis("steps", "unit of the cost column of rules.csv and of the printed rules table")
    jobs: int = study.jobs()
    boot: int = study.option(
        1000, "bootstrap resamples per judge and kind (default 1000)", quick=10, parse=_boot
    )
    missing: str = study.option(
        "tie",
        "what the unobserved pairs are in the per-judge games and their bootstrap (default tie: no comparison, "
        "no margin); the study also compares all three on the full data (bradley_terry cannot be bootstrapped "
        "on the GPT judges: one judgment per pair leaves resamples where a model never loses)",
        choices=MISSING,
    )
    cluster: str = study.option(
        "records", "bootstrap unit: records (judgments) or whole prompts", choices=("records", "prompt")
    )
    tau_line: float = study.option(0.1, "tau of the regularized-equilibrium line of rules.png (default 0.1)")

    @property
    def record_every(self) -> int:
        return max(1, self.steps // 20)


def _rules_game(c: Config, item: str):
    judge = f"llmfao:judge={item},missing={c.missing}" if item in JUDGES else item
    return study.load_game(judge, c.dtype, c.seed)


def _feedbacks(c: Config, source: str) -> list[str]:
    stochastic = cli.feedback_type(c.feedback).stochastic
    return ["exact"] + ([c.feedback] if stochastic and not study.load_rule(source).exact_only else [])


def prepare(c: Config) -> Config:
    """--x against --feedback; every rule's hyperparameters on every game (they all run with exact feedback)."""
    study.check_cost(c)
    for item in study.game_items(c):
        study.check_rules(c, _rules_game(c, item).game, cli.feedback_type("exact"))
    exact_only = [study.load_rule(t).name for t in c.rules if len(_feedbacks(c, t)) == 1]
    if exact_only and c.feedback != "exact":
        cli.note(f"{', '.join(exact_only)} read the whole game: exact feedback only (not {c.feedback})")
    return c


def units(c: Config):
    judges = [(("judge", j), ("judge", j)) for j in JUDGES]  # the bootstrap LPs: the longest
    runs = [(("rules", i, r, f),) * 2 for i in study.game_items(c) for r in c.rules for f in _feedbacks(c, r)]
    return [*judges, *runs, *[((w,), (w,)) for w in ("transfer", "missing", "prompts")]]


def simulate(c: Config, what: str, *args) -> dict:
    return {
        "judge": _judge,
        "rules": _rules,
        "transfer": _transfer,
        "missing": _missing,
        "prompts": _prompts,
    }[what](c, *args)


@functools.cache
def _llmfao(judge: str):
    import games

    return games.datasets.llmfao(judge)


def _game(comparisons, kind, missing, dtype, prompts=False):
    import games

    c = comparisons if prompts else comparisons.pooled()
    return games.comparisons.comparison_game(c, kind=kind, missing=missing, dtype=dtype)


@functools.cache
def _nash(c: Config, judge: str):
    import games

    return games.solve(_game(_llmfao(judge), "rates", c.missing, c.dtype)).x


def _tv(x, y) -> float:
    return 0.5 * float(np.abs(np.asarray(x) - np.asarray(y)).sum())


def _support(labels, x) -> list[str]:
    return [labels[i] for i in np.argsort(-np.asarray(x)) if x[i] > TOL]


def _judge(c: Config, j: str) -> dict:
    import pandas as pd

    import games
    from games import social_choice as sc

    data = _llmfao(j)
    pooled = data.pooled()
    fit = games.bradley_terry_fit(pooled)
    triads, hodge = sc.cyclic_triads(pooled), sc.hodge_decomposition(pooled)
    lead = sc.exploitability(_game(data, "rates", c.missing, c.dtype), fit.leader)
    lo, hi = games.bootstrap(
        pooled,
        lambda g: sc.exploitability(g, fit.leader).worst_case_win_rate,
        n=c.boot,
        seed=c.seed,
        missing=c.missing,
    ).interval()
    eq_rows, summary = [], []
    for kind in KINDS:
        game = _game(data, kind, c.missing, c.dtype)
        eq = games.solve(game)
        b = games.bootstrap(
            data if c.cluster == "prompt" else pooled,
            lambda g: games.solve(g).x,
            n=c.boot,
            seed=c.seed,
            cluster="prompt" if c.cluster == "prompt" else None,
            kind=kind,
            missing=c.missing,
        )
        for m, row in b.to_frame(tol=TOL).iterrows():
            eq_rows.append([j, kind, c.missing, m, row.estimate, row.lo, row.hi, row.support, fit.scores[m]])
        sizes = (b.samples > TOL).sum(axis=1)
        summary.append(
            {
                "judge": j,
                "kind": kind,
                "missing": c.missing,
                "records": pooled.num_records,
                "support": int((eq.x > TOL).sum()),
                "support_boot_median": float(np.median(sizes)),
                "support_boot_lo": float(np.quantile(sizes, 0.025)),
                "support_boot_hi": float(np.quantile(sizes, 0.975)),
                "stable_models": int((b.support_probability(TOL) >= 0.95).sum()),
                "top_model": game.labels[int(np.argmax(eq.x))],
                "top_mass": float(eq.x.max()),
                "value": eq.value,
                "condorcet": sc.condorcet_winner(game) or "",
                "smith_size": len(sc.smith_set(game)),
                "cyclic_triads": triads.share,
                "curl_share": hodge.curl,
                "bt_leader": fit.leader,
                "bt_leader_in_support": bool(eq.x[game.labels.index(fit.leader)] > TOL),
                "bt_leader_worst_win_rate": lead.worst_case_win_rate,
                "bt_leader_worst_win_rate_lo": float(lo),
                "bt_leader_worst_win_rate_hi": float(hi),
                "bt_leader_gap": lead.gap,
                "bt_leader_beaten_by": lead.best_response,
            }
        )
    cols = ["judge", "kind", "missing", "model", "mass", "lo", "hi", "support_probability", "bt_score"]
    return {"equilibria": pd.DataFrame(eq_rows, columns=cols), "summary": pd.DataFrame(summary)}


def _transfer(c: Config) -> dict:
    """Judge A's rates Nash policy scored in judge B's rates game."""
    import pandas as pd

    from games import social_choice as sc

    rows = [
        [
            a,
            b,
            float(
                sc.exploitability(
                    _game(_llmfao(b), "rates", c.missing, c.dtype), _nash(c, a)
                ).worst_case_win_rate
            ),
        ]
        for a in JUDGES
        for b in JUDGES
    ]
    return {"transfer": pd.DataFrame(rows, columns=["nash_of", "scored_in", "worst_case_win_rate"])}


def _missing(c: Config) -> dict:
    """Each judge's rates equilibrium under every treatment of the unobserved pairs."""
    import pandas as pd

    import games

    rows = []
    for j in JUDGES:
        base, worst = None, np.asarray(games.from_comparisons(_llmfao(j).pooled(), missing="worst_case").A)
        for m in games.comparisons.MISSING:
            g = _game(_llmfao(j), "rates", m, c.dtype)
            x = games.solve(g).x
            base = x if base is None else base
            rows.append(
                [
                    j,
                    m,
                    int((x > TOL).sum()),
                    _tv(x, base),
                    float(0.5 + (x @ worst).min()),
                    "; ".join(_support(g.labels, x)[:8]),
                ]
            )
    cols = ["judge", "missing", "support", "tv_to_tie", "robust_win_rate", "top_support"]
    return {"missing": pd.DataFrame(rows, columns=cols)}


def _prompts(c: Config) -> dict:
    """Per-prompt crowd games against the pooled one."""
    import pandas as pd

    import games

    ctx = _game(_llmfao("crowd"), "rates", c.missing, c.dtype, prompts=True)
    eqc, pooled_x, A = games.solve(ctx), _nash(c, "crowd"), np.asarray(ctx.A)
    rows = [
        [
            name,
            float(np.asarray(ctx.weights)[i]),
            int((eqc.x[i] > TOL).sum()),
            _tv(eqc.x[i], pooled_x),
            float(0.5 + (pooled_x @ A[i]).min()),
            ctx.labels[int(np.argmax(eqc.x[i]))],
        ]
        for i, name in enumerate(_llmfao("crowd").prompts)
    ]
    cols = ["prompt", "weight", "support", "tv_to_pooled", "pooled_nash_worst_win_rate", "top_model"]
    return {"prompts": pd.DataFrame(rows, columns=cols)}


@functools.cache
def _lp(c: Config, item: str):
    import games

    return games.solve(_rules_game(c, item).game).x


def _rules(c: Config, item: str, source: str, fb: str) -> dict:
    import pandas as pd

    import algorithms
    import games
    from games import social_choice as sc

    gs, rule = _rules_game(c, item), study.load_rule(source)
    feedback = games.feedback.exact() if fb == "exact" else cli.feedback_type(fb)
    tr = algorithms.run(
        rule,
        gs.game,
        steps=c.steps,
        record_every=c.record_every,
        key=c.seed,
        feedback=feedback,
        **study.hparams(c, rule),
    )
    m, _ = tables.tidy(tr, experiment=STUDY, game=gs.label, rule=rule.name, seed=c.seed)
    m["feedback"] = fb
    pi = np.asarray(tr.policy.x)
    row = [
        gs.label,
        rule.name,
        fb,
        float(np.asarray(tr.metrics["gap"])[-1]),
        float(sc.exploitability(gs.game, pi).worst_case_win_rate),
        _tv(pi, _lp(c, item)),
        int((pi > 1e-3).sum()),
        float(tables.cost(tr, c.x)[-1]),
    ]
    cols = ["game", "rule", "feedback", "final_gap", "worst_case_win_rate", "tv_to_nash", "support_1e-3", c.x]
    return {"trace": m, "rules": pd.DataFrame([row], columns=cols)}


def report(c: Config, t: dict, folder) -> dict:
    import games

    eq = t["equilibria"]
    for name, fig, fn in (
        ("equilibria", equilibria_figure(eq, t["summary"], c.missing, c.boot), equilibria_figure),
        ("judges", transfer_figure(t["transfer"], t["missing"]), transfer_figure),
    ):
        output.save_figure(fig, folder / f"{name}.png", drawn_by=figures.drawn_by(fn))
    output.save_figure(equilibria_figure(eq, t["summary"], c.missing, c.boot), folder / "equilibria.pdf")
    reg = {}
    for item in study.game_items(c):
        gs = _rules_game(c, item)
        reg[gs.label] = games.regularized_equilibrium(gs.game, c.tau_line).gap
        trace = t["trace"][t["trace"]["game"] == gs.label]
        tag = "" if len(study.game_items(c)) == 1 else f"-{gs.label}"
        output.save_figure(
            rules_figure(trace, reg[gs.label], c.tau_line, gs.label),
            folder / f"rules{tag}.png",
            drawn_by=figures.drawn_by(rules_figure),
        )
    print_tables(t, c, reg)
    per_rule = {}
    for s in c.rules:
        rule = study.load_rule(s)
        per_rule[rule.name] = rules.effective_hparams(rule, study.hparams(c, rule))
    return {
        "rules": [{"name": study.load_rule(s).name, "source": s} for s in c.rules],
        "hyperparameters": {"per_rule": per_rule},
        "steps": c.steps,
        "record_every": c.record_every,
        "bootstrap": {"resamples": c.boot, "cluster": c.cluster, "seed": c.seed, "support_tol": TOL},
        "game": {
            "name": "llmfao",
            "judges": list(JUDGES),
            "missing": c.missing,
            "kinds": list(KINDS),
            "source": "dustalov/llmfao@9e224e94 (CC BY 4.0), games/data/llmfao",
            "rules_on": {study.game_items(c)[i]: lab for i, lab in enumerate(reg)},
        },
    }


def print_tables(t: dict, c: Config, reg: dict) -> None:
    summary, transfer, missing, prompts, boot = (
        t["summary"],
        t["transfer"],
        t["missing"],
        t["prompts"],
        c.boot,
    )
    rows = [
        [
            r.judge,
            r.kind,
            f"{r.support} ({r.support_boot_lo:.0f}-{r.support_boot_hi:.0f})",
            r.stable_models,
            f"{r.top_model} {r.top_mass:.2f}",
            r.condorcet or "none",
            r.smith_size,
            f"{r.cyclic_triads:.3f}",
            f"{r.curl_share:.2f}",
            r.bt_leader,
            "yes" if r.bt_leader_in_support else "no",
            f"{r.bt_leader_worst_win_rate:.3f} "
            f"({r.bt_leader_worst_win_rate_lo:.2f}-{r.bt_leader_worst_win_rate_hi:.2f})",
            f"{r.bt_leader_gap:.3f}",
        ]
        for r in summary.itertuples()
    ]
    header = [
        "judge",
        "game",
        f"support (95% of {boot} boot.)",
        "models in >=95%",
        "top mass",
        "Condorcet",
        "Smith size",
        "cyclic triads",
        "curl share",
        "BT leader",
        "leader in support",
        "leader worst win rate (95%)",
        "leader gap",
    ]
    print(
        f"LLMFAO, unobserved pairs: {c.missing}; bootstrap over {c.cluster}, {boot} resamples, seed {c.seed}"
    )
    print(tables.table(rows, header))
    print(
        "\njudge transfer: worst-case win rate of judge A's rates Nash in judge B's game (rows A, columns B)"
    )
    piv = transfer.pivot(index="nash_of", columns="scored_in", values="worst_case_win_rate").loc[
        list(JUDGES), list(JUDGES)
    ]
    print(
        tables.table(
            [[a, *[f"{v:.3f}" for v in piv.loc[a]]] for a in JUDGES], ["Nash of \\ game of", *JUDGES]
        )
    )
    print(
        "\nunobserved pairs (rates game): support, TV distance to the 'tie' equilibrium, worst win rate over "
        "every completion of the unobserved pairs"
    )
    print(
        tables.table(
            [
                [r.judge, r.missing, r.support, f"{r.tv_to_tie:.3f}", f"{r.robust_win_rate:.3f}"]
                for r in missing.itertuples()
            ],
            ["judge", "missing", "support", "TV to tie", "robust win rate"],
        )
    )
    print("\nper-prompt crowd games against the pooled one")
    print(
        tables.table(
            [
                [
                    r.prompt,
                    f"{r.weight:.3f}",
                    r.support,
                    f"{r.tv_to_pooled:.3f}",
                    f"{r.pooled_nash_worst_win_rate:.3f}",
                    r.top_model,
                ]
                for r in prompts.itertuples()
            ],
            [
                "prompt",
                "weight",
                "support",
                "TV to pooled Nash",
                "pooled Nash's worst win rate here",
                "top model",
            ],
        )
    )
    for game, reg_gap in reg.items():
        d = t["rules"][t["rules"]["game"] == game]
        print(f"\nrules on {game} (regularized equilibrium's gap at tau={c.tau_line:g}: {reg_gap:.4f})")
        print(
            tables.table(
                [
                    [
                        r.rule,
                        r.feedback,
                        f"{r.final_gap:.3e}",
                        f"{r.worst_case_win_rate:.4f}",
                        f"{r.tv_to_nash:.3f}",
                    ]
                    + [f"{getattr(r, c.x):.6g}"]
                    for r in d.itertuples()
                ],
                [
                    "rule",
                    "feedback",
                    "final gap",
                    "worst-case win rate",
                    "TV to LP Nash",
                    c.x.replace("_", " "),
                ],
            )
        )


def equilibria_figure(eq, summary, missing, boot):
    """Per judge: the Bradley-Terry scores (``eq.bt_score``) and every model's equilibrium mass with its
    bootstrap interval in the rates and the margins game, rows in the crowd's Bradley-Terry order."""
    from matplotlib.figure import Figure

    scores = {j: eq[(eq.judge == j) & (eq.kind == "rates")].set_index("model")["bt_score"] for j in JUDGES}
    leaders = summary.groupby("judge")["bt_leader"].first()
    order = scores["crowd"].sort_values().index.tolist()  # crowd BT ranking, best at the top
    fig = Figure(figsize=(15, 13), layout="constrained")
    axes = fig.subplots(
        1, 1 + len(JUDGES), sharey=True, gridspec_kw={"width_ratios": [1.1] + [1] * len(JUDGES)}
    )
    colors = {"crowd": "C0", "gpt3": "C1", "gpt4": "C2"}
    ax = axes[0]
    for j in JUDGES:
        s = scores[j]
        ax.plot(
            s[order].to_numpy(),
            range(len(order)),
            "o",
            ms=4,
            color=colors[j],
            label=f"{j} (leader: {leaders[j]})",
        )
    ax.set_yticks(range(len(order)), order, fontsize=7)
    ax.set_xlabel("Bradley-Terry score (log-odds)")
    ax.set_title("Bradley-Terry ranking\n(rows: crowd order, best at top)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    marks = {"rates": ("o", -0.18), "margins": ("s", 0.18)}
    for ax, j in zip(axes[1:], JUDGES):
        for kind, (mk, dy) in marks.items():
            d = eq[(eq.judge == j) & (eq.kind == kind)].set_index("model").loc[order]
            yy = np.arange(len(order)) + dy
            ax.hlines(yy, d.lo, d.hi, color="C3" if kind == "rates" else "C4", lw=1.5, alpha=0.7)
            ax.plot(d["mass"], yy, mk, ms=4, color="C3" if kind == "rates" else "C4", label=f"{kind} game")
        ax.set_xlim(-0.02, 1.0)
        ax.set_xlabel("equilibrium mass")
        ax.set_title(f"judge: {j}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"LLMFAO equilibria per judge: mass on the full data (dot) and 95% bootstrap interval (bar) over {boot} "
        f"resamples; unobserved pairs: {missing}",
        fontsize=12,
    )
    return fig


def transfer_figure(transfer, missing):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    M = transfer.pivot(index="nash_of", columns="scored_in", values="worst_case_win_rate").loc[
        list(JUDGES), list(JUDGES)
    ]
    im = ax.imshow(M.to_numpy(), vmin=0, vmax=0.5, cmap="viridis")
    for (i, jj), v in np.ndenumerate(M.to_numpy()):
        ax.text(jj, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.3 else "k", fontsize=11)
    ax.set_xticks(range(len(JUDGES)), JUDGES)
    ax.set_yticks(range(len(JUDGES)), JUDGES)
    ax.set_xlabel("game of judge B")
    ax.set_ylabel("Nash policy of judge A")
    ax.set_title(
        "worst-case win rate of A's Nash in B's game\n(0.5 on the diagonal: a Nash policy)", fontsize=10
    )
    fig.colorbar(im, ax=ax, shrink=0.8)
    width = 0.25
    for k, m in enumerate(("tie", "bradley_terry", "worst_case")):
        d = missing[missing.missing == m].set_index("judge").loc[list(JUDGES)]
        bx.bar(np.arange(len(JUDGES)) + (k - 1) * width, d.support, width, label=f"missing={m}")
    bx.set_xticks(range(len(JUDGES)), JUDGES)
    bx.set_ylabel("support size of the rates equilibrium")
    bx.set_title("how the unobserved pairs change the equilibrium", fontsize=10)
    bx.legend(fontsize=8)
    bx.grid(alpha=0.3, axis="y")
    return fig


def rules_figure(trace, reg_gap, tau, game: str, level: float = 1e-6):
    """A row per feedback; in each row a panel per measured behaviour of the rules' gap traces
    (:func:`experiments.common.figures.behaviour` at ``level``); curves equal to round-off drawn once, named
    together."""
    from matplotlib.figure import Figure

    gap = trace[trace.metric == "gap"]
    feedbacks = list(dict.fromkeys(gap.feedback))
    rows = []
    for fb in feedbacks:
        part = gap[gap.feedback == fb]
        curves = {lab: tables.curve(part, "gap", "step", rule=lab) for lab in dict.fromkeys(part.rule)}
        rows.append((fb, curves, figures.by_behaviour({k: c[1] for k, c in curves.items()}, level)))
    k = max(len(groups) for *_, groups in rows)
    fig = Figure(figsize=(4.6 * k, 3.6 * len(feedbacks)), layout="constrained")
    axes = fig.subplots(len(feedbacks), k, sharey=True, sharex=True, squeeze=False)
    for r, (fb, curves, groups) in enumerate(rows):
        style = figures.styles(groups)
        for c in range(len(groups), k):
            axes[r, c].axis("off")
        for c, (kind, labs) in enumerate(groups.items()):
            ax = axes[r, c]
            lines = figures.draw_curves(ax, {lab: curves[lab] for lab in labs}, style)
            ref = ax.axhline(reg_gap, color="k", ls=":", lw=1, label=f"regularized equilibrium (τ={tau:g})")
            ax.set_yscale("log")
            ax.set_title(f"{figures.panel_title(kind, level)}\nfeedback: {fb}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.set_xlabel("step")
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.legend(handles=[*lines, ref], fontsize=7, loc="lower left")
        axes[r, 0].set_ylabel(f"duality gap (last iterate)\n(exact zeros at {figures.PLOT_FLOOR:g})")
    fig.suptitle(f"update rules on {game}; panels by what each trace does", fontsize=11)
    return fig


STUDY_DECL = study.Study(
    STUDY,
    __doc__.splitlines()[0],
    Config,
    units,
    simulate,
    report,
    prepare,
    refuses={
        "schedules": "the rules run at constant step sizes",
        "seeds": "one run per rule and feedback (from --seed); the uncertainty is the bootstrap's (--boot)",
    },
)
main = study.command(STUDY_DECL)

if __name__ == "__main__":
    sys.exit(cli.entry(main))
