"""Reproductions of published synthetic experiments, each at its source's game, hyperparameters and metric.

An entry is data: its source, its runs (rule, values, length, trials, game) and its checks (a measure of the
records against a published value with its tolerance, or a source's claim). The study prints the published
values beside the sandbox's and draws each source's axes.

    python -m experiments reproduce --list
    python -m experiments reproduce all [--quick]        (or one entry: reproduce mmd_perturbed_rps)
"""

from __future__ import annotations

import functools
import itertools
import sys
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .common import cli, output, study, tables

STUDY = "reproduce"


# fmt: off
class Run(NamedTuple):  # steps and trials: (full, --quick); random_start: normalised Exp(1) draws (M2WU's code);
    label: str; rule: str; hp: dict; steps: tuple = (); trials: tuple = (1, 1); feedback: str = "exact"  # noqa: E702
    random_start: bool = False; self_play: bool | None = None; compare: tuple | None = None  # noqa: E702
    game: str | None = None; panel: str = ""  # noqa: E702  (game: the entry's unless given; see game_of)
    # compare: also record the code's KL(pi || compare), averaged over the players (MMD)


class Check(NamedTuple):  # op "≈": |sandbox - published| <= tol; "<" / ">": a bound, the source's claim
    what: str; op: str; published: float; tol: float; spec: tuple  # noqa: E702  (spec: see measure)


class Entry(NamedTuple):  # game: see game_of; axes: (metric label, scale of the metric, xscale, yscale, metric)
    source: str; game: str; runs: tuple; checks: tuple; axes: tuple  # noqa: E702


def near(what, published, tol, *spec) -> Check: return Check(what, "≈", published, tol, spec)  # noqa: D103, E704
def claim(what, op, bound, *spec) -> Check: return Check(what, op, bound, 0, spec)  # noqa: D103, E704
# fmt: on


def measure(spec, d, game) -> float:
    """A check's sandbox value from the entry's records ``d`` (mean over trials): the ``final`` record, the least
    over the last tenth (``tail``), the last ``kl``, final a ``below`` final b, the LP ``value``, the solver's
    ``qre`` or MMD's final exploitability (``qre_gap``) against the code's QRE; the maximal lottery's mass on a
    label (``ml``, a game of :func:`game_of`), a population's Bradley-Terry score of a minus b (``bt``), a run's
    final mass on a label (``share``); a label ``None``: the spread (largest minus smallest)."""
    import pandas as pd

    import games

    kind, *args = spec
    if kind in ("ml", "bt", "share"):
        g, r = game_of(args[0])[0] if kind == "ml" else None, d[d["run"] == args[0]]
        p = r[r["step"] == r["step"].max()].filter(like="p:").dropna(axis=1).mean().rename(lambda c: c[2:])
        if kind == "bt":
            p = games.bradley_terry_fit(voters(args[0])).scores
        elif kind == "ml":
            p = pd.Series(games.solve(g).x, g.labels)
        return float(p.max() - p.min() if args[1] is None else p[args[1]] - (p[args[2]] if args[2:] else 0))
    if kind == "value":
        return games.solve(game).value
    if kind in ("qre", "qre_gap"):
        q = np.asarray(MMD_QRE[args[0]]) / np.sum(MMD_QRE[args[0]])  # normalised, as the code's project()
        if kind == "qre":
            return float(np.abs(games.regularized_equilibrium(game, args[0]).x - q).max())
        return abs(measure(("final", f"tau={args[0]:g}"), d, game) - float(games.duality_gap(game, q, q)) / 2)
    if kind == "below":
        return measure(("final", args[0]), d, game) - measure(("final", args[1]), d, game)
    r = d[d["run"] == args[0]].groupby("step")["kl" if kind == "kl" else "value"].mean()
    return float(r[r.index >= 0.9 * r.index.max()].min() if kind == "tail" else r.iloc[-1])


