"""The shared figure helpers: panels by measured behaviour (synthetic traces with known answers), curves equal
to round-off named together, per-panel x-ranges, and the stamp tying a PNG to the code that drew it."""

import numpy as np
import pandas as pd
import pytest

from experiments.common import figures

STEPS = np.arange(0, 1001, 10)  # 101 records


def _two_level(first, second, start=0.1):
    """A trace at ``start`` whose last third (34 records) is ``first`` then ``second`` (half each)."""
    g = np.full(STEPS.size, start)
    g[-34:-17], g[-17:] = first, second
    return g


@pytest.mark.parametrize(
    "gap, expected",
    [
        (0.1 * np.exp(-STEPS / 40.0), figures.REACHES),  # linear rate: 1e-12 at the end
        (_two_level(1e-3, 1e-6), figures.REACHES),  # the last record at the level exactly
        (0.1 / (1 + STEPS), figures.FALLING),  # O(1/t): ~1e-4 at the end, still falling
        (0.0245 + 0.05 * np.exp(-STEPS / 5.0), figures.PLATEAU),  # the regularized equilibrium's gap
        (0.1 * (1 + STEPS) ** -0.3, figures.FALLING),  # log-log slope -0.3 < -0.25
        (0.1 * (1 + STEPS) ** -0.2, figures.PLATEAU),  # -0.2: the last third spans 0.035 decade (<= 0.1)
        (0.1 * (1 + STEPS / 20) ** -0.2 * (1 + 0.3 * np.sin(STEPS)), figures.NO_CONVERGENCE),  # oscillates
        (_two_level(1e-2, 10**-1.85), figures.NO_CONVERGENCE),  # rises 0.15 decade
        (0.1 + 0.05 * np.sin(STEPS / 7.0) * STEPS / 1000, figures.NO_CONVERGENCE),  # growing oscillation
        (_two_level(1e-2, np.resize([1e-3, 2e-2], 17)), figures.NO_CONVERGENCE),  # median falls, swings widen
        (_two_level(0.8, 0.8, start=0.067), figures.NO_CONVERGENCE),  # flat above the start: at a vertex
        (np.where(STEPS > 500, np.nan, 0.01), figures.NO_CONVERGENCE),  # non-finite
        (np.zeros(STEPS.size), figures.REACHES),  # exact zeros
    ],
)
def test_behaviour_of_synthetic_traces(gap, expected):
    assert figures.behaviour(gap, 1e-6) == expected


def test_behaviour_of_one_and_two_records():
    assert figures.behaviour([0.1], 1e-6) == figures.NO_CONVERGENCE  # nothing to tell from
    assert figures.behaviour([0.1, 1e-7], 1e-6) == figures.REACHES
    assert figures.behaviour([0.1, 0.01], 1e-6) == figures.FALLING


def test_behaviour_rejects_an_empty_trace_and_a_bad_level():
    with pytest.raises(ValueError, match="empty"):
        figures.behaviour([], 1e-6)
    with pytest.raises(ValueError, match="level must be positive, got 0"):
        figures.behaviour([0.1, 0.01], 0)


def test_panels_follow_the_trace_not_the_name():
    """A COMAL variant that never converges lands with MWU, not with the rules that reach the level."""
    rising = 0.1 + 0.05 * np.sin(STEPS / 7.0) * STEPS / 1000
    groups = figures.by_behaviour(
        {"mwu": rising, "comal(my_variant)": rising * 1.1, "comal": 0.1 * np.exp(-STEPS / 40.0)}, 1e-6
    )
    assert groups == {figures.REACHES: ["comal"], figures.NO_CONVERGENCE: ["mwu", "comal(my_variant)"]}
    assert figures.panel_title(figures.REACHES, 1e-6) == "reaches the level 1e-06"


