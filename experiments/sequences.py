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

Games (``--games``): the names above, or your own sequence game (``games.sequence_game`` with your judge)
as ``module:attribute`` (a Game or a zero-argument factory of one).

Records the last-iterate duality gap against iterations and comparisons, and the mass on the judge's favoured
token (``favoured_mass``: the expected share of positions holding ``a``). Also: the best gap the transformer
family reaches when the gap itself is minimised over its parameters (Adam, ``--direct-steps``), and each
game's Nash policy's mass on ``a`` (exact LP).

Writes ``trace.csv`` (tidy; ``policy``, ``feedback``, ``pairs`` columns), ``summary.csv``, ``direct.csv``,
``sequences.png`` and ``metadata.json`` to ``results/sequences/`` (``--quick``: ``results/sequences-quick/``).

    python -m experiments sequences           # full: 5 games x 3 policies x 4 rules x 3 feedbacks
    python -m experiments sequences --quick   # verbosity game, autoregressive + transformer, INPO, 20 iterations
    python -m experiments sequences --quick --rules inpo,my_losses:my_loss --feedback sampled:256 --hp tau=0.2
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np

from .common import cli, output, study, tables

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


@functools.cache
def resolve_loss(label: str):
    """A ``--rules`` item -> its :class:`algorithms.losses.Loss` and whether COMAL wraps it: a study label, a
    registered loss name, ``module:attribute`` (a ``Loss`` or a zero-argument factory returning one), or
    ``comal(<any of these>)``. Raises ValueError naming the item."""
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
    if label in RULES or label in losses.LOSSES:
        return losses.LOSSES[RULES.get(label, label)], False
    if ":" not in label:
        valid = ", ".join(dict.fromkeys([*RULES, *losses.LOSSES]))
        raise ValueError(f"--rules: unknown {label!r}; valid: {valid}, module:attribute or comal(...)")
    obj = study.load_object(label, "--rules")
    if not isinstance(obj, losses.Loss) and callable(obj):
        try:
            obj = obj()
        except Exception as err:  # noqa: BLE001 - the user's factory: one line
            raise ValueError(
                f"rule {label!r}: calling the factory raised {type(err).__name__}: {err}"
            ) from None
    if not isinstance(obj, losses.Loss):
        raise ValueError(
            f"rule {label!r} is a {type(obj).__name__}, not an algorithms.losses.Loss (or a zero-argument "
            "factory returning one): this study runs losses on judged pairs"
        )
    return obj, False


def display_name(label: str) -> str:
    """A rule's name in the tables: the study label or registered loss, your loss's ``Loss.name`` for
    ``module:attribute``, ``comal(<name>)`` around any of these."""
    inner = _comal_inner(label)
    if inner is not None:
        return f"comal({display_name(inner)})"
    return resolve_loss(label)[0].name if ":" in label else label


def rule_for(label: str, feedback: str, policy, optimizer, comal_every: int, pairs=PAIRS):
    import algorithms

    loss, comal = resolve_loss(label)
    k = None if feedback == "population" else max(pairs)
    rule = algorithms.loss_based(loss, policy, optimizer=optimizer, optimizer_steps=OPTIMIZER_STEPS, pairs=k)
    return algorithms.comal(rule, comal_every) if comal else rule


def _rules(text) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(t.strip() for t in str(text).split(",") if t.strip()))
    if not items:
        raise ValueError("--rules names no rule")
    return items


def _feedback(text) -> str:
    """``both`` (the population loss and K = 64 and 1024), ``exact`` or ``sampled:K``."""
    if text == "both":
        return text
    try:
        fb = cli.feedback_type(str(text))
    except Exception as err:  # noqa: BLE001 - argparse's type error: its one line
        raise ValueError(str(err)) from None
    if fb.kind == "noisy":
        raise ValueError(
            f"--feedback {fb.name}: the loss-based rules judge their own pairs; give exact or sampled:K"
        )
    return cli.feedback_spec(fb)


def _subset(flag: str, valid):
    def parse(text):
        items = tuple(dict.fromkeys(t.strip() for t in str(text).split(",") if t.strip()))
        bad = [t for t in items if t not in valid]
        if bad or not items:
            raise ValueError(f"{flag}: unknown {(bad or [''])[0]!r}; valid: {', '.join(valid)}")
        return items

    return parse


