"""Reproductions of published synthetic experiments, each at its source's game, hyperparameters and metric.

Each entry names its source (paper and file or figure), runs the sandbox's rules at the source's settings,
prints the published values beside the sandbox's with the tolerance each is held to, and draws the source's
axes. Where the source gives no number, the entry checks its qualitative claim and says so (``claim``).

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


class Run(NamedTuple):
    label: str
    rule: str  # a --rules text (registered name or wrapper)
    hp: dict
    steps: tuple  # (full, --quick)
    trials: tuple = (1, 1)  # (full, --quick)
    feedback: str = "exact"
    random_start: bool = False  # each trial from normalised Exp(1) draws (M2WU's --random_init_strategy)
    self_play: bool | None = None
    compare: tuple | None = None  # also record the code's KL(pi || compare), averaged over the players


class Check(NamedTuple):
    what: str
    op: str  # "≈" (|measured - published| <= tol), "<" or ">" (a bound: the source's claim, no number)
    published: float
    tol: float
    measure: object  # (frame of the entry's final records, game) -> float


class Entry(NamedTuple):
    source: str
    game: str  # games.library.<name>
    runs: tuple
    checks: tuple
    axes: tuple  # (metric label, scale of the gap, xscale, yscale)


def _final(d, label):
    """Mean over trials of the last recorded metric of run ``label``."""
    r = d[d["run"] == label]
    return float(r[r["step"] == r["step"].max()]["value"].mean())


def _tail_min(d, label):
    """Smallest metric over the last tenth of run ``label`` (a non-convergent last iterate stays above 0)."""
    r = d[d["run"] == label]
    return float(r[r["step"] >= 0.9 * r["step"].max()]["value"].min())


#: MMD's code pre-computes the KL-regularized (QRE) equilibrium at four temperatures (x = y, 8 decimals)
MMD_QRE = {
    0.05: (0.1517447, 0.46794775, 0.38030755),
    0.1: (0.17347803, 0.48630324, 0.34021873),
    0.2: (0.22364492, 0.47798817, 0.29836691),
    0.5: (0.29813319, 0.41382045, 0.28804635),
}


def _qre_error(t):
    def measure(d, game):
        import games

        return float(np.abs(games.regularized_equilibrium(game, t).x - np.asarray(MMD_QRE[t])).max())

    return measure


def _qre_exploitability(t):
    def measure(d, game):
        import games

        q = np.asarray(MMD_QRE[t])
        return abs(_final(d, f"tau={t:g}") - float(games.duality_gap(game, q, q)) / 2)  # half the gap

    return measure


def _kl(t):
    return lambda d, game: _final(d.assign(value=d["kl"]), f"tau={t:g}")


ENTRIES = {
    "cai_rm_counterexample": Entry(
        "Cai, Farina, Grand-Clément, Kroer, Lee, Luo, Zheng, arXiv 2311.00676, Sec. 3 and Fig. 1 (3x3 game of "
        "value 1/4): RM+, alternating RM+ and predictive RM+ lack last-iterate convergence",
        "rm_counterexample",
        tuple(
            Run(label, rule, {"eta": 1.0}, (100_000, 10_000))
            for label, rule in [
                ("RM+", "rm_plus"),
                ("alt. RM+", "alternating_rm_plus"),
                ("PRM+", "predictive_rm_plus"),
                ("alt. PRM+", "alternating_predictive_rm_plus"),
                ("RM", "regret_matching"),
                ("RM+ (average)", "averaged(rm_plus)"),
            ]
        ),
        (
            Check("value of the game (LP)", "≈", 0.25, 1e-9, lambda d, g: __import__("games").solve(g).value),
            Check(
                "RM+ last-iterate gap, min over the last tenth",
                ">",
                1e-2,
                0,
                lambda d, g: _tail_min(d, "RM+"),
            ),
            Check("alt. RM+ last-iterate gap, same", ">", 1e-2, 0, lambda d, g: _tail_min(d, "alt. RM+")),
            Check("PRM+ last-iterate gap, same", ">", 1e-2, 0, lambda d, g: _tail_min(d, "PRM+")),
            Check("RM+ average-iterate gap, final", "<", 5e-2, 0, lambda d, g: _final(d, "RM+ (average)")),
        ),
        ("duality gap", 1.0, "log", "log"),
    ),
    "mmd_perturbed_rps": Entry(
        "Sokota et al., arXiv 2206.05825; code ssokota/mmd examples/nfg/perturbed_rps.py: lr = temp = tau, "
        "uniform start and magnet, 10,000 iterations, exploitability (half the gap) and KL to the code's QREs",
        "perturbed_rps",
        tuple(
            Run(f"tau={t:g}", "mmd", {"eta": t, "tau": t}, (10_000, 10_000), compare=MMD_QRE[t])
            for t in MMD_QRE
        ),
        tuple(
            c
            for t in MMD_QRE
            for c in (
                Check(f"QRE at tau={t:g}: max |solver - code|", "≈", 0.0, 1e-7, _qre_error(t)),
                Check(f"MMD at tau={t:g}: |exploitability - QRE's|", "≈", 0.0, 1e-7, _qre_exploitability(t)),
                Check(f"MMD at tau={t:g}: KL to the code's QRE (figure floor)", "<", 1e-6, 0, _kl(t)),
            )
        ),
        ("exploitability", 0.5, "log", "log"),
    ),
    "m2wu_full": Entry(
        "Abe et al., arXiv 2208.09855; code CyberAgentAILab/m2wu README: biased RPS, full feedback, eta = mu = "
        "0.1, T = 100,000, 10 trials from random starts, without and with update_freq = 100; exploitability "
        "max(Ay) + max(-A^T x)",
        "m2wu_biased_rps",
        (
            Run("M2WU", "m2wu_None", {"eta": 0.1, "mu": 0.1}, (100_000, 20_000), (10, 3), random_start=True),
            Run(
                "M2WU, update_freq=100",
                "m2wu_100",
                {"eta": 0.1, "mu": 0.1},
                (100_000, 20_000),
                (10, 3),
                random_start=True,
            ),
        ),
        (
            Check(
                "M2WU: a stationary point near, not at, the NE", ">", 1e-4, 0, lambda d, g: _final(d, "M2WU")
            ),
            Check(
                "M2WU with the slingshot: the NE",
                "<",
                1e-6,
                0,
                lambda d, g: _final(d, "M2WU, update_freq=100"),
            ),
        ),
        ("exploitability", 1.0, "log", "log"),
    ),
    "m2wu_noisy": Entry(
        "Abe et al., arXiv 2208.09855; code CyberAgentAILab/m2wu README: biased RPS, noisy feedback (N(0, 0.1^2), "
        "the code's noise_scale), eta = 0.001, T = 1,000,000, 10 trials; mu = 0.1, and mu = 0.5 with "
        "update_freq = 20,000; MWU at the same eta for contrast",
        "m2wu_biased_rps",
        (
            Run("M2WU", "m2wu_None", {"eta": 1e-3, "mu": 0.1}, (1_000_000, 100_000), (10, 2), "noisy:0.1"),
            Run(
                "M2WU, mu=0.5, update_freq=20000",
                "m2wu_20000",
                {"eta": 1e-3, "mu": 0.5},
                (1_000_000, 100_000),
                (10, 2),
                "noisy:0.1",
            ),
            Run("MWU", "mwu", {"eta": 1e-3}, (1_000_000, 100_000), (10, 2), "noisy:0.1"),
        ),
        (
            Check(
                "M2WU final exploitability below MWU's",
                "<",
                0.0,
                0,
                lambda d, g: _final(d, "M2WU") - _final(d, "MWU"),
            ),
            Check(
                "slingshot final exploitability below MWU's",
                "<",
                0.0,
                0,
                lambda d, g: _final(d, "M2WU, mu=0.5, update_freq=20000") - _final(d, "MWU"),
            ),
        ),
        ("exploitability", 1.0, "linear", "log"),
    ),
    "swap_self_play": Entry(
        "Leme, Piliouras, Schneider, NeurIPS 2024 (arXiv 2404.10018): no-swap-regret dynamics (Blum-Mansour "
        "over MWU) in symmetric self-play on a symmetric zero-sum game converge to the NE",
        "comal_cycle",
        (
            Run("swap-regret MWU", "swap_mwu", {"eta": 0.5}, (20_000, 5_000), self_play=True),
            Run("MWU", "mwu", {"eta": 0.5}, (20_000, 5_000), self_play=True),
        ),
        (
            Check(
                "swap-regret MWU last-iterate gap, final",
                "<",
                1e-8,
                0,
                lambda d, g: _final(d, "swap-regret MWU"),
            ),
            Check("MWU last-iterate gap, final (cycles)", ">", 1e-3, 0, lambda d, g: _final(d, "MWU")),
        ),
        ("duality gap", 1.0, "log", "log"),
    ),
}


def rule_of(text: str):
    """A run's rule: a ``--rules`` text, ``alternating_<name>`` or ``m2wu_<update_freq or None>``."""
    import algorithms

    if text.startswith("alternating_"):
        return algorithms.get(text.removeprefix("alternating_"), alternating=True)
    if text.startswith("m2wu_"):
        freq = text.removeprefix("m2wu_")
        return algorithms.m2wu(None if freq == "None" else int(freq))
    return study.load_rule(text)