#: Jackpot (arXiv 2501.19266) Sec. 6.3: each population as (ranking, voters); a voter judges every pair of its
#: ranking. The IIA experiment's second population adds green to the first: it is the majority population.
POPULATIONS = {
    "majority": ((("red", "green", "blue"), 2), (("blue", "red", "green"), 3)),
    "iia_2": ((("red", "blue"), 2), (("blue", "red"), 3)),
    "cyclic": ((("red", "green", "blue"), 1), (("green", "blue", "red"), 1), (("blue", "red", "green"), 1)),
}
POPULATIONS["iia_3"] = POPULATIONS["majority"]


@functools.cache
def voters(pop: str):
    """A population's comparisons (:func:`games.tally`): every voter's every pair, ``count`` voters each."""
    import pandas as pd

    import games

    pairs = [(a, b, "left", k) for rank, k in POPULATIONS[pop] for a, b in itertools.combinations(rank, 2)]
    return games.tally(pd.DataFrame(pairs, columns=["left", "right", "winner", "n"]), count="n")


@functools.cache
def game_of(name: str, trial: int = 0, dtype=None):
    """``(game, ref)``: ``voters:<population>`` its maximal-lottery (margin) game, ``bt:<population>`` its
    Bradley-Terry fit's game (RLHF's reward), ``egpo_random:<n>`` EGPO's random game and reference (its code's
    ``gen_preference_matrix(..., "random")`` and ``random_init``: ``P_ij ~ U(0, 1)``, ``ref = softmax(N(0, 1))``;
    NumPy's draws for ``trial``), else the ``games.library`` game of that name (reference uniform)."""
    import games

    kind, _, arg = name.partition(":")
    if kind == "voters":
        return games.from_comparisons(voters(arg), kind="margins", dtype=dtype), None
    if kind == "bt":
        s = games.bradley_terry_fit(voters(arg)).scores
        return games.library.bradley_terry(s.to_numpy(), labels=tuple(s.index), dtype=dtype), None
    if kind == "egpo_random":
        logits = np.random.default_rng([2018011309, trial]).normal(size=int(arg))  # the code's seed; NumPy
        ref = np.exp(logits - np.logaddexp.reduce(logits))
        return games.library.random_preference(2018011309 + trial, int(arg), "uniform", dtype=dtype), ref
    return getattr(games.library, name)(dtype=dtype), None


#: MMD's code pre-computes the KL-regularized (QRE) equilibrium at four temperatures (x = y, 8 decimals; the
#: code normalises them, ``mmd/utils.py::project``: the one at 0.5 sums to 1 - 1e-8)
MMD_QRE = {
    0.05: (0.1517447, 0.46794775, 0.38030755),
    0.1: (0.17347803, 0.48630324, 0.34021873),
    0.2: (0.22364492, 0.47798817, 0.29836691),
    0.5: (0.29813319, 0.41382045, 0.28804635),
}
# fmt: off
CAI = (("RM+", "rm_plus"), ("alt. RM+", "alternating_rm_plus"), ("PRM+", "predictive_rm_plus"),
       ("alt. PRM+", "alternating_predictive_rm_plus"), ("RM", "regret_matching"),
       ("RM+ (average)", "averaged(rm_plus)"))
SLING, NOISY = "M2WU, mu=0.5, update_freq=20000", dict(steps=(1_000_000, 100_000), trials=(10, 2), feedback="noisy:0.1")
M2WU = "Abe et al., arXiv 2208.09855; code CyberAgentAILab/m2wu README: biased RPS, "
#: Jackpot's rules: the maximal lottery's last iterate (COMAL) and a mixture of iterates (averaged MWU, as the
#: paper's SPO returns), and RLHF (MWU on the Bradley-Terry fit's game: its equilibrium is the fit's leader)
JACKPOT = (("ML, COMAL", "comal", {}, "voters"), ("ML, MWU mixture", "averaged(mwu)", {"eta": 0.5}, "voters"),
           ("RLHF, MWU on BT", "mwu", {"eta": 0.5}, "bt"))
#: EGPO's code, ``simulations/configs.py``, ``EXP_CONFIG["exact"]["tabular"]``: (beta, iters, lr)
EGPO = ((0.001, 100_000, 2e-4), (0.01, 5_000, 0.02), (0.1, 1_000, 0.1))


