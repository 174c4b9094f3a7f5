"""Responses as token sequences: loss-based rules over tabular, autoregressive and transformer policies.

Do the conclusions survive when a response is a token sequence and the policy shares parameters, and what does
a judge's verbosity bias do? See ``docs/studies/sequences.md``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from .common import cli, figures, gamespec, output, results, study, tables

STUDY = "sequences"
#: the default rules: registered losses (algorithms.losses.LOSSES); ``comal(X)`` wraps the rule of ``X`` in COMAL
RULES = ("inpo", "comal(inpo)", "dpo", "egpo")
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
LEVEL = 1e-2  # the summary's level


def favoured_mass(game, x, y):
    """``sum_y pi(y) #{t: y_t = a} / L``: the expected share of positions holding the favoured token."""
    import games

    del y  # self-play
    return games.sequences.token_mass(x, game.sequences, FAVOURED)


@functools.cache
def _adam(rate: float):
    import optax

    return optax.adam(rate)  # one object per process: a rule is cached on its optimizer


def make_policy(kind: str, game):
    """The policy and its optimizer (``None``: ``loss_based``'s SGD). All draw pairs token by token (the tabular
    one too: the same distribution), so that they differ by their parameterization only."""
    from algorithms import policies

    options = {"tabular": {"ancestral": True}, "transformer": WIDTH}.get(kind, {})
    return policies.by_name(kind, game, **options), _adam(1e-2) if kind == "transformer" else None


@functools.cache
def resolve_loss(label: str):
    """A ``--rules`` item (a registered loss, ``module:attribute`` or ``comal(<either>)``) -> its
    :class:`algorithms.losses.Loss` and whether COMAL wraps it; ``ValueError`` naming the item."""
    from algorithms import losses

    if label.startswith("comal(") and label.endswith(")"):
        loss, nested = resolve_loss(label[len("comal(") : -1])
        if nested or not loss.regularized:
            why = "COMAL around COMAL is not a rule of this study" if nested else f"{loss.name} has none"
            raise ValueError(f"rule {label!r}: COMAL re-centres a regularized loss's reference; {why}")
        return loss, True
    if label in losses.LOSSES:
        return losses.LOSSES[label], False
    if ":" not in label:
        valid = ", ".join(dict.fromkeys([*RULES, *losses.LOSSES]))
        raise ValueError(f"--rules: unknown {label!r}; valid: {valid}, module:attribute or comal(...)")
    return study.load_instance(label, "--rules", losses.Loss, "an algorithms.losses.Loss"), False


def display_name(label: str) -> str:
    """A rule's name in the tables: its loss's name (a registered loss's is its key), in ``comal(...)``."""
    loss, comal = resolve_loss(label)
    return f"comal({loss.name})" if comal else loss.name


def rule_for(label: str, policy, optimizer, comal_every: int):
    """The loss-based rule of ``label`` (``comal(X)`` re-centred every ``comal_every``)."""
    import algorithms

    loss, comal = resolve_loss(label)
    rule = algorithms.loss_based(loss, policy, optimizer=optimizer, optimizer_steps=OPTIMIZER_STEPS)
    return algorithms.comal(rule, comal_every) if comal else rule


def _feedback(text) -> str:
    """``both`` (the population loss and K = 64 and 1024), ``exact`` or ``sampled:K``."""
    spec = text if text == "both" else cli.feedback_spec(cli.feedback_type(text))
    if spec.startswith("noisy"):
        raise ValueError(
            f"--feedback {spec}: the loss-based rules judge their own pairs (exact or sampled:K)"
        )
    return spec


def named(text: str, dtype: str, seed: int):
    """The study's own games by name (:func:`experiments.common.study.load_game`'s lookup)."""
    import games

    if text in GAMES:
        V, L, judge, options = GAMES[text]
        game = games.sequence_game(V, L, judge, dtype=dtype, **options)
        return gamespec.GameSpec(game, text, {"vocab": V, "length": L, "judge": judge, **options})


def load(item: str, dtype: str, seed: int):
    return study.load_game(item, dtype, seed, named).game