def named(text: str, dtype: str, seed: int):
    """The study's own games by name (:func:`experiments.common.study.load_game`'s lookup)."""
    import games

    from .common.gamespec import GameSpec

    if text not in GAMES:
        return None
    V, L, judge, options = GAMES[text]
    meta = {"vocab": V, "length": L, "judge": judge, **options}
    return GameSpec(games.sequence_game(V, L, judge, dtype=dtype, **options), text, meta)


def load(item: str, dtype: str = "float64", seed: int = 0):
    return study.load_game(item, dtype, seed, named).game


@dataclass(frozen=True)
class Config(study.Base):
    rules: tuple = study.option(
        ",".join(RULES),
        "comma-separated rules: a study label, a loss of algorithms.losses.LOSSES (ipo, nash_md, sppo, ...), "
        "module:attribute naming your own algorithms.losses.Loss (or a zero-argument factory of one), or "
        "comal(any of these) for a regularized loss. Each runs as algorithms.loss_based(loss, policy, "
        f"optimizer_steps={OPTIMIZER_STEPS}) with the study's policies, optimizers and feedback, at its declared "
        f"hyperparameter defaults (--hp overrides them) (default {','.join(RULES)}; --quick inpo)",
        quick="inpo",
        parse=_rules,
    )
    games: tuple = study.games(
        ",".join(GAMES), "sequence games (default all)", named=tuple(GAMES), quick="verbose3x4"
    )
    feedback: str = study.option(
        "both",
        "exact: the population loss only; sampled:K: K pairs drawn (token by token) and judged per iteration "
        f"only; default both, the population loss and K = {' and '.join(map(str, PAIRS))}. The rules judge "
        "their own pairs, so noisy:SIGMA (noise on a payoff gradient) does not apply",
        parse=_feedback,
    )
    hp: tuple = study.hp()
    policies: tuple = study.option(
        ",".join(POLICIES),
        f"comma-separated subset of {', '.join(POLICIES)} (default all; --quick autoregressive,transformer)",
        quick="autoregressive,transformer",
        parse=_subset("--policies", POLICIES),
    )
    steps: int = study.steps(160, "iterations per run, a multiple of 10 (default 160; --quick 20)", quick=20)
    seeds: int = study.seeds(16, "seeds of the sampled runs (default 16; --quick 2)", quick=2)
    x: str = study.x_axis(
        "steps",
        "x-axis of the figure (oracle_calls: one per iteration here; comparisons: the sampled runs only)",
    )
    comal_every: int = study.option(
        20, "COMAL's iterations between reference updates (default 20; --quick 10)", quick=10
    )
    direct_steps: int = study.option(
        2000, "Adam steps minimising the transformer's gap directly (default 2000; --quick 50)", quick=50
    )
    jobs: int = study.jobs()


def feedbacks(c: Config) -> tuple[str, ...]:
    return (
        ("population", "sampled")
        if c.feedback == "both"
        else ("population",)
        if c.feedback == "exact"
        else ("sampled",)
    )


def pairs(c: Config) -> tuple[int, ...]:
    return (int(c.feedback.partition(":")[2]),) if c.feedback.startswith("sampled") else PAIRS


def hparams(c: Config, source: str, rule) -> dict:
    """The ``--hp`` values for one rule: ``name=value`` where it declares ``name``, ``rule.name=value`` where
    ``rule`` is its label or ``--rules`` text."""
    declared = {h.name for h in rule.hparams}
    return {n: v for s, n, v in c.hp if n in declared and s in (None, source, display_name(source))}


def prepare(c: Config) -> Config:
    """float64, ``--steps``/``--comal-every``, ``--x`` against ``--feedback``, every game a sequence game, every
    rule resolved with its ``--hp`` values checked on the first game, before any work."""
    from algorithms import policies

    if c.dtype != "float64":
        raise ValueError("--dtype: the sequences study runs in float64 only")
    if c.steps % 10:
        raise ValueError(f"--steps ({c.steps}) must be a multiple of 10")
    if c.comal_every >= c.steps:
        raise ValueError(f"--comal-every ({c.comal_every}) must be below --steps ({c.steps})")
    if c.x == "comparisons" and c.feedback == "exact":
        raise ValueError("--x comparisons: exact feedback counts no comparisons; give --feedback sampled:K")
    for item in c.games:
        if getattr(load(item, c.dtype, c.seed), "sequences", None) is None:
            raise ValueError(f"--games {item!r}: not a sequence game (make it with games.sequence_game)")
    game = load(c.games[0], c.dtype, c.seed)
    names = [display_name(t) for t in c.rules]
    twice = sorted({t for t, n in zip(c.rules, names) if names.count(n) > 1})
    if twice:
        raise ValueError(f"--rules: {', '.join(twice)} have the same name")
    built = {t: rule_for(t, "population", policies.tabular(game), None, 1) for t in c.rules}
    for scope, n, _ in c.hp:
        scoped = [t for t in c.rules if scope is None or scope in (t, display_name(t))]
        if not scoped:
            raise ValueError(
                f"--hp {scope}.{n}: no rule {scope!r} among the rules run ({', '.join(c.rules)})"
            )
        if not any(n in {h.name for h in built[t].hparams} for t in scoped):
            where = f"rule {scope} declares no" if scope is not None else "no rule run declares"
            raise ValueError(f"--hp {n}: {where} {n!r}")
    for t, rule in built.items():
        rule.init(game, c.seed, **hparams(c, t, rule))
    return c


