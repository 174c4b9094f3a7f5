"""Responses as token sequences: loss-based rules over tabular, autoregressive and transformer policies.

Games (:func:`games.sequence_game`): positional rock-paper-scissors and the GPM embedding judge at (V, L) =
(3, 4) and (4, 4), and the reward-plus-cycle judge at (3, 4) with a verbosity term favouring token ``a``
(``cycle`` 0.5, ``verbosity`` 1). Policies: ``tabular`` (one logit per sequence, the leaves), ``autoregressive``
(tabular per prefix) and ``transformer`` (d_model 32, 1 layer, 2 heads; Adam 1e-2 — the tabular policies use
``algorithms.loss_based``'s SGD 0.5). Rules, each as ``algorithms.loss_based`` with M = 10 optimizer steps:
INPO, COMAL(INPO) (reference re-centred every ``--comal-every`` iterations), DPO and EGPO (eta 0.5, tau 0.1,
DPO beta 2). Feedback: the population loss (exact) and K = 64 and 1024 judged pairs per iteration (hard
labels; drawn token by token for the sequence policies), ``--seeds`` seeds (one compiled ``sweep`` covers the
seeds and both K). Every run starts from the same perturbed policy (``start_noise`` 1, a fixed base logit as
``loss_based`` documents; positional RPS's uniform policy is already a Nash policy).

Records the last-iterate duality gap against iterations and comparisons, and the mass on the judge's favoured
token (``favoured_mass``: the expected share of positions holding ``a``). Also: the best gap the transformer
family reaches when the gap itself is minimised over its parameters (Adam, ``--direct-steps``), and each
game's Nash policy's mass on ``a`` (exact LP).

Writes ``trace.csv`` (tidy; ``policy``, ``feedback``, ``pairs`` columns), ``summary.csv``, ``direct.csv``,
``sequences.png`` and ``metadata.json`` to ``results/sequences/`` (``--quick``: ``results/sequences-quick/``).

    python -m experiments.sequences           # full: 5 games x 3 policies x 4 rules x 3 feedbacks
    python -m experiments.sequences --quick   # verbosity game, autoregressive + transformer, INPO, 20 iterations
"""

from __future__ import annotations

import time

import numpy as np

from .common import cli, metadata, output, progress, tables

STUDY = "sequences"
ETA, TAU, BETA = 0.5, 0.1, 2.0
RULES = {"inpo": "inpo", "comal(inpo)": "inpo", "dpo": "dpo", "egpo": "egpo"}  # label -> loss
POLICIES = ("tabular", "autoregressive", "transformer")
#: name -> (vocab, length, judge, options)
GAMES = {
    "rps3x4": (3, 4, "positional_rps", {}),
    "rps4x4": (4, 4, "positional_rps", {}),
    "gpm3x4": (3, 4, "embedding", {}),
    "gpm4x4": (4, 4, "embedding", {}),
    "verbose3x4": (3, 4, "reward_cycle", {"cycle": 0.5, "verbosity": 1.0, "favoured": 0}),
}
FAVOURED = 0  # the token every game's favoured_mass reads (the verbosity game's judge favours it)
PAIRS = (64, 1024)
START_NOISE = 1.0
WIDTH = dict(d_model=32, layers=1, heads=2)


def favoured_mass(game, x, y):
    """``sum_y pi(y) #{t: y_t = a} / L``: the expected share of positions holding the favoured token."""
    import games

    del y  # self-play
    return games.sequences.token_mass(x, game.sequences, FAVOURED)


def build_game(name: str, dtype: str):
    import games

    V, L, judge, options = GAMES[name]
    return games.sequence_game(V, L, judge, dtype=dtype, **options)


_OPTIMIZERS = {}


def make_policy(kind: str, game):
    """The policy and its optimizer (``None``: ``loss_based``'s default SGD 0.5)."""
    import optax

    from algorithms import policies

    if kind == "tabular":
        return policies.tabular(game), None
    if kind == "autoregressive":
        return policies.autoregressive(game), None
    if "adam" not in _OPTIMIZERS:
        _OPTIMIZERS["adam"] = optax.adam(1e-2)  # one object: the rule is cached on it
    return policies.transformer(game, **WIDTH), _OPTIMIZERS["adam"]


