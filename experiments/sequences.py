"""Responses as token sequences: loss-based rules over tabular, autoregressive and transformer policies.

Games (:func:`games.sequence_game`): positional rock-paper-scissors and the GPM embedding judge at (V, L) =
(3, 4) and (4, 4), and the reward-plus-cycle judge at (3, 4) with a verbosity term favouring token ``a``
(``cycle`` 0.5, ``verbosity`` 1). Policies: ``tabular`` (one logit per sequence, the leaves), ``autoregressive``
(tabular per prefix) and ``transformer`` (d_model 32, 1 layer, 2 heads; Adam 1e-2 — the tabular policies use
``algorithms.loss_based``'s SGD 0.5). Rules, each as ``algorithms.loss_based`` with M = 10 optimizer steps:
INPO, COMAL(INPO) (reference re-centred every ``--comal-every`` iterations), DPO and EGPO (eta 0.5, tau 0.1,
DPO beta 2: the losses' declared defaults; ``--hp`` sets them). ``--rules`` also takes any loss of
``algorithms.losses.LOSSES``, your own ``algorithms.losses.Loss`` as ``module:attribute`` and ``comal(...)``
around a regularized one. Feedback: the population loss (exact) and K = 64 and 1024 judged pairs per iteration
(hard labels; drawn token by token, by every policy), ``--seeds`` seeds (16; one compiled ``sweep`` covers
the seeds and both K); ``--feedback exact`` or ``sampled:K`` runs one of them. Every run starts from the same
perturbed policy (``start_noise`` 1, a fixed base logit as ``loss_based`` documents; positional RPS's uniform
policy is already a Nash policy).

Speed by design: one compiled ``sweep`` per (game shape, policy, feedback, rule), its games, seeds and K as
axes; ``X`` and ``comal(X)`` share one (COMAL's ``inner_steps`` as an axis, ``steps + 1`` for ``X``: it never
re-centres); the transformer runs once per prefix; the direct gap minimisation is one compiled scan per shape;
``--jobs`` worker processes run whole sweeps.

Records the last-iterate duality gap against iterations and comparisons, and the mass on the judge's favoured
token (``favoured_mass``: the expected share of positions holding ``a``). Also: the best gap the transformer
family reaches when the gap itself is minimised over its parameters (Adam, ``--direct-steps``), and each
game's Nash policy's mass on ``a`` (exact LP).

Writes ``trace.csv`` (tidy; ``policy``, ``feedback``, ``pairs`` columns), ``summary.csv``, ``direct.csv``,
``sequences.png`` and ``metadata.json`` to ``results/sequences/`` (``--quick``: ``results/sequences-quick/``).

    python -m experiments.sequences           # full: 5 games x 3 policies x 4 rules x 3 feedbacks
    python -m experiments.sequences --quick   # verbosity game, autoregressive + transformer, INPO, 20 iterations
    python -m experiments.sequences --quick --rules inpo,my_losses:my_loss --feedback sampled:256 --hp tau=0.2
"""

from __future__ import annotations

import functools
import os
import time
from typing import NamedTuple

import numpy as np

from .common import cli, metadata, output, progress, tables

STUDY = "sequences"
#: label -> registered loss (algorithms.losses.LOSSES); ``comal(X)`` wraps the rule of ``X`` in COMAL
RULES = {"inpo": "inpo", "comal(inpo)": "inpo", "dpo": "dpo", "egpo": "egpo"}
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
OPTIMIZER_STEPS = 10


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
    """The policy and its optimizer (``None``: ``loss_based``'s default SGD 0.5). Every policy draws its pairs
    token by token (the tabular one too: ``tabular(game, ancestral=True)``, the same distribution as a draw over
    the leaves), so that the policies differ by their parameterization only."""
    import optax

    from algorithms import policies

    if kind == "tabular":
        return policies.tabular(game, ancestral=True), None
    if kind == "autoregressive":
        return policies.autoregressive(game), None
    if "adam" not in _OPTIMIZERS:
        _OPTIMIZERS["adam"] = optax.adam(1e-2)  # one object: the rule is cached on it
    return policies.transformer(game, **WIDTH), _OPTIMIZERS["adam"]


def _comal_inner(label: str) -> str | None:
    return label[len("comal(") : -1] if label.startswith("comal(") and label.endswith(")") else None