def units(c: Config):
    """One compiled sweep per (games of one shape, policy, rule group, feedback), the transformer's first;
    ``X`` and ``comal(X)`` share a sweep when their other hyperparameters agree; and the direct gap
    minimisation, one per shape."""
    from algorithms import policies

    shapes = {}  # the games of one sequence shape: one sweep covers them
    for g in c.games:
        shapes.setdefault(load(g, c.dtype, c.seed).sequences.tokens.shape, []).append(g)
    game = load(c.games[0], c.dtype, c.seed)
    hps = {t: hparams(c, t, rule_for(t, "population", policies.tabular(game), None, 1)) for t in c.rules}
    groups, taken = [], set()
    for r in c.rules:
        if r in taken:
            continue
        partner = f"comal({r})"
        same = partner in c.rules and hps[r] == {k: v for k, v in hps[partner].items() if k != "inner_steps"}
        groups.append((r, partner) if same else (r,))
        taken.update(groups[-1])
    todo = [
        (tuple(b), k, grp, fb)
        for b in shapes.values()
        for k in c.policies
        for grp in groups
        for fb in feedbacks(c)
    ]
    todo.sort(key=lambda u: (u[1] != "transformer", -len(u[0])))  # the longest first
    direct = (
        [((*b, "direct"), (tuple(b), None, None, "direct")) for b in shapes.values()]
        if "transformer" in c.policies
        else []
    )
    return [*direct, *(("/".join([u[0][0], u[1], u[3], "+".join(u[2])]), u) for u in todo)]


def simulate(c: Config, gms: tuple, policy_kind, group, feedback) -> dict:
    """One compiled sweep over the same-shape games ``gms`` (a ``game`` axis), or their direct minimisation."""
    import jax
    import pandas as pd

    import algorithms

    jax.config.update("jax_enable_x64", True)
    if feedback == "direct":
        best = direct_gaps(gms, c.dtype, c.direct_steps, c.seed)
        return {
            "direct": pd.DataFrame(
                [(STUDY, g, "direct", *best[g]) for g in gms],
                columns=["experiment", "game", "rule", "start", "best"],
            )
        }
    batch = [load(g, c.dtype, c.seed) for g in gms]
    policy, opt = make_policy(policy_kind, batch[0])  # the policies read the shape and token table only
    source = group[-1]  # comal(X) when the group holds X and comal(X)
    rule = rule_for(source, feedback, policy, opt, c.comal_every, pairs(c))
    grid = {**hparams(c, source, rule), "start_noise": START_NOISE}
    merged = len(group) == 2
    if merged:
        grid["inner_steps"] = [c.steps + 1, grid.get("inner_steps", c.comal_every)]
    sampled = feedback == "sampled"
    if sampled:
        grid["pairs"] = list(pairs(c))
    tr = algorithms.sweep(
        rule,
        batch if len(batch) > 1 else batch[0],
        steps=c.steps,
        record_every=c.steps // 10,
        seeds=cli.run_seeds(c.seed, c.seeds) if sampled else [c.seed],
        metrics=("gap", ("favoured_mass", favoured_mass)),
        **grid,
    )
    names = [display_name(t) for t in group]
    m, _ = tables.tidy(
        tr, experiment=STUDY, game=list(gms) if len(batch) > 1 else gms[0], rule=names[-1], seed=c.seed
    )
    if merged:
        m["rule"] = np.where(m["inner_steps"] > c.steps, names[0], names[1])
        m = m.drop(columns="inner_steps")
    m["policy"] = policy_kind
    m["feedback"] = ("K=" + m["pairs"].astype(int).astype(str)) if sampled else "population"
    return {"trace": m}


_DIRECT_OPTIMIZER = {}