def rule_for(label: str, feedback: str, policy, optimizer, comal_every: int):
    import algorithms

    k = None if feedback == "population" else max(PAIRS)
    rule = algorithms.loss_based(RULES[label], policy, optimizer=optimizer, pairs=k)
    return algorithms.comal(rule, comal_every) if label.startswith("comal") else rule


def hparams(label: str) -> dict:
    return {"beta": BETA} if RULES[label] == "dpo" else {"eta": ETA, "tau": TAU}


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument(
        "--rules", default=None, help=f"comma-separated subset of {', '.join(RULES)} (default: all)"
    )
    p.add_argument(
        "--policies", default=None, help=f"comma-separated subset of {', '.join(POLICIES)} (default: all)"
    )
    p.add_argument(
        "--games", default=None, help=f"comma-separated subset of {', '.join(GAMES)} (default: all)"
    )
    cli.add_count(p, "--steps", "iterations per run, a multiple of 10 (default 200; --quick 20)")
    cli.add_count(p, "--seeds", "seeds of the sampled runs (default 16; --quick 2)")
    cli.add_count(p, "--comal-every", "COMAL's iterations between reference updates (default 20; --quick 10)")
    cli.add_count(
        p,
        "--direct-steps",
        "Adam steps minimising the transformer's gap directly (default 2000; --quick 50)",
    )
    args = p.parse_args(argv)
    rules = cli.subset(p, "--rules", args.rules, ("inpo",) if args.quick else tuple(RULES), RULES)
    quick_pols = ("autoregressive", "transformer")
    pols = cli.subset(p, "--policies", args.policies, quick_pols if args.quick else POLICIES, POLICIES)
    gms = cli.subset(p, "--games", args.games, ("verbose3x4",) if args.quick else tuple(GAMES), GAMES)
    steps = args.steps or (20 if args.quick else 200)
    if steps % 10:
        cli.fail(p, f"--steps ({steps}) must be a multiple of 10")
    args.comal_every = args.comal_every or (10 if args.quick else 20)
    if args.comal_every >= steps:
        cli.fail(p, f"--comal-every ({args.comal_every}) must be below --steps ({steps})")
    if args.dtype != "float64":
        cli.fail(p, "--dtype: the sequences study runs in float64 only")
    seeds = args.seeds or (2 if args.quick else 16)
    direct = args.direct_steps or (50 if args.quick else 2000)
    cli.setup(args)
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, rules, pols, gms, steps, seeds, direct, out.path)
    print(f"wrote {out.out}/")
    return 0


def simulate(names, label, feedback, kind, steps, seeds, comal_every, seed, dtype):
    """One compiled sweep over the same-shape games ``names`` (a ``game`` axis): the tidy frame."""
    import algorithms

    batch = [build_game(g, dtype) for g in names]
    policy, opt = make_policy(kind, batch[0])  # the policies read the shape and token table only
    rule = rule_for(label, feedback, policy, opt, comal_every)
    grid = {**hparams(label), "start_noise": START_NOISE}
    sampled = feedback != "population"
    if sampled:
        grid["pairs"] = list(PAIRS)
    tr = algorithms.sweep(
        rule,
        batch if len(batch) > 1 else batch[0],
        steps=steps,
        record_every=steps // 10,
        seeds=seeds if sampled else [seed],
        metrics=("gap", ("favoured_mass", favoured_mass)),
        **grid,
    )
    m, _ = tables.tidy(
        tr, experiment=STUDY, game=names if len(batch) > 1 else names[0], rule=label, seed=seed
    )
    m["policy"] = kind
    m["feedback"] = ("K=" + m["pairs"].astype(int).astype(str)) if sampled else "population"
    return m