@dataclass(frozen=True)
class Config(study.Base):
    rules: tuple = study.option(
        ",".join(RULES),
        "losses: names of algorithms.losses.LOSSES, yours as module:attribute, comal(a regularized one)",
        quick="inpo",
        parse=study._items("--rules", "rule"),
    )
    games: tuple = study.games(",".join(GAMES), "sequence games", named=tuple(GAMES), quick="verbose3x4")
    feedback: str = study.option(
        "both",
        f"exact: the population loss; sampled:K: K judged pairs per iteration; both (default): the population "
        f"loss and K = {' and '.join(map(str, PAIRS))}",
        parse=_feedback,
    )
    hp: tuple = study.hp()
    policies: tuple = study.option(
        ",".join(POLICIES),
        f"a subset of {', '.join(POLICIES)}",
        quick="autoregressive,transformer",
        parse=study.subset("--policies", POLICIES),
    )
    steps: int = study.steps(160, "iterations per run, a multiple of 10 (default 160; --quick 20)", quick=20)
    seeds: int = study.seeds(16, "seeds of the sampled runs (default 16; --quick 2)", quick=2)
    x: str = study.x_axis("steps", "x-axis of the figure (comparisons: the sampled runs only)")
    comal_every: int = study.option(20, "COMAL's iterations between reference updates", quick=10)
    direct_steps: int = study.option(2000, "Adam steps minimising the transformer's gap directly", quick=50)
    jobs: int = study.jobs()


def feedbacks(c: Config) -> tuple[str, ...]:
    return {"both": ("population", "sampled"), "exact": ("population",)}.get(c.feedback, ("sampled",))


def pairs(c: Config) -> tuple[int, ...]:
    return (int(c.feedback.partition(":")[2]),) if c.feedback.startswith("sampled") else PAIRS


def _built(c: Config) -> dict:
    """Each ``--rules`` item's rule with the tabular policy on the first game, named as in the tables: what
    ``--hp`` is checked on and read from (``study.hparams``: scoped by the item or that name)."""
    from algorithms import policies

    game = load(c.games[0], c.dtype, c.seed)
    return {t: rule_for(t, policies.tabular(game), None, 1)._replace(name=display_name(t)) for t in c.rules}


def prepare(c: Config) -> Config:
    """The cross-flag checks, before any work; ``--hp`` against every rule on the first game."""
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
    names = [display_name(t) for t in c.rules]
    twice = sorted({t for t, n in zip(c.rules, names) if names.count(n) > 1})
    if twice:
        raise ValueError(f"--rules: {', '.join(twice)} have the same name")
    game, built = load(c.games[0], c.dtype, c.seed), _built(c)
    study.check_hp(c, {t: [rule] for t, rule in built.items()})
    for t, rule in built.items():
        rule.init(game, c.seed, **study.hparams(c, rule, t))
    return c


def units(c: Config):
    """One compiled sweep per (games of one shape, policy, rule group, feedback), the transformer's first;
    ``X`` and ``comal(X)`` share one when their other hyperparameters agree; one direct minimisation per shape."""
    shapes = {}  # the games of one sequence shape: one sweep covers them
    for g in c.games:
        shapes.setdefault(load(g, c.dtype, c.seed).sequences.tokens.shape, []).append(g)
    hps, groups = {t: study.hparams(c, rule, t) for t, rule in _built(c).items()}, []
    for r in c.rules:
        if any(r in g for g in groups):
            continue
        partner = f"comal({r})"
        same = partner in c.rules and hps[r] == {k: v for k, v in hps[partner].items() if k != "inner_steps"}
        groups.append((r, partner) if same else (r,))
    todo = itertools.product(map(tuple, shapes.values()), c.policies, groups, feedbacks(c))
    todo = sorted(todo, key=lambda u: (u[1] != "transformer", -len(u[0])))  # the longest first
    direct = [((*b, "direct"), (tuple(b), None, None, "direct")) for b in shapes.values()]
    direct = direct if "transformer" in c.policies else []
    return [*direct, *(("/".join([u[0][0], u[1], u[3], "+".join(u[2])]), u) for u in todo)]