def resolve_loss(label: str):
    """A ``--rules`` item -> its :class:`algorithms.losses.Loss` and whether COMAL wraps it: a study label, a
    registered loss name, ``module:attribute`` (a ``Loss`` or a zero-argument factory returning one), or
    ``comal(<any of these>)``. Raises ValueError naming the item."""
    import importlib

    from algorithms import losses

    inner = _comal_inner(label)
    if inner is not None:
        loss, nested = resolve_loss(inner)
        if nested:
            raise ValueError(f"rule {label!r}: COMAL around COMAL is not a rule of this study")
        if not loss.regularized:
            raise ValueError(
                f"rule {label!r}: COMAL re-centres a regularized loss's reference; {loss.name} has none"
            )
        return loss, True
    if label in RULES:
        return losses.LOSSES[RULES[label]], False
    if label in losses.LOSSES:
        return losses.LOSSES[label], False
    module, sep, attr = label.partition(":")
    if not sep or not module or not attr:
        valid = ", ".join(dict.fromkeys([*RULES, *losses.LOSSES]))
        raise ValueError(f"--rules: unknown {label!r}; valid: {valid}, module:attribute or comal(...)")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as err:
        raise ValueError(
            f"rule {label!r}: cannot import {module!r} ({err}); is its folder on PYTHONPATH?"
        ) from None
    except AttributeError:
        raise ValueError(f"rule {label!r}: module {module!r} has no attribute {attr!r}") from None
    except Exception as err:  # noqa: BLE001 - the user's module raised on import: one line
        raise ValueError(f"rule {label!r}: importing {module!r} raised {type(err).__name__}: {err}") from None
    if not isinstance(obj, losses.Loss) and callable(obj):
        try:
            obj = obj()
        except Exception as err:  # noqa: BLE001
            raise ValueError(
                f"rule {label!r}: calling the factory raised {type(err).__name__}: {err}"
            ) from None
    if not isinstance(obj, losses.Loss):
        raise ValueError(
            f"rule {label!r} is a {type(obj).__name__}, not an algorithms.losses.Loss (or a zero-argument "
            "factory returning one): this study runs losses on judged pairs"
        )
    return obj, False


def rule_for(label: str, feedback: str, policy, optimizer, comal_every: int, pairs=PAIRS):
    import algorithms

    loss, comal = resolve_loss(label)
    k = None if feedback == "population" else max(pairs)
    rule = algorithms.loss_based(loss, policy, optimizer=optimizer, optimizer_steps=OPTIMIZER_STEPS, pairs=k)
    return algorithms.comal(rule, comal_every) if comal else rule


class Unit(NamedTuple):
    """One compiled sweep: the games of one shape, one policy, one feedback, and its rules: one label, or a
    label ``X`` with ``comal(X)`` (the same sweep: COMAL whose ``inner_steps`` axis holds ``steps + 1`` for
    ``X``, which never re-centres, and ``--comal-every`` for COMAL)."""

    games: tuple
    policy: str
    feedback: str  # "population" or "sampled"
    rules: tuple


class Config(NamedTuple):
    sources: dict  # rule name -> its --rules text
    steps: int
    seeds: int
    comal_every: int
    seed: int
    dtype: str
    pairs: tuple
    hps: dict  # label -> {hyperparameter: value}


def units(rules, pols, gms, feedbacks, hps) -> list[Unit]:
    shapes = {}  # (V, L) -> the games of that shape: one sweep covers them
    for g in gms:
        shapes.setdefault(GAMES[g][:2], []).append(g)
    groups, taken = [], set()
    for r in rules:
        if r in taken:
            continue
        partner = f"comal({r})"
        if partner in rules and hps[r] == {k: v for k, v in hps[partner].items() if k != "inner_steps"}:
            groups.append((r, partner))
            taken.update((r, partner))
        else:
            groups.append((r,))
            taken.add(r)
    todo = [
        Unit(tuple(b), k, fb, grp)
        for b in shapes.values()
        for k in pols
        for grp in groups
        for fb in feedbacks
    ]
    return sorted(todo, key=lambda u: (u.policy != "transformer", -len(u.games)))  # the longest first