def entries_of(c) -> list[str]:
    return list(ENTRIES) if c.entry == "all" else [c.entry]


@dataclass(frozen=True)
class Config(study.Base):
    entry: str = study.option(
        "all", "the entry to run, or all (--list shows them)", choices=("all", *ENTRIES)
    )
    list: bool = study.option(False, "list the entries with their sources, then stop")
    rules: tuple = study.rules(None, "your rules, run beside the source's on every entry at its settings")
    hp: tuple = study.hp("your rules' values; the source's rules keep the source's")


def prepare(c: Config) -> Config:
    for t in c.rules or ():
        for name in entries_of(c):
            rule_of(t).init(getattr(__import__("games").library, ENTRIES[name].game)(), **study.hparams(c, t))
    return c


def runs_of(c: Config, name: str) -> list:
    e = ENTRIES[name]
    mine = [
        Run(t, t, dict(study.hparams(c, t)), e.runs[0].steps, (1, 1), e.runs[0].feedback)
        for t in c.rules or ()
    ]
    return [*e.runs, *mine]


def units(c: Config):
    return [((name, r.label), (name, i)) for name in entries_of(c) for i, r in enumerate(runs_of(c, name))]


def _kl_to(p, q):
    """The MMD code's metric ``KL(pi || q)`` per record (``mmd/utils.py::kl``)."""
    p = np.asarray(p)
    return np.sum(p * (np.log(np.maximum(p, 1e-300)) - np.log(np.asarray(q))), axis=-1)