def jackpot(what: str, pops: tuple, checks: tuple) -> Entry:
    """A Jackpot experiment: every rule of :data:`JACKPOT` on every population, from random starts."""
    return Entry(
        f"Maura-Rivero, Lanctot, Visin, Larson, arXiv 2501.19266, Sec. 6.3 and Fig. 2, {what}; populations from the "
        "paper's description as an independent reproduction's report states them (the paper's text was not "
        "reachable here); maximal lottery (LP), Bradley-Terry fit, last iterates (no number: its claims)",
        f"voters:{pops[0]}", tuple(Run(f"{p}: {who}", rule, hp, (10_000, 10_000), random_start=True,
                                       self_play=True, game=f"{g}:{p}") for p in pops for who, rule, hp, g in JACKPOT),
        checks, ("share of the answers", 1.0, "linear", "linear"))


def blue_wins(p: str, rlhf: str, other: str) -> tuple:
    """Jackpot: the maximal lottery and its rules put all mass on blue; RLHF's reward and policy on ``rlhf``."""
    return (near(f"{p}: maximal lottery (LP), mass on blue", 1.0, 1e-9, "ml", f"voters:{p}", "blue"),
            claim(f"{p}: Bradley-Terry score of {rlhf} minus {other}", ">", 0, "bt", p, rlhf, other),
            claim(f"{p}: ML, COMAL last iterate, mass on blue", ">", 0.99, "share", f"{p}: ML, COMAL", "blue"),
            claim(f"{p}: ML, MWU mixture, mass on blue", ">", 0.95, "share", f"{p}: ML, MWU mixture", "blue"),
            claim(f"{p}: RLHF last iterate, mass on {rlhf}", ">", 0.99, "share", f"{p}: RLHF, MWU on BT", rlhf))


