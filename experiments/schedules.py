"""What makes sampled COMAL converge, and at what cost: sample-size schedules and adaptive re-centring.

Each run judges ``--budget`` comparisons under a schedule of K_t (judged pairs, or duels per action, per
iteration) or under adaptive re-centring (``until``); see ``docs/studies/schedules.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .common import cli, figures, gamespec, output, results, study, tables

STUDY = "schedules"
ETA, TAU, MU, CAP = 0.5, 0.1, 0.1, 2**16  # CAP: the growing K_t's, which no run here reaches
#: iterations between re-centrings; with until at most UNTIL_CAP per round, until eps_k = 0.02 * 0.8^k
EVERY, UNTIL_CAP, UNTIL = 100, 400, (0.02, 0.8)
#: label -> what runs: a loss of :data:`algorithms.losses.LOSSES` (a loss-based rule on the policy axis), or a
#: closed-form rule of ``algorithms``
RULES = {
    "comal(inpo)": "inpo",
    "nash_prox": "nash_mp",
    "m2wu": "mutation_mwu",
    "inpo": "inpo",
    "egpo": "egpo",
    "omwu": "omwu",
}
RESETTING = ("comal(inpo)", "nash_prox", "m2wu")
ORACLE, ESTIMATED = "until (oracle)", "until (estimated)"
#: schedule label -> (start, rate, power, cap) of algorithms.schedules.growth, and how until tests the gap
SCHEDULES = {
    **{f"K={k}": ((k, 1.0, 0.0, k), None) for k in (16, 256, 4096)},
    "geometric": ((16, 1.003, 0.0, CAP), None),
    "polynomial": ((16, 1.0, 0.75, CAP), None),
    ORACLE: ((16, 1.003, 0.0, CAP), "oracle"),
    ESTIMATED: ((16, 1.003, 0.0, CAP), "estimated"),
}
POLICIES = ("tabular", "loglinear")
#: the gap levels whose first crossing the summary reports (comparisons to reach each)
LEVELS = (1e-2, 1e-3)
TABULAR = "any other game runs with the tabular policy only"  # no response features
PROMPTS_PER_ITERATION, RECORDS = 4, 100
FIXED = ("samples", "inner_steps", "until")  # --hp names the design fixes
named = gamespec.featured  # the paper and contextual games by name (study.load_game's lookup)


def _until(s: str):
    return SCHEDULES[s][1] if s in SCHEDULES else None


def _user(text: str):
    return None if text in RULES else study.load_rule(text)


def _loss(text: str) -> bool:
    """Whether ``text`` runs a loss-based rule (it takes a policy) rather than one asking for gradients."""
    from algorithms import losses

    return RULES.get(text) in losses.LOSSES


def schedule(label: str, prompts: int = 1):
    """The schedule of ``label`` in the unit the rule counts (per prompt on a contextual game)."""
    from algorithms import schedules

    if label not in SCHEDULES:  # a user's K_t, all prompts together
        fn = study.load_object(label, "--schedules")
        return fn if prompts == 1 else lambda t: fn(t) / prompts
    (start, rate, power, cap), _ = SCHEDULES[label]
    return schedules.growth(start / prompts, rate, power, cap / prompts)


def k_values(label: str, n: int, prompts: int = 1) -> np.ndarray:
    """``K_t`` (all prompts together) at ``t < n``; ``ValueError`` where a user's ``K_t`` is not a whole number
    ``>= 1`` and a multiple of ``prompts`` (a float is refused, not rounded)."""
    import jax

    if label in SCHEDULES:
        return np.asarray(schedule(label, prompts)(np.arange(n))) * prompts
    try:
        k = np.asarray(jax.vmap(schedule(label))(np.arange(n)), np.float64)
    except Exception as err:  # noqa: BLE001 - the user's function: one line, not a traceback
        raise ValueError(f"--schedules {label}: schedule(t) raised {type(err).__name__}: {err}") from None
    bad = np.nonzero(~np.isfinite(k) | (k < 1) | (k != np.floor(k)) | (np.fmod(k, prompts) != 0))[0]
    if bad.size:
        of = f" and a multiple of {prompts} (pairs per prompt)" if prompts > 1 else ""
        raise ValueError(
            f"--schedules {label}: K_t must be a whole number >= 1{of} at every step, got K_{bad[0]} = "
            f"{k[bad[0]]:g}; a float is refused, not rounded: floor it (jnp.floor)"
        )
    return k


def steps_for(label: str, per_k: float, budget: float, max_steps: int, prompts: int = 1) -> int:
    """Iterations until the schedule has judged ``budget`` comparisons (``per_k`` per unit of K per iteration),
    rounded up to a multiple of ``RECORDS``, at most ``max_steps``."""
    reached = np.nonzero(np.cumsum(k_values(label, max_steps, prompts) * per_k) >= budget)[0]
    n = int(reached[0]) + 1 if reached.size else max_steps
    return max(RECORDS, -(-n // RECORDS) * RECORDS)


def _resets(text: str, no_wrap: bool = False) -> bool:
    """Whether COMAL re-centres ``text``: the study's resetting rules, and a user's regularized rule unless it
    has outer ``rounds`` of its own (a second hard reset would override them) or ``--no-wrap``."""
    user = _user(text)
    return text in RESETTING or (
        user is not None and not no_wrap and user.regularized and user.rounds is None
    )


def label(text: str, no_wrap: bool = False) -> str:
    """The ``rule`` column: a study label as it is; a user rule says how the study wraps it."""
    return text if text in RULES else f"comal({text})" if _resets(text, no_wrap) else text


def applies(text: str, s: str, no_wrap: bool = False) -> bool:
    """Whether schedule ``s`` runs with rule ``text``: until needs a re-centred rule with a KL weight (and, to
    estimate its gap, sampled gradients); the rules that never re-centre take fixed K and one growing K."""
    if _until(s):
        has_tau = text != "m2wu" and (text in RULES or _user(text).tau is not None)
        return _resets(text, no_wrap) and has_tau and (_until(s) == "oracle" or not _loss(text))
    return s != "polynomial" or text in RESETTING


def build_rule(text: str, s: str, policy, prompts=None, no_wrap: bool = False):
    """The rule of ``text`` under schedule ``s``; what it observes is :func:`feedback`."""
    import algorithms

    if _loss(text):
        inner = algorithms.loss_based(RULES[text], policy, prompts=prompts)
    else:
        inner = getattr(algorithms, RULES[text])() if text in RULES else _user(text)
        if _until(s) == "estimated":  # the test estimates the gap from the same sampled feedback
            return algorithms.comal(inner, UNTIL_CAP, until=UNTIL[0], estimate=True)
    if not _resets(text, no_wrap):
        return inner
    if _until(s):  # the analysis oracle: it reads the exact game, so the row is labelled and kept unranked
        return algorithms.comal(inner, UNTIL_CAP, until=UNTIL[0], reads_game=True)
    return algorithms.comal(inner, EVERY)


def feedback(kmax: int):
    """What every rule observes: ``kmax`` draws as counts; the run hyperparameter ``samples`` judges K_t."""
    import games

    return games.feedback.sampled(kmax, counts=True)


def hparams(c, text: str, rule, s: str, prompts: int) -> dict:
    """The study's hyperparameters of ``rule`` (those it declares; a user rule keeps its defaults), ``--hp``."""
    from algorithms import schedules

    declared = {h.name for h in rule.hparams}
    hp = {"samples": schedule(s, prompts)}  # the feedback's: how many of the K_max drawn are judged
    if text in RULES:
        hp.update({n: v for n, v in (("eta", ETA), ("tau", TAU), ("mu", MU)) if n in declared})
    hp.update(study.hparams(c, study.load_rule(text), text))  # scoped by the user rule's own name too
    hp.update(study.hparams(c, rule, text))
    return {**hp, "until": schedules.exponential(*UNTIL)} if _until(s) else hp


