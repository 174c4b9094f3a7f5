"""games.testing: the public hypothesis strategies draw what they promise."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import games
from games import testing


@given(testing.cyclic_games(max_n=7, unique=True))
def test_odd_cyclic_games_have_a_unique_interior_equilibrium(game):
    eq = games.solve(game)
    assert game.shape[0] % 2 == 1 and eq.unique
    assert float(np.min(eq.x)) > 1e-9  # interior: no pure equilibrium, every response is played


@given(st.one_of([testing.cyclic_games(n, n) for n in (4, 6, 8)]))
def test_even_cyclic_games_are_not_unique(game):
    # a skew-symmetric matrix has even rank; with A pi* = 0 the rank is at most n - 2 for even n, so the
    # equilibria form a segment (at least): the reason for unique=True
    assert not games.solve(game).unique


@given(testing.contextual_games(max_prompts=3, max_n=5, unique=True))
def test_contextual_games_weight_every_prompt(game):
    w = np.asarray(game.weights)
    assert game.contextual and game.A.shape[0] == w.size and 2 <= w.size <= 3
    assert w.min() > 0 and abs(w.sum() - 1) < 1e-12 and games.solve(game).unique


@given(st.data())
def test_policies_are_interior_and_fit_the_game(data):
    game = data.draw(st.sampled_from([games.comal_cycle(), games.matrix_game(np.ones((2, 4)))]))
    player = data.draw(st.sampled_from([0, 1]))
    p = data.draw(testing.policies(game, player, min_prob=0.01))
    assert p.shape == (game.shape[player],) and p.min() >= 0.01 - 1e-15 and abs(p.sum() - 1) < 1e-12
    games.core.check_reference(game, p, player)  # a valid reference (and start) of run/sweep


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: testing.cyclic_games(min_n=2), "min_n"),
        (lambda: testing.cyclic_games(min_n=4, max_n=4, unique=True), "no odd n"),
        (lambda: testing.cyclic_games(min_n=6, max_n=5), "max_n"),
        (lambda: testing.policies(games.comal_cycle(), min_prob=0.5), "min_prob"),
        (lambda: testing.policies(games.comal_cycle(), player=2), "player"),
        # issue 33: refused when the strategy is built, not inside hypothesis when it draws
        (lambda: testing.payoff_matrices(min_size=0), r"payoff_matrices: min_size must be >= 1, got 0"),
        (lambda: testing.payoff_matrices(max_size=1), r"payoff_matrices: max_size must be >= 2, got 1"),
        (
            lambda: testing.payoff_matrices(min_size=5, max_size=3),
            r"max_size \(3\) must be >= min_size \(5\)",
        ),
        (
            lambda: testing.preference_games(min_n=9, max_n=3),
            r"preference_games: max_n \(3\) must be >= min_n \(9\)",
        ),
        (lambda: testing.preference_games(min_n=1), r"preference_games min_n must be >= 2, got 1"),
        (
            lambda: testing.contextual_games(min_prompts=5, max_prompts=2),
            r"contextual_games: max_prompts \(2\) must be >= min_prompts \(5\)",
        ),
        (
            lambda: testing.contextual_games(min_n=6, max_n=5),
            r"cyclic_games: max_n \(5\) must be >= min_n \(6\)",
        ),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(testing.preference_games(min_n=2, max_n=2))
def test_preference_games_of_two_actions_are_uniform_draws(game):  # the cyclic families need 3 actions
    assert game.shape == (2, 2)


@given(testing.payoff_matrices(min_size=2, max_size=3))
def test_payoff_matrices_respect_min_size(A):
    assert 2 <= min(A.shape) and max(A.shape) <= 3