ENTRIES = {
    "cai_rm_counterexample": Entry(
        "Cai, Farina, Grand-Clément, Kroer, Lee, Luo, Zheng, arXiv 2311.00676, Sec. 3 and Fig. 1 (3x3 game of value "
        "1/4): RM+, alternating RM+ and predictive RM+ lack last-iterate convergence (no number: a claim)",
        "rm_counterexample", tuple(Run(label, rule, {"eta": 1.0}, (100_000, 10_000)) for label, rule in CAI),
        (near("value of the game (LP)", 0.25, 1e-9, "value"),
         *(claim(f"{r} last-iterate gap, min over the last tenth", ">", 1e-2, "tail", r)
           for r in ("RM+", "alt. RM+", "PRM+")),
         claim("RM+ average-iterate gap, final", "<", 5e-2, "final", "RM+ (average)")),
        ("duality gap", 1.0, "log", "log")),
    "mmd_perturbed_rps": Entry(
        "Sokota et al., arXiv 2206.05825; code ssokota/mmd examples/nfg/perturbed_rps.py: lr = temp = tau, uniform "
        "start and magnet, 10,000 iterations; exploitability (half the gap), KL to the code's pre-computed QREs",
        "perturbed_rps",
        tuple(Run(f"tau={t:g}", "mmd", {"eta": t, "tau": t}, (10_000, 10_000), compare=np.divide(q, sum(q)))
              for t, q in MMD_QRE.items()),
        tuple(c for t in MMD_QRE for c in (
            near(f"QRE at tau={t:g}: max |solver - code|", 0.0, 1e-7, "qre", t),
            near(f"MMD at tau={t:g}: |exploitability - code QRE's|", 0.0, 1e-7, "qre_gap", t),
            claim(f"MMD at tau={t:g}: KL to the code's QRE (its figure's floor)", "<", 1e-6, "kl", f"tau={t:g}"))),
        ("exploitability", 0.5, "log", "log")),
    "m2wu_full": Entry(
        M2WU + "full feedback, eta = mu = 0.1, T = 100,000, 10 trials from random starts, update_freq None and 100; "
        "exploitability max(Ay) + max(-A^T x)", "m2wu_biased_rps",
        tuple(Run(label, rule, {"eta": 0.1, "mu": 0.1}, (100_000, 20_000), (10, 3), random_start=True)
              for label, rule in (("M2WU", "m2wu_None"), ("M2WU, update_freq=100", "m2wu_100"))),
        (claim("M2WU: a stationary point near, not at, the NE", ">", 1e-4, "final", "M2WU"),
         claim("M2WU with the slingshot: the NE", "<", 1e-6, "final", "M2WU, update_freq=100")),
        ("exploitability", 1.0, "log", "log")),
    "m2wu_noisy": Entry(
        M2WU + "noisy feedback N(0, 0.1^2) (the code's noise_scale), eta = 0.001, T = 10^6, 10 trials; mu = 0.1; "
        "mu = 0.5 with update_freq = 20,000; MWU", "m2wu_biased_rps",
        (Run("M2WU", "m2wu_None", {"eta": 1e-3, "mu": 0.1}, **NOISY),
         Run(SLING, "m2wu_20000", {"eta": 1e-3, "mu": 0.5}, **NOISY), Run("MWU", "mwu", {"eta": 1e-3}, **NOISY)),
        (claim("M2WU final exploitability minus MWU's", "<", 0.0, "below", "M2WU", "MWU"),
         claim("slingshot final exploitability minus MWU's", "<", 0.0, "below", SLING, "MWU")),
        ("exploitability", 1.0, "linear", "log")),
    "swap_self_play": Entry(
        "Leme, Piliouras, Schneider, NeurIPS 2024 (arXiv 2404.10018): no-swap-regret dynamics (Blum-Mansour over "
        "MWU) in symmetric self-play on a symmetric zero-sum game converge to the NE (no number: a claim)",
        "comal_cycle", tuple(Run(r, rule, {"eta": 0.5}, (20_000, 5_000), self_play=True)
                             for r, rule in (("swap-regret MWU", "swap_mwu"), ("MWU", "mwu"))),
        (claim("swap-regret MWU last-iterate gap, final", "<", 1e-6, "final", "swap-regret MWU"),
         claim("MWU last-iterate gap, final (it cycles)", ">", 1e-3, "final", "MWU")),
        ("duality gap", 1.0, "log", "log")),
    "jackpot_majority": jackpot("majority (2 voters R > G > B, 3 voters B > R > G): ML picks the Condorcet winner "
                                "blue, RLHF the Borda winner red", ("majority",), blue_wins("majority", "red", "blue")),
    "jackpot_iia": jackpot("IIA (2 voters R > B, 3 voters B > R; then green added, the majority population): ML "
                           "stays on blue, RLHF flips from blue to red", ("iia_2", "iia_3"),
                           blue_wins("iia_2", "blue", "red") + blue_wins("iia_3", "red", "blue")),
    "jackpot_cyclic": jackpot(
        "cyclic (one voter each R > G > B, G > B > R, B > R > G): ML is uniform, RLHF's reward is flat", ("cyclic",),
        (near("maximal lottery (LP): largest minus smallest mass", 0.0, 1e-9, "ml", "voters:cyclic", None),
         near("Bradley-Terry scores: largest minus smallest", 0.0, 1e-9, "bt", "cyclic", None),
         claim("ML, COMAL last iterate: largest minus smallest mass", "<", 1e-3, "share", "cyclic: ML, COMAL", None),
         claim("ML, MWU mixture: largest minus smallest mass", "<", 0.05, "share", "cyclic: ML, MWU mixture", None))),
    "egpo_tabular": Entry(
        "Zhou, Fazel, Du, arXiv 2503.08942; code zhourunlong/EGPO simulations/grid_search.py, configs.py (exact, "
        "tabular): 10 random 10x10 games, SGD at lr on the online IPO loss = INPO (Online IPO 1, OMD) and EGPO with "
        "eta = 4 lr / (N beta), tau = beta; the regularized duality gap; games drawn by NumPy, not the code's torch "
        "seed (no number: its claims)", "egpo_random:10",
        tuple(Run(f"beta={b:g}: {who}", rule, {"eta": 4 * lr / (10 * b), "tau": b}, (t, t), (10, 3),
                  panel=f"beta={b:g}, lr={lr:g}")
              for b, t, lr in EGPO for who, rule in (("EGPO", "egpo"), ("OMD", "inpo"))),
        (*(claim(f"beta={b:g}: EGPO final gap (the code's figures stop at 1e-6)", "<", 1e-6, "final",
                 f"beta={b:g}: EGPO") for b, _, _ in EGPO),
         claim("beta=0.001: EGPO final gap minus OMD's", "<", 0.0, "below", "beta=0.001: EGPO", "beta=0.001: OMD")),
        ("duality gap of the KL-regularized game", 1.0, "linear", "log", "regularized_gap")),
}
REFUSES = {"games": "each entry's game is the source's", "feedback": "each entry's feedback is the source's",
           "steps": "each entry's run length is the source's (--quick shortens the longest)",
           "seeds": "each entry's trials are the source's", "jobs": "the entries run one after the other",
           "schedules": "this study has no schedule axis"}