def direct_gaps(names: tuple, dtype: str, steps: int, seed: int):
    """``{game: (start gap, best gap)}`` of the transformer family (on the study's perturbed start) when the
    duality gap ``2 max_i (A pi)_i`` itself is minimised by Adam (3e-3) over its parameters: one compiled
    ``lax.scan`` of ``steps`` steps, vmapped over the same-shape games ``names``."""
    import jax

    import algorithms
    import games

    jax.config.update("jax_enable_x64", dtype == "float64")
    batch = [load(g, dtype, seed) for g in names]
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


def report(c: Config, t: dict, folder) -> dict:
    """``trace.csv`` in the flags' order (whatever --jobs), ``summary.csv``, ``direct.csv``, the figure."""
    import games

    df = t["trace"][[k for k in t["trace"].columns if k != "inner_steps"]]
    hp_order = ("policy", "feedback", "pairs", "eta", "tau", "beta", "start_noise")
    df = tables.combine([df], hp_order=hp_order)
    labels = [display_name(r) for r in c.rules]
    rank = {
        "game": c.games,
        "policy": c.policies,
        "rule": labels,
        "feedback": ["population", *(f"K={k}" for k in pairs(c))],
    }
    keys = [df[k].map({v: i for i, v in enumerate(vals)}) for k, vals in rank.items()]
    order = np.lexsort([df["step"], df["metric"].to_numpy().astype(str), df["seed"], *keys[::-1]])
    df = df.iloc[order].reset_index(drop=True)
    output.write_frame(folder / "trace.csv", df)  # replaces the shell's, written in order of completion
    rows, header = summary(df)
    best = {r.game: (r.start, r.best) for r in t["direct"].itertuples()} if "direct" in t else {}
    nash, direct_rows = {}, []
    for g in c.games:
        game = load(g, c.dtype, c.seed)
        nash[g] = float(games.sequences.token_mass(games.solve(game).x, game.sequences, FAVOURED))
        if g in GAMES and GAMES[g][3].get("verbosity"):  # the same judge without its bias
            V, L, judge, options = GAMES[g]
            plain = games.sequence_game(V, L, judge, dtype=c.dtype, **{**options, "verbosity": 0.0})
            key = f"{g} without verbosity"
            nash[key] = float(games.sequences.token_mass(games.solve(plain).x, plain.sequences, FAVOURED))
        first, low = (f"{v:.3e}" for v in best[g]) if g in best else ("—", "—")
        direct_rows.append((g, first, low, f"{nash[g]:.3f}"))
    direct_header = (
        "game",
        "transformer start gap",
        "best transformer gap (gap minimised)",
        "Nash mass on a",
    )
    output.write_csv(folder / "summary.csv", rows, header)
    output.write_csv(folder / "direct.csv", direct_rows, direct_header)
    output.save_figure(figure(df, c.games, labels, c.policies, c.x), folder / "sequences.png")
    print(
        f"last-iterate gap after {c.steps} iterations (sampled: median over {c.seeds} seeds, [2.5%, 97.5%] "
        "bootstrap interval of the median), comparisons used, and the mass on the favoured token a:"
    )
    print(tables.table(rows, header))
    print("the transformer family with its gap minimised directly, and the Nash policy's mass on a:")
    print(", ".join(f"Nash mass on a, {k}: {v:.3f}" for k, v in nash.items() if "without" in k))
    print(tables.table(direct_rows, direct_header))
    return {
        "rules": [
            {
                "name": display_name(r),
                "source": r,
                "loss": resolve_loss(r)[0].name,
                "comal": resolve_loss(r)[1],
            }
            for r in c.rules
        ],
        "policies": {
            "names": list(c.policies),
            "transformer": WIDTH,
            "transformer_optimizer": "optax.adam(1e-2)",
        },
        "feedback_runs": {
            "kinds": list(feedbacks(c)),
            "pairs": list(pairs(c)),
            "labels": "hard",
            "draws": "token by token",
        },
        "optimizer_steps": OPTIMIZER_STEPS,
        "start_noise": START_NOISE,
        "record_every": c.steps // 10,
        "nash_favoured_mass": nash,
    }


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


STUDY_DECL = study.Study(
    STUDY,
    __doc__.splitlines()[0],
    Config,
    units,
    simulate,
    report,
    prepare,
    named=named,
    refuses={
        "comparisons": "the games are sequence games (a token table); comparison records make a tabular game",
        "schedules": "the loss-based rules run at constant step sizes",
    },
)
main = study.command(STUDY_DECL)

if __name__ == "__main__":
    sys.exit(cli.entry(main))
