"""Reproductions of published synthetic experiments, each at its source's game, hyperparameters and metric.

Each entry names its source, runs the sandbox's rules at the source's settings, prints the published values
beside the sandbox's with their tolerances, and draws the source's axes. A source without a number: its claim.

    python -m experiments reproduce --list
    python -m experiments reproduce all [--quick]        (or one entry: reproduce mmd_perturbed_rps)
"""

from __future__ import annotations

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
    # compare: also record the code's KL(pi || compare), averaged over the players (MMD)


class Check(NamedTuple):  # op "≈": |sandbox - published| <= tol; "<" / ">": a bound, the source's claim
    what: str; op: str; published: float; tol: float; spec: tuple  # noqa: E702  (spec: see measure)


class Entry(NamedTuple):  # game: games.library.<name>; axes: (metric label, scale of the gap, xscale, yscale)
    source: str; game: str; runs: tuple; checks: tuple; axes: tuple  # noqa: E702
# fmt: on


def measure(spec, d, game) -> float:
    """A check's sandbox value from the entry's records ``d`` (mean over trials): the ``final`` record, the least
    over the last tenth (``tail``), the last ``kl``, final a ``below`` final b, the LP ``value``, the solver's
    ``qre`` or MMD's final exploitability (``qre_gap``) against the code's QRE."""
    import games

    kind, *args = spec
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
ENTRIES = {
    "cai_rm_counterexample": Entry(
        "Cai, Farina, Grand-Clément, Kroer, Lee, Luo, Zheng, arXiv 2311.00676, Sec. 3 and Fig. 1 (3x3 game of value "
        "1/4): RM+, alternating RM+ and predictive RM+ lack last-iterate convergence (no number: a claim)",
        "rm_counterexample",
        tuple(Run(label, rule, {"eta": 1.0}, (100_000, 10_000)) for label, rule in CAI),
        (Check("value of the game (LP)", "≈", 0.25, 1e-9, ("value",)),
         *(Check(f"{r} last-iterate gap, min over the last tenth", ">", 1e-2, 0, ("tail", r))
           for r in ("RM+", "alt. RM+", "PRM+")),
         Check("RM+ average-iterate gap, final", "<", 5e-2, 0, ("final", "RM+ (average)"))),
        ("duality gap", 1.0, "log", "log")),
    "mmd_perturbed_rps": Entry(
        "Sokota et al., arXiv 2206.05825; code ssokota/mmd examples/nfg/perturbed_rps.py: lr = temp = tau, uniform "
        "start and magnet, 10,000 iterations; exploitability (half the gap), KL to the code's pre-computed QREs",
        "perturbed_rps",
        tuple(Run(f"tau={t:g}", "mmd", {"eta": t, "tau": t}, (10_000, 10_000), compare=np.divide(q, sum(q)))
              for t, q in MMD_QRE.items()),
        tuple(c for t in MMD_QRE for c in (
            Check(f"QRE at tau={t:g}: max |solver - code|", "≈", 0.0, 1e-7, ("qre", t)),
            Check(f"MMD at tau={t:g}: |exploitability - code QRE's|", "≈", 0.0, 1e-7, ("qre_gap", t)),
            Check(f"MMD at tau={t:g}: KL to the code's QRE (its figure's floor)", "<", 1e-6, 0, ("kl", f"tau={t:g}")))),
        ("exploitability", 0.5, "log", "log")),
    "m2wu_full": Entry(
        "Abe et al., arXiv 2208.09855; code CyberAgentAILab/m2wu README: biased RPS, full feedback, eta = mu = 0.1, "
        "T = 100,000, 10 trials from random starts, update_freq None and 100; exploitability max(Ay) + max(-A^T x)",
        "m2wu_biased_rps",
        (Run("M2WU", "m2wu_None", {"eta": 0.1, "mu": 0.1}, (100_000, 20_000), (10, 3), random_start=True),
         Run("M2WU, update_freq=100", "m2wu_100", {"eta": 0.1, "mu": 0.1}, (100_000, 20_000), (10, 3),
             random_start=True)),
        (Check("M2WU: a stationary point near, not at, the NE", ">", 1e-4, 0, ("final", "M2WU")),
         Check("M2WU with the slingshot: the NE", "<", 1e-6, 0, ("final", "M2WU, update_freq=100"))),
        ("exploitability", 1.0, "log", "log")),
    "m2wu_noisy": Entry(
        "Abe et al., arXiv 2208.09855; code CyberAgentAILab/m2wu README: biased RPS, noisy feedback N(0, 0.1^2) (the "
        "code's noise_scale), eta = 0.001, T = 10^6, 10 trials; mu = 0.1; mu = 0.5 with update_freq = 20,000; MWU",
        "m2wu_biased_rps",
        (Run("M2WU", "m2wu_None", {"eta": 1e-3, "mu": 0.1}, **NOISY),
         Run(SLING, "m2wu_20000", {"eta": 1e-3, "mu": 0.5}, **NOISY),
         Run("MWU", "mwu", {"eta": 1e-3}, **NOISY)),
        (Check("M2WU final exploitability minus MWU's", "<", 0.0, 0, ("below", "M2WU", "MWU")),
         Check("slingshot final exploitability minus MWU's", "<", 0.0, 0, ("below", SLING, "MWU"))),
        ("exploitability", 1.0, "linear", "log")),
    "swap_self_play": Entry(
        "Leme, Piliouras, Schneider, NeurIPS 2024 (arXiv 2404.10018): no-swap-regret dynamics (Blum-Mansour over "
        "MWU) in symmetric self-play on a symmetric zero-sum game converge to the NE (no number: a claim)",
        "comal_cycle",
        (Run("swap-regret MWU", "swap_mwu", {"eta": 0.5}, (20_000, 5_000), self_play=True),
         Run("MWU", "mwu", {"eta": 0.5}, (20_000, 5_000), self_play=True)),
        (Check("swap-regret MWU last-iterate gap, final", "<", 1e-6, 0, ("final", "swap-regret MWU")),
         Check("MWU last-iterate gap, final (it cycles)", ">", 1e-3, 0, ("final", "MWU"))),
        ("duality gap", 1.0, "log", "log")),
}
REFUSES = {"games": "each entry's game is the source's", "feedback": "each entry's feedback is the source's",
           "steps": "each entry's run length is the source's (--quick shortens the longest)",
           "seeds": "each entry's trials are the source's", "jobs": "the entries run one after the other"}
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
    import games

    for t in c.rules or ():
        for name in entries_of(c):
            rule_of(t).init(getattr(games.library, ENTRIES[name].game)(dtype=c.dtype), **study.hparams(c, t))
    return c