def simulate(unit: Unit, cfg: Config):
    """One compiled sweep over the same-shape games of ``unit`` (a ``game`` axis): ``(tidy frame, seconds)``."""
    import jax

    import algorithms

    jax.config.update("jax_enable_x64", cfg.dtype == "float64")
    tic = time.perf_counter()
    batch = [build_game(g, cfg.dtype) for g in unit.games]
    policy, opt = make_policy(unit.policy, batch[0])  # the policies read the shape and token table only
    label = unit.rules[-1]  # comal(X) when the unit holds X and comal(X)
    rule = rule_for(cfg.sources[label], unit.feedback, policy, opt, cfg.comal_every, cfg.pairs)
    grid = {**cfg.hps[label], "start_noise": START_NOISE}
    merged = len(unit.rules) == 2
    if merged:
        grid["inner_steps"] = [cfg.steps + 1, grid.get("inner_steps", cfg.comal_every)]
    sampled = unit.feedback == "sampled"
    if sampled:
        grid["pairs"] = list(cfg.pairs)
    tr = algorithms.sweep(
        rule,
        batch if len(batch) > 1 else batch[0],
        steps=cfg.steps,
        record_every=cfg.steps // 10,
        seeds=cli.run_seeds(cfg.seed, cfg.seeds) if sampled else [cfg.seed],
        metrics=("gap", ("favoured_mass", favoured_mass)),
        **grid,
    )
    m, _ = tables.tidy(
        tr,
        experiment=STUDY,
        game=list(unit.games) if len(batch) > 1 else unit.games[0],
        rule=label,
        seed=cfg.seed,
    )
    if merged:
        m["rule"] = np.where(m["inner_steps"] > cfg.steps, unit.rules[0], unit.rules[1])
        m = m.drop(columns="inner_steps")
    m["policy"] = unit.policy
    m["feedback"] = ("K=" + m["pairs"].astype(int).astype(str)) if sampled else "population"
    return m, time.perf_counter() - tic


_DIRECT_OPTIMIZER = {}


def direct_gaps(names: tuple, dtype: str, steps: int, seed: int):
    """``{game: (start gap, best gap)}`` of the transformer family (on the study's perturbed start) when the
    duality gap ``2 max_i (A pi)_i`` itself is minimised by Adam (3e-3) over its parameters: one compiled
    ``lax.scan`` of ``steps`` steps, vmapped over the same-shape games ``names``."""
    import jax

    import algorithms
    import games

    jax.config.update("jax_enable_x64", dtype == "float64")
    batch = [build_game(g, dtype) for g in names]
    policy, _ = make_policy("transformer", batch[0])
    rule = algorithms.loss_based("inpo", policy)  # only its start: the same base logit as the study's runs
    offsets = jax.numpy.stack([rule.init(g, seed, start_noise=START_NOISE).offset for g in batch])
    first, best = _direct(policy, steps, games.stack_games(batch), offsets, jax.random.key(seed))
    return {g: (float(a), float(b)) for g, a, b in zip(names, first, best)}


def _direct(policy, steps, stacked, offsets, key):
    import jax
    import jax.numpy as jnp
    import optax

    import games

    if "adam" not in _DIRECT_OPTIMIZER:
        _DIRECT_OPTIMIZER["adam"] = optax.adam(3e-3)
    opt = _DIRECT_OPTIMIZER["adam"]

    @functools.partial(jax.jit, static_argnums=(0, 1))
    def run(policy, steps, stacked, offsets, key):
        params = policy.init(key)

        def one(game, offset):
            def gap(p):
                pi = jnp.exp(jax.nn.log_softmax(offset + policy.log_probs(p), axis=-1))[0]
                return games.duality_gap(game, pi)

            def body(carry, _):
                p, s, best = carry
                g, grad = jax.value_and_grad(gap)(p)
                upd, s = opt.update(grad, s, p)
                return (optax.apply_updates(p, upd), s, jnp.minimum(best, g)), g

            init = (params, opt.init(params), jnp.asarray(jnp.inf, offset.dtype))
            (p, _, best), gs = jax.lax.scan(body, init, None, length=steps)
            return gs[0], jnp.minimum(best, gap(p))

        return jax.vmap(one)(stacked, offsets)

    return run(policy, steps, stacked, offsets, key)