# fmt: on


def rule_of(text: str):
    """A run's rule: a ``--rules`` text, ``alternating_<name>`` or ``m2wu_<update_freq or None>``."""
    import algorithms

    if text.startswith("alternating_"):
        return algorithms.get(text.removeprefix("alternating_"), alternating=True)
    if text.startswith("m2wu_"):
        return algorithms.m2wu(None if text == "m2wu_None" else int(text.removeprefix("m2wu_")))
    return study.load_rule(text)


def entries_of(c) -> list[str]:  # noqa: D103
    return list(ENTRIES) if c.entry == "all" else [c.entry]


@dataclass(frozen=True)
class Config(study.Base):
    entry: str = study.option("all", "the entry, or all (see --list)", choices=("all", *ENTRIES))
    list: bool = study.option(False, "list the entries with their sources, then stop")
    rules: tuple = study.rules(None, "your rules, run beside the source's on every entry at its settings")
    hp: tuple = study.hp("your rules' values; the source's rules keep the source's")


def prepare(c: Config) -> Config:
    """Your rules accept your ``--hp`` values on every entry's game, before any work."""
    study.check_hp(c, {t: [rule_of(t)] for t in c.rules or ()})
    for t, name in itertools.product(c.rules or (), entries_of(c)):
        rule_of(t).init(game_of(ENTRIES[name].game, 0, c.dtype)[0], **study.hparams(c, t))
    return c


def runs_of(c: Config, name: str) -> list:
    """The entry's runs, then yours at its first run's length, feedback and game (one trial)."""
    f = ENTRIES[name].runs[0]
    mine = [Run(t, t, study.hparams(c, t), f.steps, (1, 1), f.feedback, game=f.game) for t in c.rules or ()]
    return [*ENTRIES[name].runs, *mine]


def units(c: Config):
    return [((name, r.label), (name, i)) for name in entries_of(c) for i, r in enumerate(runs_of(c, name))]