@dataclass(frozen=True)
class Config(study.Base):
    rules: tuple = study.rules(
        ",".join(RULES),
        f"this study's {', '.join(RULES)}, or any rule that asks for gradients: it learns from sampled duels "
        "and, with a reference and no outer rounds of its own, is re-centred: comal(NAME)",
        quick="comal(inpo),inpo",
    )
    no_wrap: bool = study.option(False, "do not re-centre your own rules with COMAL (they still duel)")
    games: tuple = study.games(",".join(gamespec.FEATURED), TABULAR, named=gamespec.FEATURED, quick="paper")
    comparisons: str = study.comparisons()
    hp: tuple = study.hp(f"this study's rules: eta 0.5, tau 0.1, mu 0.1 (M2WU); {', '.join(FIXED)}: refused")
    schedules: tuple = study.schedules(
        ",".join(SCHEDULES),
        "'until': both until rows; module:attribute: t -> K_t in jnp (pairs per iteration, or duels per action "
        "per gradient), a whole number >= 1 at every step (a multiple of 4 for loss-based rules on a contextual "
        "game): a float is refused, not rounded",
        named=(*SCHEDULES, "until"),
        quick=f"K=256,geometric,{ORACLE}",
    )
    seeds: int = study.seeds(16, "seeds per configuration (default 16; --quick 4)", quick=4)
    jobs: int = study.jobs()
    policies: tuple = study.option(
        "tabular,loglinear",
        "tabular, loglinear (default both; --quick tabular)",
        quick="tabular",
        parse=study.subset("--policies", POLICIES),
    )
    budget: float = study.option(1e7, "comparisons each run judges (default 1e7; --quick 2e5)", quick=2e5)
    max_steps: int = study.option(
        10000,
        f"at most this many iterations per run, >= 100 (default 10000; --quick 2000); {study.CAP_HELP}",
        quick=2000,
        parse=study._work("max-steps"),
    )