def direct_gap(gname: str, dtype: str, steps: int, seed: int) -> tuple[float, float]:
    """``(start gap, best gap)`` of the transformer family (on the study's perturbed start) when the duality
    gap ``2 max_i (A pi)_i`` itself is minimised by Adam (3e-3) over its parameters."""
    import jax
    import jax.numpy as jnp
    import optax

    import algorithms
    import games

    game = build_game(gname, dtype)
    policy, _ = make_policy("transformer", game)
    rule = algorithms.loss_based("inpo", policy)  # only its start: the same base logit as the study's runs
    start = algorithms.run(rule, game, steps=1, record_every=1, key=seed, start_noise=START_NOISE, eta=1e-12)
    offset = start.state.offset  # [1, n] log pi_start
    params = policy.init(jax.random.key(seed))
    opt = optax.adam(3e-3)

    def gap(p):
        pi = jnp.exp(jax.nn.log_softmax(offset + policy.log_probs(p), axis=-1))[0]
        return games.duality_gap(game, pi)

    @jax.jit
    def step(p, s):
        g, grad = jax.value_and_grad(gap)(p)
        upd, s = opt.update(grad, s, p)
        return optax.apply_updates(p, upd), s, g

    state, best, first = opt.init(params), np.inf, None
    for _ in range(steps):
        params, state, g = step(params, state)
        first = float(g) if first is None else first
        best = min(best, float(g))
    return first, min(best, float(gap(params)))


def run_study(args, rules, pols, gms, steps, seeds, direct, folder) -> None:
    import jax

    import games

    jax.config.update("jax_enable_x64", True)
    t0 = time.perf_counter()
    shapes = {}  # (V, L) -> the games of that shape: one sweep covers them
    for g in gms:
        shapes.setdefault(GAMES[g][:2], []).append(g)
    todo = [
        (tuple(b), r, fb, k)
        for b in shapes.values()
        for k in pols
        for r in rules
        for fb in ("population", "sampled")
    ]
    timer, frames = progress.Timer(), []
    with progress.progress(args, len(todo), f"sequences: {len(todo)} sweeps", "sweep") as bar:
        for b, r, fb, k in todo:
            name = f"V={GAMES[b[0]][0]},L={GAMES[b[0]][1]}/{k}"
            with timer(name):
                frames.append(simulate(b, r, fb, k, steps, seeds, args.comal_every, args.seed, args.dtype))
            bar.set_postfix_str(f"{name}, {r}, {fb}")
            bar.update()
    df = tables.combine(frames, hp_order=("policy", "feedback", "pairs", "eta", "tau", "beta", "start_noise"))
    rows, header = summary(df)
    nash = {}
    direct_rows = []
    for g in gms:
        game = build_game(g, args.dtype)
        x = games.solve(game).x
        nash[g] = float(games.sequences.token_mass(x, game.sequences, FAVOURED))
        if GAMES[g][3].get("verbosity"):  # the same judge without its bias
            V, L, judge, options = GAMES[g]
            plain = games.sequence_game(V, L, judge, dtype=args.dtype, **{**options, "verbosity": 0.0})
            key = f"{g} without verbosity"
            nash[key] = float(games.sequences.token_mass(games.solve(plain).x, plain.sequences, FAVOURED))
        if "transformer" in pols:
            with timer(f"{g}/direct"):
                first, best = direct_gap(g, args.dtype, direct, args.seed)
            direct_rows.append((g, f"{first:.3e}", f"{best:.3e}", f"{nash[g]:.3f}"))
        else:
            direct_rows.append((g, "—", "—", f"{nash[g]:.3f}"))
    direct_header = (
        "game",
        "transformer start gap",
        "best transformer gap (gap minimised)",
        "Nash mass on a",
    )
    output.write_frame(folder / "trace.csv", df)
    output.write_csv(folder / "summary.csv", rows, header)
    output.write_csv(folder / "direct.csv", direct_rows, direct_header)
    output.save_figure(figure(df, gms, rules, pols), folder / "sequences.png")
    meta = metadata.metadata(
        args,
        games={
            g: {"vocab": GAMES[g][0], "length": GAMES[g][1], "judge": GAMES[g][2], **GAMES[g][3]} for g in gms
        },
        rules=[{"name": r, "loss": RULES[r], **hparams(r)} for r in rules],
        policies={"names": list(pols), "transformer": WIDTH, "transformer_optimizer": "optax.adam(1e-2)"},
        feedback={
            "population": "exact expectation over pairs",
            "sampled": {"pairs": list(PAIRS), "labels": "hard"},
        },
        optimizer_steps=10,
        comal_every=args.comal_every,
        start_noise=START_NOISE,
        steps=steps,
        record_every=steps // 10,
        seeds=seeds,
        direct_steps=direct,
        nash_favoured_mass=nash,
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "summary.csv", "direct.csv", "sequences.png"],
    )
    metadata.write_metadata(folder, meta)
    print(
        f"last-iterate gap after {steps} iterations (sampled: median over {seeds} seeds, [2.5%, 97.5%] bootstrap "
        "interval of the median), comparisons used, and the mass on the favoured token a:"
    )
    print(tables.table(rows, header))
    print("the transformer family with its gap minimised directly, and the Nash policy's mass on a:")
    print(", ".join(f"Nash mass on a, {k}: {v:.3f}" for k, v in nash.items() if "without" in k))
    print(tables.table(direct_rows, direct_header))
    print(
        f"wall time {time.perf_counter() - t0:.0f} s; per game/policy (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timer.seconds.items())
    )