def runs_of(c: Config, name: str) -> list:
    """The entry's runs, then yours at its first run's length and feedback (one trial)."""
    first = ENTRIES[name].runs[0]
    mine = [Run(t, t, study.hparams(c, t), first.steps, (1, 1), first.feedback) for t in c.rules or ()]
    return [*ENTRIES[name].runs, *mine]


def units(c: Config):
    return [((name, r.label), (name, i)) for name in entries_of(c) for i, r in enumerate(runs_of(c, name))]


def simulate(c: Config, name: str, i: int) -> dict:
    """One run of an entry, every trial: its gap (scaled to the source's metric) and, with ``compare``, KL."""
    import pandas as pd

    import algorithms
    import games

    e, run, frames = ENTRIES[name], runs_of(c, name)[i], []
    game, rule, steps = getattr(games.library, e.game)(dtype=c.dtype), rule_of(run.rule), run.steps[c.quick]
    fb, rng = cli.feedback_type(run.feedback), np.random.default_rng(cli.run_seeds(c.seed, 1)[0])
    for trial in range(run.trials[c.quick]):
        draw = rng.exponential(size=(2, game.shape[0]))
        start = (draw[0] / draw[0].sum(), draw[1] / draw[1].sum()) if run.random_start else None
        t = algorithms.run(rule, game, steps=steps, record_every=max(1, steps // 1000), feedback=fb, start=start,
                           key=cli.run_seeds(c.seed + trial, 1)[0], self_play=run.self_play,
                           record_policy=run.compare is not None, **run.hp)  # fmt: skip
        d = {"step": t.steps, "value": np.asarray(t.metrics["gap"]) * e.axes[1]}
        if run.compare is not None:
            p = np.stack([t.policies.x, t.policies.y])  # the MMD code's KL(pi || compare), players' mean
            d["kl"] = np.sum(p * (np.log(np.maximum(p, 1e-300)) - np.log(run.compare)), axis=-1).mean(0)
        frames.append(pd.DataFrame({"entry": name, "run": run.label, "trial": trial, **d}))
    return {"trace": pd.concat(frames, ignore_index=True)}


def report(c: Config, t: dict, folder) -> dict:
    """The table of published vs sandbox values (``summary.csv``) and one figure per entry."""
    import games

    df, rows = t["trace"], []
    for name in entries_of(c):
        e, d = ENTRIES[name], df[df["entry"] == name]
        game = getattr(games.library, e.game)(dtype=c.dtype)
        for ch in e.checks:
            v = float(measure(ch.spec, d, game))
            ok = {"≈": abs(v - ch.published) <= ch.tol, "<": v < ch.published, ">": v > ch.published}[ch.op]
            tol, status = ("claim" if ch.op != "≈" else f"±{ch.tol:g}"), ("ok" if ok else "NOT MET")
            rows.append([name, ch.what, f"{ch.op} {ch.published:g}", tol, f"{v:.4g}", status])
        output.save_figure(figure(name, d), folder / f"{name}.png")
    header = ["entry", "check", "published", "tolerance", "sandbox", "status"]
    output.write_csv(folder / "summary.csv", rows, header)
    print(tables.table(rows, header))
    return {"entries": {n: ENTRIES[n].source for n in entries_of(c)}}


def figure(name: str, d):
    """The source's axes: its metric against iterations (mean over trials); MMD's KL in a second panel."""
    from matplotlib.figure import Figure

    e, panels = ENTRIES[name], ["value", *(["kl"] if "kl" in d and d["kl"].notna().any() else [])]
    fig = Figure(figsize=(6.4 * len(panels), 4.2), layout="constrained")
    for ax, col in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        for label, r in d.groupby("run", sort=False):
            m = r.groupby("step")[col].mean()
            ax.plot(m.index[1:], np.maximum(m.to_numpy()[1:], 1e-16), label=label)
        ylabel = e.axes[0] if col == "value" else "KL divergence to the code's QRE"
        ax.set(xscale=e.axes[2], yscale=e.axes[3], xlabel="iterations", ylabel=ylabel, title=name)
        ax.grid(ls="--", alpha=0.4)
        ax.legend(fontsize=8)
    return fig


STUDY_DECL = study.Study(STUDY, __doc__.splitlines()[0], Config, units, simulate, report, prepare, REFUSES)
_main = study.command(STUDY_DECL)


def main(argv=None) -> int:
    """``reproduce [ENTRY|all] [flags]``; ``--list`` prints the entries and their sources."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list" in argv:
        return print("\n".join(f"{name}\n    {e.source}" for name, e in ENTRIES.items())) or 0
    if argv and not argv[0].startswith("-"):
        argv = ["--entry", *argv]
    return _main(argv)


if __name__ == "__main__":
    sys.exit(cli.entry(main))