def test_coincident_curves_are_grouped_to_round_off_only():
    x = STEPS.astype(float)
    y = 0.07 * np.exp(-x / 50)
    rng = np.random.default_rng(0)
    curves = {
        "mwu": (x, y),
        "sppo": (x, y * (1 + 1e-15 * rng.standard_normal(x.size))),  # round-off apart
        "mpo": (x, y * (1 + 1e-6)),  # close on the plot, but not equal
        "late": (x + 1, y),  # other x
        "floor": (x, np.where(x > 500, 3e-16, y)),  # at the float64 floor: 3e-16 vs ~1e-17
        "floor2": (x, np.where(x > 500, 1e-17, y)),
    }
    assert figures.coincident(curves) == [["mwu", "sppo"], ["mpo"], ["late"], ["floor", "floor2"]]


def test_equal_curves_get_one_legend_entry_and_a_long_run_a_log_axis():
    from experiments import paper

    rows = []
    for rule, calls, gap in (
        ("mwu", STEPS, 0.1 + 0.05 * np.sin(STEPS / 7.0) * STEPS / 1000),
        ("sppo", STEPS, 0.1 + 0.05 * np.sin(STEPS / 7.0) * STEPS / 1000),
        ("omwu", STEPS, 0.1 * np.exp(-STEPS / 40.0)),
        ("comal_exact", 44 * STEPS, 0.1 * np.exp(-STEPS / 10.0)),
    ):
        rows += [
            dict(rule=rule, metric="gap", step=s, oracle_calls=c, value=v)
            for s, c, v in zip(STEPS, calls, gap)
        ]
    fig = paper.gap_figure(pd.DataFrame(rows), reg_gap=0.02, tau=0.1)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["reaches the level 1e-06", "does not converge (rises or oscillates)"]
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    assert legends == [["omwu", "comal_exact"], ["mwu = sppo"]]
    reach, other = fig.axes
    # 44x the other run: a log x beyond the first record, linear below it so the record at x = 0 is drawn
    assert reach.get_xscale() == "symlog" and reach.get_xlim()[0] == 0 and reach.get_xlim()[1] >= 44000
    assert other.get_xscale() == "linear" and other.get_xlim()[1] == pytest.approx(1020)


def test_a_png_carries_the_stamp_of_the_code_that_drew_it(tmp_path):
    from matplotlib.figure import Figure

    from experiments import paper
    from experiments.common import output

    fig = Figure()
    fig.subplots().plot([0, 1])
    output.save_figure(fig, tmp_path / "f.png", drawn_by=figures.drawn_by(paper.gap_figure))
    meta = figures.read_stamp(tmp_path / "f.png")
    assert meta["figure functions"] == "experiments.paper:gap_figure"
    assert meta[figures.STAMP_KEY] == figures.stamp(paper.gap_figure)
    assert figures.stamp(paper.gap_figure) != figures.stamp(paper.simplex_figure)
    assert figures.stamp(paper.gap_figure).startswith("sha256:") and len(figures.stamp()) == 7 + 64


def test_the_stamp_ignores_docstrings_comments_and_layout_but_not_code():
    import ast

    def code(src):
        return figures._strip(ast.parse(src))

    assert code("def f(x):\n    'Draw.'\n    return x + 1  # one") == code(
        "def f(x):\n\n    return (x +\n 1)"
    )
    assert code("def f(x):\n    return x + 1") != code("def f(x):\n    return x + 2")


def test_the_stamp_follows_the_helpers_and_constants_a_figure_uses(monkeypatch):
    from experiments import paper

    code = {entry.split("\n")[0] for entry in figures._drawing_code([paper.gap_figure])}
    assert {"gap_figure", f"DEEP_LEVEL={paper.DEEP_LEVEL!r}", "behaviour", "set_x_range"} <= code
    assert "read_stamp" not in code  # not drawing code: changing it stales nothing
    before = figures.stamp(paper.gap_figure)
    monkeypatch.setattr(figures, "PLOT_FLOOR", 1e-16)  # a constant the figure draws with
    assert figures.stamp(paper.gap_figure) != before
    monkeypatch.undo()
    monkeypatch.setattr(paper, "DEEP_LEVEL", 1e-12)  # a constant of the study's own module
    assert figures.stamp(paper.gap_figure) != before
