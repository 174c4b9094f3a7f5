"""Real preferences: the LLMFAO comparisons of 59 language models as games, with uncertainty, judges and rules.

For each judge (the crowd, GPT-3.5, GPT-4; LLMFAO by D. Ustalov, CC BY 4.0, shipped in ``games/data/llmfao``):
the equilibrium of the rates game (NLHF) and of the margin game (the maximal lottery), with bootstrap intervals
of every model's mass and the probability that it is in the support; the support size, the Condorcet winner or
the Smith set, the share of cyclic triads and the Hodge curl share; the Bradley-Terry leader's worst-case win
rate and duality gap. Across judges: judge A's Nash policy scored in judge B's game; the equilibrium under each
treatment of the unobserved pairs (``tie``, ``bradley_terry``, ``worst_case``); per-prompt games against the
pooled one. Then the update rules on the crowd's rates game, with exact feedback and with sampled duels drawn
from the game: does COMAL reach the equilibrium, and how large is INPO's regularization bias there?

    python -m experiments.real_preferences [--quick] [--boot 1000] [--missing tie] [--rules ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .common import cli, figures, metadata, output, progress, rules, tables

STUDY = "real_preferences"
JUDGES = ("crowd", "gpt3", "gpt4")
KINDS = ("rates", "margins")
QUICK_RULES = ("inpo", "comal")
TOL = 1e-9  # a model is "in the support" above this mass


def main(argv=None) -> int:
    import algorithms
    import games

    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_count(p, "--boot", "bootstrap resamples per judge and kind (default 1000; --quick 10)")
    p.add_argument(
        "--missing",
        choices=games.comparisons.MISSING,
        default="tie",
        help="what the unobserved pairs are in the per-judge games and their bootstrap (default tie: no "
        "comparison, no margin); the study also compares all three on the full data (bradley_terry cannot be "
        "bootstrapped on the GPT judges: one judgment per pair leaves resamples where a model never loses, and "
        "the Bradley-Terry MLE does not exist)",
    )
    p.add_argument(
        "--cluster",
        choices=("records", "prompt"),
        default="records",
        help="bootstrap unit: records (judgments, default) or whole prompts",
    )
    cli.add_count(p, "--steps", "steps per rule on the crowd game (default 5000; --quick 200)")
    cli.add_rules(p, "every registered rule; --quick " + ",".join(QUICK_RULES))
    cli.add_eta_tau(p)
    cli.add_feedback(
        p,
        "sampled:64",
        who="the rules observe besides exact feedback, which they always run with (--feedback exact: exact only)",
    )
    cli.add_x(p, "steps", what="unit of the cost column of rules.csv and of the printed rules table")
    cli.add_hp(p)
    args = p.parse_args(argv)
    cli.setup(args)

    specs = rules.resolve_rules(p, args.rules, QUICK_RULES if args.quick else list(algorithms.RULES))
    steps = args.steps or (200 if args.quick else 5000)
    record_every = max(1, steps // 20)
    cli.check_schedule(p, steps, record_every)
    boot = args.boot or (10 if args.quick else 1000)
    if boot < 2:
        cli.fail(p, "--boot must be >= 2")
    cli.check_x(p, args.x, args.feedback)
    data = {j: games.datasets.llmfao(j) for j in JUDGES}
    crowd = games.comparisons.comparison_game(data["crowd"].pooled(), missing=args.missing, dtype=args.dtype)
    specs, hps = rules.study_hparams(p, specs, crowd, args, exact_too=True)
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, data, crowd, specs, hps, steps, record_every, boot, out.path)
    print(f"wrote {out.out}/")
    return 0


def _game(comparisons, kind, missing, dtype, prompts=False):
    import games

    c = comparisons if prompts else comparisons.pooled()
    return games.comparisons.comparison_game(c, kind=kind, missing=missing, dtype=dtype)


def _tv(x, y) -> float:
    return 0.5 * float(np.abs(np.asarray(x) - np.asarray(y)).sum())


def _support(labels, x) -> list[str]:
    return [labels[i] for i in np.argsort(-np.asarray(x)) if x[i] > TOL]


def run_study(args, data, crowd, specs, hps, steps, record_every, boot, folder) -> None:
    import pandas as pd

    import algorithms
    import games
    from games import social_choice as sc

    t0 = time.perf_counter()
    timer = progress.Timer()
    cluster = None if args.cluster == "records" else "prompt"
    eq_rows, summary, nash, fits, boots = [], [], {}, {}, {}
    total = (
        len(JUDGES) * (len(KINDS) + 2)
        + sum(1 if s.rule.exact_only or not args.feedback.stochastic else 2 for s in specs)
        + 1
    )
    with progress.progress(args, total, f"{STUDY}: judges, missing pairs, rules", "unit") as bar:
        for j in JUDGES:
            pooled = data[j].pooled()
            with timer(f"diagnostics {j}"):
                fit = fits[j] = games.bradley_terry_fit(pooled)
                triads = sc.cyclic_triads(pooled)
                hodge = sc.hodge_decomposition(pooled)
            rates = _game(data[j], "rates", args.missing, args.dtype)
            lead = sc.exploitability(rates, fit.leader)
            lead_boot = games.bootstrap(
                pooled,
                lambda g, leader=fit.leader: sc.exploitability(g, leader).worst_case_win_rate,
                n=boot,
                seed=args.seed,
                missing=args.missing,
            )
            lo, hi = lead_boot.interval()
            for kind in KINDS:
                bar.set_postfix_str(f"{j} {kind}: {boot} bootstrap LPs")
                game = _game(data[j], kind, args.missing, args.dtype)
                eq = games.solve(game)
                nash[j, kind] = eq.x
                with timer(f"bootstrap {j} {kind}"):
                    b = boots[j, kind] = games.bootstrap(
                        data[j] if cluster else pooled,
                        lambda g: games.solve(g).x,
                        n=boot,
                        seed=args.seed,
                        cluster=cluster,
                        kind=kind,
                        missing=args.missing,
                    )
                frame = b.to_frame(tol=TOL)
                for m, row in frame.iterrows():
                    eq_rows.append(
                        [j, kind, args.missing, m, row.estimate, row.lo, row.hi, row.support, fit.scores[m]]
                    )
                smith = sc.smith_set(game)
                sizes = (b.samples > TOL).sum(axis=1)
                summary.append(
                    {
                        "judge": j,
                        "kind": kind,
                        "missing": args.missing,
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
                        "smith_size": len(smith),
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
                bar.update()
            bar.update()
        # judge transfer: judge A's rates Nash in judge B's rates game
        transfer = []
        for a in JUDGES:
            for bj in JUDGES:
                g = _game(data[bj], "rates", args.missing, args.dtype)
                transfer.append([a, bj, float(sc.exploitability(g, nash[a, "rates"]).worst_case_win_rate)])
        # missing treatments
        missing_rows = []
        for j in JUDGES:
            base = None
            for m in games.comparisons.MISSING:
                g = _game(data[j], "rates", m, args.dtype)
                eq = games.solve(g)
                base = eq.x if base is None else base
                robust = float(
                    0.5
                    + (
                        eq.x @ np.asarray(games.from_comparisons(data[j].pooled(), missing="worst_case").A)
                    ).min()
                )
                missing_rows.append(
                    [
                        j,
                        m,
                        int((eq.x > TOL).sum()),
                        _tv(eq.x, base),
                        robust,
                        "; ".join(_support(g.labels, eq.x)[:8]),
                    ]
                )
            bar.update()
        # per-prompt games against the pooled one (crowd, rates)
        ctx = _game(data["crowd"], "rates", args.missing, args.dtype, prompts=True)
        eqc = games.solve(ctx)
        pooled_x = nash["crowd", "rates"]
        prompt_rows = []
        A = np.asarray(ctx.A)
        for c, name in enumerate(data["crowd"].prompts):
            prompt_rows.append(
                [
                    name,
                    float(np.asarray(ctx.weights)[c]),
                    int((eqc.x[c] > TOL).sum()),
                    _tv(eqc.x[c], pooled_x),
                    float(0.5 + (pooled_x @ A[c]).min()),
                    ctx.labels[int(np.argmax(eqc.x[c]))],
                ]
            )
        bar.update()
        # rules on the crowd game, exact and sampled feedback
        frames, finals = [], []
        reg = games.regularized_equilibrium(crowd, args.tau)
        exact_only = [s.name for s in specs if s.rule.exact_only]
        if exact_only and args.feedback.stochastic:
            cli.note(
                f"{', '.join(exact_only)} read the whole game: exact feedback only "
                f"(not {cli.feedback_spec(args.feedback)})"
            )
        for s in specs:
            feedbacks = [("exact", games.feedback.exact())]
            if not s.rule.exact_only and args.feedback.stochastic:
                feedbacks.append((cli.feedback_spec(args.feedback), args.feedback))
            for fb_name, fb in feedbacks:
                bar.set_postfix_str(f"{s.name} {fb_name}, {steps} steps")
                with timer(f"{s.name} {fb_name}"):
                    tr = algorithms.run(
                        s.rule,
                        crowd,
                        steps=steps,
                        record_every=record_every,
                        key=args.seed,
                        feedback=fb,
                        **hps[s.name],
                    )
                    gap = np.asarray(tr.metrics["gap"])
                m, _ = tables.tidy(
                    tr,
                    experiment=STUDY,
                    game=f"llmfao:judge=crowd,missing={args.missing}",
                    rule=s.name,
                    seed=args.seed,
                )
                m["feedback"] = fb_name
                frames.append(m)
                pi = np.asarray(tr.policy.x)
                finals.append(
                    [
                        s.name,
                        fb_name,
                        float(gap[-1]),
                        float(sc.exploitability(crowd, pi).worst_case_win_rate),
                        _tv(pi, pooled_x),
                        int((pi > 1e-3).sum()),
                        float(tables.cost(tr, args.x)[-1]),
                    ]
                )
                bar.update()
    with timer("write"):
        eq_df = pd.DataFrame(
            eq_rows,
            columns=[
                "judge",
                "kind",
                "missing",
                "model",
                "mass",
                "lo",
                "hi",
                "support_probability",
                "bt_score",
            ],
        )
        summary_df = pd.DataFrame(summary)
        transfer_df = pd.DataFrame(transfer, columns=["nash_of", "scored_in", "worst_case_win_rate"])
        missing_df = pd.DataFrame(
            missing_rows,
            columns=["judge", "missing", "support", "tv_to_tie", "robust_win_rate", "top_support"],
        )
        prompts_df = pd.DataFrame(
            prompt_rows,
            columns=[
                "prompt",
                "weight",
                "support",
                "tv_to_pooled",
                "pooled_nash_worst_win_rate",
                "top_model",
            ],
        )
        rules_df = pd.DataFrame(
            finals,
            columns=[
                "rule",
                "feedback",
                "final_gap",
                "worst_case_win_rate",
                "tv_to_nash",
                "support_1e-3",
                args.x,
            ],
        )
        trace = tables.combine(frames, hp_order=("feedback", "eta", "tau", "start_noise"))
        for name, df in (
            ("equilibria.csv", eq_df),
            ("summary.csv", summary_df),
            ("transfer.csv", transfer_df),
            ("missing.csv", missing_df),
            ("prompts.csv", prompts_df),
            ("rules.csv", rules_df),
            ("trace.csv", trace),
        ):
            output.write_frame(folder / name, df)
        output.save_figure(
            equilibria_figure(eq_df, fits, args.missing, boot),
            folder / "equilibria.png",
            drawn_by=figures.drawn_by(equilibria_figure),
        )
        output.save_figure(equilibria_figure(eq_df, fits, args.missing, boot), folder / "equilibria.pdf")
        output.save_figure(
            transfer_figure(transfer_df, missing_df),
            folder / "judges.png",
            drawn_by=figures.drawn_by(transfer_figure),
        )
        output.save_figure(
            rules_figure(trace, reg.gap, args.tau),
            folder / "rules.png",
            drawn_by=figures.drawn_by(rules_figure),
        )
    files = [
        "equilibria.csv",
        "summary.csv",
        "transfer.csv",
        "missing.csv",
        "prompts.csv",
        "rules.csv",
        "trace.csv",
        "equilibria.png",
        "equilibria.pdf",
        "judges.png",
        "rules.png",
    ]
    meta = metadata.metadata(
        args,
        rules=metadata.rules_meta(specs),
        hyperparameters={
            "eta": args.eta,
            "tau": args.tau,
            "start_noise": 0.0,
            "per_rule": {s.name: rules.effective_hparams(s.rule, hps[s.name]) for s in specs},
        },
        steps=steps,
        record_every=record_every,
        bootstrap={"resamples": boot, "cluster": args.cluster, "seed": args.seed, "support_tol": TOL},
        game={
            "name": "llmfao",
            "judges": list(JUDGES),
            "missing": args.missing,
            "kinds": list(KINDS),
            "source": "dustalov/llmfao@9e224e94 (CC BY 4.0), games/data/llmfao",
        },
        feedback=cli.feedback_spec(args.feedback),
        x_axis=args.x,
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=files,
    )
    metadata.write_metadata(folder, meta)
    print_tables(summary_df, transfer_df, missing_df, prompts_df, rules_df, boot, args, reg.gap)


def print_tables(summary, transfer, missing, prompts, rules_df, boot, args, reg_gap) -> None:
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
        f"LLMFAO, unobserved pairs: {args.missing}; bootstrap over {args.cluster}, {boot} resamples, seed {args.seed}"
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
    print(
        f"\nrules on the crowd rates game (regularized equilibrium's gap at tau={args.tau:g}: {reg_gap:.4f})"
    )
    print(
        tables.table(
            [
                [
                    r.rule,
                    r.feedback,
                    f"{r.final_gap:.3e}",
                    f"{r.worst_case_win_rate:.4f}",
                    f"{r.tv_to_nash:.3f}",
                    f"{getattr(r, args.x):.6g}",
                ]
                for r in rules_df.itertuples()
            ],
            [
                "rule",
                "feedback",
                "final gap",
                "worst-case win rate",
                "TV to LP Nash",
                args.x.replace("_", " "),
            ],
        )
    )


def equilibria_figure(eq, fits, missing, boot):
    from matplotlib.figure import Figure

    order = fits["crowd"].scores.sort_values().index.tolist()  # crowd BT ranking, best at the top
    fig = Figure(figsize=(15, 13), layout="constrained")
    axes = fig.subplots(
        1, 1 + len(JUDGES), sharey=True, gridspec_kw={"width_ratios": [1.1] + [1] * len(JUDGES)}
    )
    colors = {"crowd": "C0", "gpt3": "C1", "gpt4": "C2"}
    ax = axes[0]
    for j in JUDGES:
        s = fits[j].scores
        ax.plot(
            s[order].to_numpy(),
            range(len(order)),
            "o",
            ms=4,
            color=colors[j],
            label=f"{j} (leader: {fits[j].leader})",
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


def rules_figure(trace, reg_gap, tau, level: float = 1e-6):
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
    fig.suptitle(
        "update rules on the crowd's rates game (59 models); panels by what each trace does", fontsize=11
    )
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