def units(c: Config):
    """Per game, rule, policy and schedule: one sweep over seeds. Without ``--games`` the closed forms, which
    duel every prompt, run on the paper game only, and K=16 (4 pairs per prompt) not on the contextual one."""
    default, all_k, out = not c.quick and c.games == gamespec.FEATURED, c.schedules == tuple(SCHEDULES), []
    for item in study.game_items(c):
        featured = gamespec.features(item, c.dtype, c.seed) is not None
        for r in c.rules:
            loss = _loss(r)
            pols = c.policies if loss and featured else ("tabular",) if "tabular" in c.policies else ()
            for pol, s in [(pol, s) for pol in pols for s in c.schedules if applies(r, s, c.no_wrap)]:
                if not (default and item == "contextual" and (not loss or (s == "K=16" and all_k))):
                    out.append(((item, r, pol, s), (item, r, pol, s)))
    return out


def _plan(c: Config, item: str, text: str, pol: str, s: str):
    """One unit's ``(game spec, rule, hyperparameters, run arguments)``: the iterations its schedule takes to
    judge ``--budget`` comparisons, the feedback drawing the largest K_t among them."""
    from algorithms import policies

    gs, feats = study.load_game(item, c.dtype, c.seed, named), gamespec.features(item, c.dtype, c.seed)
    game, loss = gs.game, _loss(text)
    prompts = PROMPTS_PER_ITERATION if (loss and game.contextual) else 1
    per_k = 1.0  # comparisons per unit of K per iteration: pairs (all prompts together), or for the closed
    if not loss:  # forms gradients (the estimated until test asks one more) x actions x prompts
        calls = (2 if RULES.get(text) == "nash_mp" else 1) + (_until(s) == "estimated")
        per_k = calls * game.shape[0] * (game.A.shape[0] if game.contextual else 1)
    n = steps_for(s, per_k, c.budget, c.max_steps, prompts)
    policy = policies.by_name(pol, game, feats) if loss else None
    kmax = int(k_values(s, n, prompts).max()) // prompts  # per prompt (loss-based, contextual)
    rule = build_rule(text, s, policy, prompts if prompts > 1 else None, c.no_wrap)
    run = dict(steps=n, record_every=n // RECORDS, metrics=("gap",), feedback=feedback(kmax))
    return gs, rule, hparams(c, text, rule, s, prompts), run


def prepare(c: Config) -> Config:
    """float64; ``--max-steps``; user rules that can duel; user schedules that give whole K_t; ``--hp``
    (:func:`experiments.common.checks.check_hp`) and each unit's rule initialised; each sweep's memory."""
    from algorithms import memory

    if c.dtype != "float64":
        raise ValueError("--dtype: the schedules study runs in float64 only")
    picked = {n for t in c.schedules for n in ((ORACLE, ESTIMATED) if t == "until" else (t,))}
    c = replace(c, schedules=(*[s for s in SCHEDULES if s in picked], *[t for t in c.schedules if ":" in t]))
    if c.max_steps < RECORDS:
        raise ValueError(f"--max-steps ({c.max_steps}) must be at least {RECORDS}")
    for r in [_user(t) for t in c.rules if t not in RULES]:
        if r.exact_only:
            raise ValueError(f"--rules: {r.name} asks the oracle for no gradient; it cannot learn from duels")
    for n in [n for _, n, _ in c.hp if n in FIXED][:1]:
        raise ValueError(
            f"--hp {n}: fixed by the design (samples: the --schedules axis; COMAL re-centres every "
            f"{EVERY} iterations, with until at most {UNTIL_CAP}, eps_k = {UNTIL[0]} * {UNTIL[1]}^k)"
        )
    plans = {key: _plan(c, *key) for key, _ in units(c)}  # each unit's rule built, a user's K_t checked
    if not plans:
        raise ValueError("--rules/--schedules/--policies/--games select no configuration")
    built = {t: [p[1] for key, p in plans.items() if key[1] == t] for t in c.rules}
    study.check_hp(c, {t: [*rules, study.load_rule(t)] for t, rules in built.items()})  # wrapped or not
    for gs, rule, hp, run in plans.values():  # each rule initialised on its game; its sweep's memory
        fixed = {k: v for k, v in hp.items() if not callable(v)}  # the schedules are no grid axes
        rule.init(gs.game, c.seed, **fixed)
        memory.check_sweep(rule, gs.game, seeds=c.seeds, **run, **fixed)
    return c


def simulate(c: Config, item: str, text: str, pol: str, s: str) -> dict:
    """One sweep over seeds (in a worker process): ``{"trace": tidy frame}``."""
    import algorithms

    gs, rule, hp, run = _plan(c, item, text, pol, s)
    tr = algorithms.sweep(rule, gs.game, seeds=cli.run_seeds(c.seed, c.seeds), **run, **hp)
    m, _ = tables.tidy(tr, experiment=STUDY, game=gs.label, rule=label(text, c.no_wrap), seed=c.seed)
    m = m[m["prompt"].isna()].drop(columns="prompt") if "prompt" in m.columns else m
    loss = _loss(text)
    m["policy"] = pol if loss else "tabular (duels)"
    m["schedule"] = s
    m["K"] = m.pop("samples") * (PROMPTS_PER_ITERATION if loss and gs.game.contextual else 1)
    return {"trace": m.drop(columns=["until", "inner_steps"], errors="ignore")}


LABELS = ["game", "policy", "rule", "schedule"]


def report(c: Config, t: dict, folder) -> dict:
    df = t["trace"]
    rows = summary(df, c.budget)
    output.write_frame(folder / "summary.csv", rows)
    output.save_figure(figure(df, c.seeds), folder / "schedules.png", drawn_by=figures.drawn_by(figure))
    medians = rows.loc[:, ~rows.columns.str.endswith(("_lo", "_hi"))]  # the bands: in summary.csv
    oracle = rows["schedule"] == ORACLE
    print(
        f"last-iterate gap against judged comparisons, median over {c.seeds} seeds (95% bootstrap bands in "
        "summary.csv); inf: never (the gap does not stay below the level by the end); slope: log gap against "
        "log comparisons over the last decade of comparisons; every row pays for each comparison it uses:"
    )
    print(medians[~oracle].to_string(index=False, float_format="{:.3g}".format))
    if oracle.any():
        print(
            f"oracle-assisted, not comparable on cost: {ORACLE} ends a round on the exact regularized gap read "
            f"from the game, which judges no comparison ({ESTIMATED} pays for the same test in duels):"
        )
        print(medians[oracle].to_string(index=False, float_format="{:.3g}".format))
    runs = df.groupby(["game", "rule", "policy", "schedule"], sort=False)["step"].max()
    return {
        "rules": {r: RULES.get(r, r) for r in dict.fromkeys(df["rule"])},
        "observed": "games.feedback.sampled(K_max, counts=True), run hyperparameter samples = K_t",
        "hyperparameters": {"eta": ETA, "tau": TAU, "mu (m2wu)": MU, "--hp": [list(h) for h in c.hp]},
        "schedules": {s: SCHEDULES.get(s, ({"source": s}, None)) for s in dict.fromkeys(df["schedule"])},
        "until": {"eps_k": f"{UNTIL[0]} * {UNTIL[1]}^k", "max_inner_steps": UNTIL_CAP},
        "test_judges_comparisons": {ORACLE: False, ESTIMATED: True},
        "recentre_every": EVERY,
        "optimizer": "optax.sgd(0.5), 10 steps per iteration (algorithms.loss_based defaults)",
        "steps": {"/".join(k): int(v) for k, v in runs.items()},
    }


def slope(comparisons: np.ndarray, gaps: np.ndarray) -> float:
    """Least-squares slope of ``log gap`` against ``log comparisons`` over the records of the last decade of
    comparisons (``c >= c_end / 10``, gaps > 0): -1/2 is the Monte-Carlo rate, 0 a plateau."""
    c, g = np.asarray(comparisons, float), np.asarray(gaps, float)
    keep = (c >= c[-1] / 10) & (c > 0) & (g > 0)
    if keep.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log10(c[keep]), np.log10(g[keep]), 1)[0])