def simulate(c: Config, gms: tuple, policy_kind, group, feedback) -> dict:
    """One compiled sweep over the same-shape games ``gms`` (a ``game`` axis), or their direct minimisation."""
    import pandas as pd

    import algorithms
    import games

    if feedback == "direct":
        best = [(g, *v) for g, v in direct_gaps(gms, c.dtype, c.direct_steps, c.seed).items()]
        return {"direct": pd.DataFrame(best, columns=["game", "start", "best"])}
    batch, source, sampled = [load(g, c.dtype, c.seed) for g in gms], group[-1], feedback == "sampled"
    policy, opt = make_policy(policy_kind, batch[0])  # the policies read the shape and token table only
    rule = rule_for(source, policy, opt, c.comal_every)  # comal(X) when merged with X
    grid = {**study.hparams(c, _built(c)[source], source), "start_noise": START_NOISE}
    if merged := len(group) == 2:  # X never re-centres: inner_steps past the run
        grid["inner_steps"] = [c.steps + 1, grid.get("inner_steps", c.comal_every)]
    fb = None
    if sampled:  # K_max drawn, the run hyperparameter samples judges each K
        fb, grid["samples"] = games.feedback.sampled(max(pairs(c))), list(pairs(c))
    seeds = cli.run_seeds(c.seed, c.seeds) if sampled else [c.seed]
    metrics = ("gap", ("favoured_mass", favoured_mass))
    run = dict(steps=c.steps, record_every=c.steps // 10, seeds=seeds, metrics=metrics, feedback=fb)
    tr = algorithms.sweep(rule, batch if len(batch) > 1 else batch[0], **run, **grid)
    names = [display_name(t) for t in group]
    one = list(gms) if len(batch) > 1 else gms[0]
    m, _ = tables.tidy(tr, experiment=STUDY, game=one, rule=names[-1], seed=c.seed)
    if merged:
        m["rule"] = np.where(m["inner_steps"] > c.steps, names[0], names[1])
    m = m.drop(columns="inner_steps", errors="ignore").rename(columns={"samples": "pairs"})
    m["policy"] = policy_kind
    m["feedback"] = ("K=" + m["pairs"].astype(int).astype(str)) if sampled else "population"
    return {"trace": m}


def direct_gaps(names: tuple, dtype: str, steps: int, seed: int):
    """``{game: (start gap, best gap)}`` of the transformer family (from the study's perturbed start) when the
    duality gap itself is minimised by Adam (3e-3) over its parameters: one ``lax.scan``, vmapped over games."""
    import jax
    import jax.numpy as jnp
    import optax

    import algorithms
    import games

    batch = [load(g, dtype, seed) for g in names]
    policy, _ = make_policy("transformer", batch[0])
    rule = algorithms.loss_based("inpo", policy)  # only its start: the same base logit as the study's runs
    offsets = jnp.stack([rule.init(g, seed, start_noise=START_NOISE).offset for g in batch])
    opt, params = _adam(3e-3), policy.init(jax.random.key(seed))

    def one(game, offset):
        def gap(p):
            return games.duality_gap(game, jnp.exp(jax.nn.log_softmax(offset + policy.log_probs(p), -1))[0])

        def body(carry, _):
            p, s, best = carry
            g, grad = jax.value_and_grad(gap)(p)
            upd, s = opt.update(grad, s, p)
            return (optax.apply_updates(p, upd), s, jnp.minimum(best, g)), g

        init = (params, opt.init(params), jnp.asarray(jnp.inf, offset.dtype))
        (p, _, best), gs = jax.lax.scan(body, init, None, length=steps)
        return gs[0], jnp.minimum(best, gap(p))

    first, best = jax.jit(jax.vmap(one))(games.stack_games(batch), offsets)
    return {g: (float(a), float(b)) for g, a, b in zip(names, first, best)}


def report(c: Config, t: dict, folder) -> dict:
    """``trace.csv`` in the flags' order (whatever --jobs; the gap and ``favoured_mass``, the expected share of
    positions holding token ``a``), ``summary.csv``, ``direct.csv`` (the transformer's best gap when the gap
    itself is minimised, each game's Nash mass on ``a``) and the figure."""
    import games

    df, rules = t["trace"], [display_name(r) for r in c.rules]
    feedback = ["population", *(f"K={k}" for k in pairs(c))]
    rank = {"game": c.games, "policy": c.policies, "rule": rules, "feedback": feedback}
    order = lambda col: col.map({v: i for i, v in enumerate(rank[col.name])}) if col.name in rank else col
    df = df.sort_values([*rank, "seed", "metric", "step"], key=order, ignore_index=True)
    output.write_frame(folder / "trace.csv", df)  # replaces the shell's, in the units' order
    by = ("game", "policy", "rule", "feedback")
    mass = results.summary(df, by=by, level=LEVEL, metric="favoured_mass")["final"]
    judged = df.groupby(list(by), sort=False)["comparisons"].max().to_numpy().astype(int)
    rows = results.summary(df, by=by, level=LEVEL).drop(columns="curve")
    rows = rows.assign(comparisons=judged, favoured_mass=mass)
    output.write_frame(folder / "summary.csv", rows)
    best = {r.game: (r.start, r.best) for r in t["direct"].itertuples()} if "direct" in t else {}
    mass = lambda g: float(games.sequences.token_mass(games.solve(g).x, g.sequences, FAVOURED))
    nash, direct = {}, []
    for g in c.games:
        nash[g] = mass(load(g, c.dtype, c.seed))
        if g in GAMES and GAMES[g][3].get("verbosity"):  # the same judge without its bias
            V, L, judge, options = GAMES[g]
            plain = games.sequence_game(V, L, judge, dtype=c.dtype, **{**options, "verbosity": 0.0})
            nash[f"{g} without verbosity"] = mass(plain)
        direct.append((g, *((f"{v:.3e}" for v in best[g]) if g in best else ("—", "—")), f"{nash[g]:.3f}"))
    header = ("game", "transformer start gap", "best transformer gap (gap minimised)", "Nash mass on a")
    output.write_csv(folder / "direct.csv", direct, header)
    output.save_figure(figure(df, c.x), folder / "sequences.png", drawn_by=figures.drawn_by(figure))
    low, n = rows.loc[rows["final"].idxmin()], len(rows)
    print(f"summary.csv: {n} runs; lowest final gap {low['final']:.2e} ({', '.join(low[:4])})")
    print(f"{int((rows['reached'] == 1).sum())} of {n} stay below {LEVEL:g}; Nash mass on a: {nash}")
    rules = [dict(name=display_name(r), source=r, loss=resolve_loss(r)[0].name) for r in c.rules]
    rules = [r | dict(comal=resolve_loss(r["source"])[1]) for r in rules]
    policies = dict(names=list(c.policies), transformer=WIDTH, transformer_optimizer="optax.adam(1e-2)")
    runs = dict(kinds=list(feedbacks(c)), pairs=list(pairs(c)), labels="hard", draws="token by token")
    steps = dict(optimizer_steps=OPTIMIZER_STEPS, start_noise=START_NOISE, record_every=c.steps // 10)
    return dict(rules=rules, policies=policies, feedback_runs=runs, **steps, nash_favoured_mass=nash)


def figure(df, x: str = "steps"):
    """One panel per rule and game, one curve per policy and feedback: the gap against ``x`` (iterations,
    oracle calls or comparisons: the population loss judges none, so then the sampled runs only), by
    :func:`experiments.common.results.gap_figure` (median over seeds, 95 % bootstrap band)."""
    d = df[df["feedback"] != "population"] if x == "comparisons" else df
    d = d.assign(run=d["rule"] + " on " + d["game"])
    by, x = ("run", "policy", "feedback"), "step" if x == "steps" else x
    title = "sequences: the population loss is one deterministic run"
    return results.gap_figure(d, x=x, level=LEVEL, by=by, panel="run", title=title)


STUDY_DECL, main = study.declare(
    globals(),
    refuses={
        "comparisons": "the games are sequence games (a token table); comparison records make a tabular game",
        "schedules": "the loss-based rules run at constant step sizes",
    },
)