def _direct_job(names, dtype, steps, seed):
    tic = time.perf_counter()
    return direct_gaps(names, dtype, steps, seed), time.perf_counter() - tic


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument(
        "--rules",
        default=None,
        help=f"comma-separated rules (default: {', '.join(RULES)}; --quick inpo): a study label, a loss of "
        "algorithms.losses.LOSSES (ipo, nash_md, sppo, ...), module:attribute naming your own "
        "algorithms.losses.Loss (or a zero-argument factory returning one), importable from PYTHONPATH, or "
        "comal(any of these) for a regularized loss. Each runs as algorithms.loss_based(loss, policy, "
        f"optimizer_steps={OPTIMIZER_STEPS}) with the study's policies, optimizers and feedback, at its declared "
        "hyperparameter defaults (--hp overrides them)",
    )
    p.add_argument(
        "--policies", default=None, help=f"comma-separated subset of {', '.join(POLICIES)} (default: all)"
    )
    p.add_argument(
        "--games", default=None, help=f"comma-separated subset of {', '.join(GAMES)} (default: all)"
    )
    p.add_argument(
        "--feedback",
        type=cli.feedback_type,
        default=None,
        help="exact: the population loss only; sampled:K: K pairs drawn (token by token) and judged per "
        f"iteration only; default both, the population loss and K = {' and '.join(map(str, PAIRS))}. The rules "
        "judge their own pairs, so noisy:SIGMA (noise on a payoff gradient) does not apply",
    )
    cli.add_hp(p)
    cli.add_x(
        p,
        "steps",
        "x-axis of the figure (oracle_calls: one per iteration here; comparisons: the sampled runs only, the "
        "population loss judges none)",
    )
    cli.add_count(p, "--steps", "iterations per run, a multiple of 10 (default 160; --quick 20)")
    cli.add_count(p, "--seeds", "seeds of the sampled runs (default 16; --quick 2)")
    cli.add_count(p, "--comal-every", "COMAL's iterations between reference updates (default 20; --quick 10)")
    cli.add_count(
        p,
        "--direct-steps",
        "Adam steps minimising the transformer's gap directly (default 2000; --quick 50)",
    )
    cli.add_count(
        p,
        "--jobs",
        "worker processes, each running whole sweeps (default: min(2, CPUs)); results do not depend on it",
        default=min(2, os.cpu_count() or 1),
    )
    args = p.parse_args(argv)
    labels = (
        ("inpo",)
        if args.quick and args.rules is None
        else tuple(RULES)
        if args.rules is None
        else tuple(dict.fromkeys(t.strip() for t in args.rules.split(",") if t.strip()))
    )
    if not labels:
        cli.fail(p, "--rules names no rule")
    quick_pols = ("autoregressive", "transformer")
    pols = cli.subset(p, "--policies", args.policies, quick_pols if args.quick else POLICIES, POLICIES)
    gms = cli.subset(p, "--games", args.games, ("verbose3x4",) if args.quick else tuple(GAMES), GAMES)
    steps = args.steps or (20 if args.quick else 160)
    if steps % 10:
        cli.fail(p, f"--steps ({steps}) must be a multiple of 10")
    args.comal_every = args.comal_every or (10 if args.quick else 20)
    if args.comal_every >= steps:
        cli.fail(p, f"--comal-every ({args.comal_every}) must be below --steps ({steps})")
    if args.dtype != "float64":
        cli.fail(p, "--dtype: the sequences study runs in float64 only")
    fb = args.feedback
    if fb is not None and fb.kind == "noisy":
        cli.fail(
            p, f"--feedback {fb.name}: the loss-based rules judge their own pairs; give exact or sampled:K"
        )
    if fb is not None:  # with both (the default), --x comparisons draws the sampled runs
        cli.check_x(p, args.x, fb)
    feedbacks = (
        ("population", "sampled") if fb is None else ("population",) if fb.kind == "exact" else ("sampled",)
    )
    pairs = PAIRS if fb is None or fb.kind != "sampled" else (int(fb.samples),)
    seeds = args.seeds or (2 if args.quick else 16)
    direct = args.direct_steps or (50 if args.quick else 2000)
    cli.setup(args)
    sources, hps = check_rules(p, args, labels, gms)
    labels = tuple(sources)
    with output.Output(p, cli.default_out(args)) as out:
        cfg = Config(sources, steps, seeds, args.comal_every, args.seed, args.dtype, pairs, hps)
        run_study(args, labels, pols, gms, feedbacks, cfg, direct, out.path)
    print(f"wrote {out.out}/")
    return 0


def display_name(label: str) -> str:
    """A rule's name in the tables: the study label or registered loss, your loss's ``Loss.name`` for
    ``module:attribute``, ``comal(<name>)`` around any of these."""
    inner = _comal_inner(label)
    if inner is not None:
        return f"comal({display_name(inner)})"
    return resolve_loss(label)[0].name if ":" in label else label