def simulate(c: Config, name: str, i: int) -> dict:
    """One run of an entry, every trial: its metric (scaled to the source's), with ``compare`` KL, and on a game
    with labels the policy's mass on each (``p:<label>``)."""
    import pandas as pd

    import algorithms

    e, run, frames = ENTRIES[name], runs_of(c, name)[i], []
    rule, steps, metric = rule_of(run.rule), run.steps[c.quick], (*e.axes, "gap")[4]
    fb, rng = cli.feedback_type(run.feedback), np.random.default_rng(cli.run_seeds(c.seed, 1)[0])
    for trial in range(run.trials[c.quick]):
        game, ref = game_of(run.game or e.game, trial, c.dtype)
        draw = rng.exponential(size=(2, game.shape[0]))
        x, y = draw / draw.sum(1, keepdims=True)  # self-play: one start policy
        start = (x if run.self_play else (x, y)) if run.random_start else None
        t = algorithms.run(rule, game, steps=steps, record_every=max(1, steps // 1000), feedback=fb, start=start,
                           key=cli.run_seeds(c.seed + trial, 1)[0], self_play=run.self_play, ref=ref,
                           record_policy=run.compare is not None or game.labels is not None, **run.hp)  # fmt: skip
        d = {"step": t.steps, "value": np.asarray(t.metrics[metric]) * e.axes[1], "panel": run.panel}
        if run.compare is not None:
            p = np.stack([t.policies.x, t.policies.y])  # the MMD code's KL(pi || compare), players' mean
            d["kl"] = np.sum(p * (np.log(np.maximum(p, 1e-300)) - np.log(run.compare)), axis=-1).mean(0)
        d.update({f"p:{label}": np.asarray(t.policies.x)[:, k] for k, label in enumerate(game.labels or ())})
        frames.append(pd.DataFrame({"entry": name, "run": run.label, "trial": trial, **d}))
    return {"trace": pd.concat(frames, ignore_index=True)}


def report(c: Config, t: dict, folder) -> dict:
    """The table of published vs sandbox values (``summary.csv``) and one figure per entry."""
    df, rows = t["trace"], []
    for name in entries_of(c):
        e, d = ENTRIES[name], df[df["entry"] == name]
        for ch in e.checks:
            v = float(measure(ch.spec, d, game_of(e.game, 0, c.dtype)[0]))
            ok = {"≈": abs(v - ch.published) <= ch.tol, "<": v < ch.published, ">": v > ch.published}[ch.op]
            tol, status = ("claim" if ch.op != "≈" else f"±{ch.tol:g}"), ("ok" if ok else "NOT MET")
            rows.append([name, ch.what, f"{ch.op} {ch.published:g}", tol, f"{v:.4g}", status])
        output.save_figure(figure(name, d), folder / f"{name}.png")
    header = ["entry", "check", "published", "tolerance", "sandbox", "status"]
    output.write_csv(folder / "summary.csv", rows, header)
    print(tables.table(rows, header))
    return {"entries": {n: ENTRIES[n].source for n in entries_of(c)}}


def figure(name: str, d):
    """The source's axes: its metric against iterations (mean over trials), one panel per ``Run.panel``, MMD's KL
    in another; Jackpot's (its Fig. 2): each run's mass on each label, one panel per run."""
    from matplotlib.figure import Figure

    e, shares = ENTRIES[name], [c for c in d if c.startswith("p:") and d[c].notna().any()]

    def lines(g):  # (line label, column): each label's share, else each run's metric
        return [(s[2:], s) for s in shares if g[s].notna().any()] or [(r, "value") for r in g["run"].unique()]

    by = d.groupby("run" if shares else "panel", sort=False)  # one panel per run (shares) or per Run.panel
    panels = [(k or name, g, lines(g), e.axes[0]) for k, g in by]
    if "kl" in d and d["kl"].notna().any():
        panels.append((name, d, [(r, "kl") for r in d["run"].unique()], "KL divergence to the code's QRE"))
    cols = min(3, len(panels))
    fig = Figure(figsize=(5.4 * cols, 4.0 * -(-len(panels) // cols)), layout="constrained")
    axes = fig.subplots(-(-len(panels) // cols), cols, squeeze=False).ravel()
    for ax, (title, g, lines, ylabel) in zip(axes, panels):
        for label, col in lines:
            m = (g if shares else g[g["run"] == label]).groupby("step")[col].mean()
            ax.plot(
                m.index[1:], m.to_numpy()[1:] if shares else np.maximum(m.to_numpy()[1:], 1e-16), label=label
            )
        ax.set(xscale=e.axes[2], yscale=e.axes[3], xlabel="iterations", ylabel=ylabel, title=title)
        ax.grid(ls="--", alpha=0.4)
        ax.legend(fontsize=8)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return fig


STUDY_DECL = study.Study(STUDY, __doc__.splitlines()[0], Config, units, simulate, report, prepare, REFUSES)
_main = study.command(STUDY_DECL)


def main(argv=None) -> int:
    """``reproduce [ENTRY|all] [flags]``; ``--list`` prints the entries and their sources."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list" in argv:
        if len(argv) > 1:  # an entry or a flag beside --list would be silently ignored
            others = " ".join(a for a in argv if a != "--list")
            cli.fail(study.parser(STUDY_DECL), f"--list takes no other argument, got {others}")
        return print("\n".join(f"{name}\n    {e.source}" for name, e in ENTRIES.items())) or 0
    if argv and not argv[0].startswith("-"):
        argv = ["--entry", *argv]
    return _main(argv)


if __name__ == "__main__":
    sys.exit(cli.entry(main))