def summary(df, budget: float):
    """One row per (game, policy, rule, schedule), medians over seeds with ``_lo``/``_hi`` 95 % bootstrap bands
    (:func:`experiments.common.results.summary`): the comparisons from which the gap stays at or below each of
    :data:`LEVELS` (inf: never), the gap at the last record within ``budget`` and the comparisons judged by
    then, and :func:`slope`. Returns a DataFrame."""
    gap = df[df["metric"] == "gap"]
    judged = gap[gap["comparisons"] <= budget]  # all of a run that ends short of the budget
    at = results.summary(judged, by=LABELS, level=LEVELS[0], x="comparisons")
    rows = at[LABELS].copy()
    for level in LEVELS:  # seeds judge the same comparisons: one cost axis for all
        cost = results.summary(gap, by=LABELS, level=level, x="comparisons").filter(like="_to_level")
        rows[cost.columns.str.replace("level", f"{level:g}")] = cost.to_numpy()
    rows["comparisons"] = judged.groupby(LABELS, sort=False)["comparisons"].max().to_numpy()
    rows[["gap_at_budget", "gap_at_budget_lo", "gap_at_budget_hi"]] = at.filter(like="final").to_numpy()
    curves = results.runs(gap, "gap", "comparisons", LABELS).values()
    slopes = [results.median_band([slope(c, g) for g in v]) for c, v in curves]
    rows[["slope", "slope_lo", "slope_hi"]] = np.asarray(slopes, float)
    return rows


def figure(df, seeds: int):
    """One panel per rule, game and policy, one curve per schedule against comparisons judged."""
    d = df.assign(run=df["rule"] + " on " + df["game"] + ", " + df["policy"])
    title = f"sampled COMAL and its peers, {seeds} seeds ({ORACLE}: its test judges no comparison)"
    return results.gap_figure(
        d, x="comparisons", level=LEVELS[-1], by=("run", "schedule"), panel="run", title=title
    )


STUDY_DECL, main = study.declare(
    globals(),
    refuses={
        "feedback": "every rule observes sampled(K_max, counts=True) feedback judging K_t of --schedules "
        "(pairs per prompt, or duels per action): what the learner observes is the schedule axis",
        "steps": "each run lasts until it has judged --budget comparisons (at most --max-steps iterations)",
        "x": "the cost axis is comparisons judged, the one cost loss-based and dueling rules share",
    },
)