def check_rules(p, args, labels, gms) -> tuple[dict, dict]:
    """Every rule resolved and its hyperparameters (declared defaults, then ``--hp``, scoped by the rule's name
    or its ``--rules`` text) checked on the first game before any work
    (:func:`experiments.common.rules.study_hparams`). Returns ``name -> --rules text`` and
    ``name -> {hyperparameter: value}``."""
    import argparse
    import dataclasses

    from algorithms import policies

    from .common import rules as R

    @dataclasses.dataclass(frozen=True)
    class Spec(R.RuleSpec):
        label: str = ""

        @property
        def name(self) -> str:
            return self.label

    game = build_game(gms[0], args.dtype)
    specs = []
    for label in labels:
        try:
            rule = rule_for(label, "population", policies.tabular(game), None, 1)
            specs.append(Spec(rule, label, display_name(label)))
        except (ValueError, TypeError) as err:
            cli.fail(p, str(err))
    names = [s.name for s in specs]
    twice = sorted({s.source for s in specs if names.count(s.name) > 1})
    if twice:
        cli.fail(p, f"--rules: {', '.join(twice)} have the same name")
    ns = argparse.Namespace(hp=args.hp, seed=args.seed, rules=args.rules)
    specs, hps = R.study_hparams(p, specs, game, ns)
    return {s.name: s.source for s in specs}, hps


def run_study(args, labels, pols, gms, feedbacks, cfg: Config, direct, folder) -> None:
    import games

    t0 = time.perf_counter()
    todo = units(labels, pols, gms, feedbacks, cfg.hps)
    shapes = {}
    for g in gms:
        shapes.setdefault(GAMES[g][:2], []).append(g)
    direct_todo = [tuple(b) for b in shapes.values()] if "transformer" in pols else []
    timer, frames, best = progress.Timer(), [], {}
    total = len(todo) + len(direct_todo)
    desc = f"sequences: {len(todo)} sweeps + {len(direct_todo)} direct on {args.jobs} process(es)"
    name = lambda u: f"V={GAMES[u.games[0]][0]},L={GAMES[u.games[0]][1]}/{u.policy}/{u.feedback}"
    with progress.progress(args, total, desc, "sweep") as bar:

        def finished(key, result):
            if isinstance(key, Unit):
                frames.append(result[0])
                timer.add(name(key), result[1])
            else:
                best.update(result[0])
                timer.add(f"{'+'.join(key)}/direct", result[1])
            bar.update()

        tasks = [(b, _direct_job, (b, cfg.dtype, direct, cfg.seed)) for b in direct_todo]
        progress.run_all(args.jobs, [*tasks, *((u, simulate, (u, cfg)) for u in todo)], finished)
    df = tables.combine(frames, hp_order=("policy", "feedback", "pairs", "eta", "tau", "beta", "start_noise"))
    fbs = ["population", *(f"K={k}" for k in cfg.pairs)]
    rank = {"game": gms, "policy": pols, "rule": labels, "feedback": fbs}  # the flags' order, whatever --jobs
    keys = [df[c].map({v: i for i, v in enumerate(vals)}) for c, vals in rank.items()]
    order = np.lexsort([df["step"], df["metric"].to_numpy().astype(str), df["seed"], *keys[::-1]])
    df = df.iloc[order].reset_index(drop=True)
    rows, header = summary(df)
    nash = {}
    direct_rows = []
    for g in gms:
        game = build_game(g, args.dtype)
        nash[g] = float(games.sequences.token_mass(games.solve(game).x, game.sequences, FAVOURED))
        if GAMES[g][3].get("verbosity"):  # the same judge without its bias
            V, L, judge, options = GAMES[g]
            plain = games.sequence_game(V, L, judge, dtype=args.dtype, **{**options, "verbosity": 0.0})
            key = f"{g} without verbosity"
            nash[key] = float(games.sequences.token_mass(games.solve(plain).x, plain.sequences, FAVOURED))
        if g in best:
            first, low = best[g]
            direct_rows.append((g, f"{first:.3e}", f"{low:.3e}", f"{nash[g]:.3f}"))
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
    output.save_figure(figure(df, gms, labels, pols, args.x), folder / "sequences.png")
    meta = metadata.metadata(
        args,
        games={
            g: {"vocab": GAMES[g][0], "length": GAMES[g][1], "judge": GAMES[g][2], **GAMES[g][3]} for g in gms
        },
        rules=[
            {
                "name": r,
                "source": cfg.sources[r],
                "loss": resolve_loss(cfg.sources[r])[0].name,
                "comal": resolve_loss(cfg.sources[r])[1],
                **cfg.hps[r],
            }
            for r in labels
        ],
        policies={"names": list(pols), "transformer": WIDTH, "transformer_optimizer": "optax.adam(1e-2)"},
        feedback={
            "kinds": list(feedbacks),
            "population": "exact expectation over pairs",
            "sampled": {"pairs": list(cfg.pairs), "labels": "hard", "draws": "token by token (every policy)"},
        },
        optimizer_steps=OPTIMIZER_STEPS,
        comal_every=cfg.comal_every,
        start_noise=START_NOISE,
        steps=cfg.steps,
        record_every=cfg.steps // 10,
        seeds=cfg.seeds,
        direct_steps=direct,
        nash_favoured_mass=nash,
        jobs=args.jobs,
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "summary.csv", "direct.csv", "sequences.png"],
    )
    metadata.write_metadata(folder, meta)
    print(
        f"last-iterate gap after {cfg.steps} iterations (sampled: median over {cfg.seeds} seeds, [2.5%, 97.5%] "
        "bootstrap interval of the median), comparisons used, and the mass on the favoured token a:"
    )
    print(tables.table(rows, header))
    print("the transformer family with its gap minimised directly, and the Nash policy's mass on a:")
    print(", ".join(f"Nash mass on a, {k}: {v:.3f}" for k, v in nash.items() if "without" in k))
    print(tables.table(direct_rows, direct_header))
    print(
        f"wall time {time.perf_counter() - t0:.0f} s on {args.jobs} process(es); compile + run time per "
        "shape/policy/feedback (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timer.seconds.items())
    )


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
        _, lo, hi = tables.bootstrap_median(gap, rng) if len(gap) > 1 else (0, np.nan, np.nan)
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


