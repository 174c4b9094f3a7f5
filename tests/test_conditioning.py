"""Games on which last-iterate convergence is slow, the conditioning measure that predicts it, and the
``min_prob`` metric. Reference values: closed-form equilibria of the constructions, and the order of the
slowdown across each family."""

import numpy as np
import pytest

import algorithms
import games
from games.library import NEAR_DEGENERATE_NE


def _family(deltas=(1.0, 0.3, 0.1)):
    fam = [games.near_degenerate(d) for d in deltas]
    return fam, [games.solve(g) for g in fam]


def test_near_degenerate_family_keeps_its_equilibrium_and_loses_conditioning():
    fam, eqs = _family()
    for eq in eqs:
        assert eq.unique
        np.testing.assert_allclose(eq.x, NEAR_DEGENERATE_NE, atol=1e-9)  # (1, 2, 3, 2, 1) / 9 by construction
    singular = [games.conditioning(g, eq).singular for g, eq in zip(fam, eqs)]
    assert singular[0] > singular[1] > singular[2] > 0
    with pytest.raises(ValueError, match="delta must be > 0"):
        games.near_degenerate(0.0)


@pytest.mark.slow
def test_near_degenerate_conditioning_predicts_the_slowdown_of_the_proximal_point():
    fam, _ = _family()
    t = algorithms.sweep(algorithms.comal_exact(), fam, steps=200, record_every=200, tau=0.1)
    final = np.asarray(t.metrics["gap"])[:, -1]
    assert final[0] < 1e-12 < final[1] < final[2]  # smaller singular value, slower proximal point


def test_boundary_equilibrium_closed_form_and_the_min_prob_metric():
    g = games.boundary_equilibrium(0.01)
    eq = games.solve(g)
    np.testing.assert_allclose(eq.x, [0.01, 0.495, 0.495], atol=1e-9)  # ∝ (c, b, a), c = eps / (1 - eps)
    assert games.conditioning(g, eq).min_mass == pytest.approx(0.01, abs=1e-9)
    t = algorithms.run(algorithms.omwu(), g, steps=400, record_every=200, metrics=["gap", "min_prob"])
    assert float(t.metrics["min_prob"][0]) == pytest.approx(1 / 3)  # the uniform start
    assert np.all(np.asarray(t.metrics["min_prob"]) > 0)
    assert "min_prob" in algorithms.METRICS


def test_dominated_response_margin_is_the_strict_complementarity_margin():
    # the 4th response's deficit is v - (A y*)_4 = 0 - (-margin) = margin; max |A| = 0.4 on the paper cycle
    for margin in (0.4, 0.1, 0.02):
        c = games.conditioning(games.dominated_response(margin))
        assert c.margin == pytest.approx(margin / 0.4, abs=1e-9)
    np.testing.assert_allclose(
        games.solve(games.dominated_response()).x, [4 / 11, 3 / 11, 4 / 11, 0], atol=1e-9
    )
    with pytest.raises(ValueError, match="margin must be > 0"):
        games.dominated_response(0.0)


@pytest.mark.parametrize("n", [4, 6])
def test_cyclic_random_games_of_even_order_never_have_a_unique_equilibrium(n):
    assert not any(games.solve(games.random_preference(seed, n, "cyclic")).unique for seed in range(5))
    assert all(games.solve(games.random_preference(seed, n + 1, "cyclic")).unique for seed in range(5))


def test_conditioning_refuses_contextual_games():
    ctx = games.preference_game(np.stack([games.library.COMAL_CYCLE_P] * 2))
    with pytest.raises(ValueError, match="single game"):
        games.conditioning(ctx)