def _bootstrap_median(values: np.ndarray, rng) -> tuple[float, float]:
    if len(values) < 2:
        return float("nan"), float("nan")
    draws = rng.choice(values, size=(2000, len(values)), replace=True)
    lo, hi = np.quantile(np.median(draws, axis=1), [0.025, 0.975])
    return float(lo), float(hi)


def summary(df):
    """One row per (game, policy, rule, feedback): final gap (median over seeds, bootstrap interval), the
    iteration from which the gap stays below 1e-2, comparisons, favoured mass."""
    rng = np.random.default_rng(0)
    rows = []
    last = df[df["step"] == df["step"].max()]
    keys = ["game", "policy", "rule", "feedback"]
    curves = dict(tuple(df[df["metric"] == "gap"].groupby(keys, sort=False)))
    for key, part in last.groupby(keys, sort=False):
        gap = part[part["metric"] == "gap"]["value"].to_numpy()
        mass = part[part["metric"] == "favoured_mass"]["value"].to_numpy()
        lo, hi = _bootstrap_median(gap, rng)
        sel = curves[key]
        firsts = [
            tables.first_below(r["step"].to_numpy(), r["value"].to_numpy(), 1e-2)
            for _, r in sel.sort_values("step").groupby("seed")
        ]
        first = np.median(firsts) if not np.isnan(firsts).any() else np.nan
        interval = "" if np.isnan(lo) else f" [{lo:.2e}, {hi:.2e}]"
        rows.append(
            (
                *key,
                f"{np.median(gap):.3e}{interval}",
                "never" if np.isnan(first) else f"{first:.0f}",
                f"{int(part['comparisons'].max())}",
                f"{np.median(mass):.3f}",
            )
        )
    header = (*keys, "final gap", "iterations to gap 1e-2", "comparisons", "mass on a")
    return rows, header


def figure(df, gms, rules, pols):
    """Rows: games; columns: rules; x: iterations; gap (log) per policy (colour) and feedback (line style),
    median over seeds."""
    from matplotlib.figure import Figure

    from .common.figures import plot_floor

    fig = Figure(figsize=(3.2 * len(rules) + 1.5, 2.3 * len(gms) + 1.2), layout="constrained")
    axes = fig.subplots(len(gms), len(rules), sharex=True, sharey=True, squeeze=False)
    colours = dict(zip(POLICIES, ("tab:blue", "tab:orange", "tab:green")))
    styles = {"population": "-", "K=64": ":", "K=1024": "--"}
    gaps = df[df["metric"] == "gap"]
    for i, g in enumerate(gms):
        for j, r in enumerate(rules):
            ax = axes[i, j]
            for k in pols:
                for fb, ls in styles.items():
                    part = gaps[
                        (gaps["game"] == g)
                        & (gaps["rule"] == r)
                        & (gaps["policy"] == k)
                        & (gaps["feedback"] == fb)
                    ]
                    if part.empty:
                        continue
                    med = part.groupby("step")["value"].median()
                    ax.plot(med.index, plot_floor(med.to_numpy()), ls, color=colours[k], label=f"{k}, {fb}")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(r)
            if j == 0:
                ax.set_ylabel(f"{g}\nduality gap")
            if i == len(gms) - 1:
                ax.set_xlabel("iteration")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
    return fig


if __name__ == "__main__":
    cli.entry(main)