def simulate(c: Config, name: str, i: int) -> dict:
    import pandas as pd

    import algorithms
    import games

    e, run = ENTRIES[name], runs_of(c, name)[i]
    game = getattr(games.library, e.game)()
    steps, trials = run.steps[c.quick], run.trials[c.quick]
    rule, every = rule_of(run.rule), max(1, steps // 1000)
    fb = cli.feedback_type(run.feedback)
    rng = np.random.default_rng(cli.run_seeds(c.seed, 1)[0])
    frames = []
    for trial in range(trials):
        start = (
            tuple(e / e.sum() for e in rng.exponential(size=(2, game.shape[0]))) if run.random_start else None
        )
        t = algorithms.run(
            rule,
            game,
            steps=steps,
            record_every=every,
            key=cli.run_seeds(c.seed + trial, 1)[0],
            feedback=fb,
            start=start,
            self_play=run.self_play,
            record_policy=run.compare is not None,
            **run.hp,
        )
        d = {"step": t.steps, "value": np.asarray(t.metrics["gap"]) * e.axes[1]}
        if run.compare is not None:
            d["kl"] = (_kl_to(t.policies.x, run.compare) + _kl_to(t.policies.y, run.compare)) / 2
        frames.append(pd.DataFrame({"entry": name, "run": run.label, "trial": trial, **d}))
    return {"trace": pd.concat(frames, ignore_index=True)}


def report(c: Config, t: dict, folder) -> dict:
    import games

    df, rows = t["trace"], []
    for name in entries_of(c):
        e, d = ENTRIES[name], df[df["entry"] == name]
        game = getattr(games.library, e.game)()
        for ch in e.checks:
            value = float(ch.measure(d, game))
            bound = {
                "≈": abs(value - ch.published) <= ch.tol,
                "<": value < ch.published,
                ">": value > ch.published,
            }
            kind = "claim" if ch.op != "≈" else f"±{ch.tol:g}"
            rows.append(
                [
                    name,
                    ch.what,
                    f"{ch.op} {ch.published:g}",
                    kind,
                    f"{value:.4g}",
                    "ok" if bound[ch.op] else "NOT MET",
                ]
            )
        output.save_figure(figure(name, d), folder / f"{name}.png")
    header = ["entry", "check", "published", "tolerance", "sandbox", "status"]
    output.write_csv(folder / "summary.csv", rows, header)
    print(tables.table(rows, header))
    return {"entries": {n: ENTRIES[n].source for n in entries_of(c)}}


def figure(name: str, d):
    from matplotlib.figure import Figure

    e = ENTRIES[name]
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for label, r in d.groupby("run", sort=False):
        m = r.groupby("step")["value"].mean()
        ax.plot(m.index[1:], np.maximum(m.to_numpy()[1:], 1e-16), label=label)
    ax.set(xscale=e.axes[2], yscale=e.axes[3], xlabel="iterations", ylabel=e.axes[0], title=name)
    ax.grid(ls="--", alpha=0.4)
    ax.legend(fontsize=8)
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
        "games": "each entry's game is the source's",
        "feedback": "each entry's feedback is the source's",
        "steps": "each entry's run length is the source's (--quick shortens the longest)",
        "seeds": "each entry's trials are the source's",
        "jobs": "the entries run one after the other in one process",
    },
)
_main = study.command(STUDY_DECL)


def main(argv=None) -> int:
    """``reproduce [ENTRY|all] [flags]``; ``--list`` prints the entries and their sources."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list" in argv:
        for name, e in ENTRIES.items():
            print(f"{name}\n    {e.source}")
        return 0
    if argv and not argv[0].startswith("-"):
        argv = ["--entry", *argv]
    return _main(argv)


if __name__ == "__main__":
    sys.exit(cli.entry(main))