def figure(df, gms, rules, pols, x="steps"):
    """Rows: games; columns: rules; x: ``x`` (iterations, oracle calls or comparisons; the population loss
    judges no comparisons, so ``x="comparisons"`` draws the sampled runs only); gap (log) per policy (colour)
    and feedback (line style), median over seeds."""
    from matplotlib.figure import Figure

    from .common.figures import plot_floor, set_x_range

    fig = Figure(figsize=(3.2 * len(rules) + 1.5, 2.3 * len(gms) + 1.2), layout="constrained")
    # comparisons differ 16-fold between the two K: each panel its own (log) range, as the other studies' figures
    axes = fig.subplots(len(gms), len(rules), sharex=x != "comparisons", sharey=True, squeeze=False)
    colours = dict(zip(POLICIES, ("tab:blue", "tab:orange", "tab:green")))
    sampled = sorted({f for f in df["feedback"].unique() if f != "population"}, key=lambda f: int(f[2:]))
    styles = {"population": "-", **dict(zip(sampled, (":", "--", "-.", (0, (1, 4)))))}
    if x == "comparisons":
        styles.pop("population")
    gaps = df[df["metric"] == "gap"]
    for i, g in enumerate(gms):
        for j, r in enumerate(rules):
            ax, xs = axes[i, j], []
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
                    med = part.groupby("step")[["value", "oracle_calls", "comparisons"]].median()
                    xs.append(med.index.to_numpy() if x == "steps" else med[x].to_numpy())
                    ax.plot(
                        xs[-1],
                        plot_floor(med["value"].to_numpy()),
                        ls,
                        color=colours[k],
                        label=f"{k}, {fb}",
                    )
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(r)
            if j == 0:
                ax.set_ylabel(f"{g}\nduality gap")
            if i == len(gms) - 1:
                ax.set_xlabel("iteration" if x == "steps" else cli.X_AXES[x])
            if x == "comparisons":
                set_x_range(ax, xs)
                if i < len(gms) - 1:
                    ax.set_xlabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
    n = gaps.loc[gaps["feedback"] != "population", "seed"].nunique()
    sampled_note = f"; sampled: median over {n} seed{'s' * (n != 1)}" if sampled else ""
    fig.suptitle(f"last-iterate duality gap (population loss: one deterministic run{sampled_note})")
    return fig


if __name__ == "__main__":
    cli.entry(main)
