"""What is being played and what is true about it: games, exact equilibria, metrics.

Turn on float64 for exact work (the sandbox's experiments and tests do)::

    import jax; jax.config.update("jax_enable_x64", True)
"""

from . import (
    comparisons,
    datasets,
    equilibria,
    feedback,
    fitted,
    io,
    judges,
    library,
    metrics,
    resampling,
    sequences,
    social_choice,
)
from .comparisons import BradleyTerry, Comparisons, bradley_terry_fit, from_comparisons, tally
from .core import Game, Profile, matrix_game, payoff_gradient, preference_game, stack_games, uniform
from .equilibria import (
    EquilibriumSet,
    equilibrium_set,
    max_entropy_equilibrium,
    value_range,
    worst_case_win_rate_range,
)
from .library import (
    biased_rock_paper_scissors,
    boundary_equilibrium,
    bradley_terry,
    comal_cycle,
    condorcet_cycle,
    dominated_response,
    duplicated_response,
    near_degenerate,
    random_preference,
    rock_paper_scissors,
)
from .metrics import (
    duality_gap,
    expected_payoff,
    kl_divergence,
    kl_to_equilibrium,
    pairwise_win_rates,
    pnt,
    regularized_gap,
    sntd,
    worst_case_win_rate,
)
from .resampling import Bootstrap, bootstrap
from .sequences import SequenceSpace, sequence_game
from .solvers import Conditioning, Equilibrium, SolverError, conditioning, regularized_equilibrium, solve

__all__ = [
    "Game",
    "Profile",
    "feedback",
    "matrix_game",
    "preference_game",
    "payoff_gradient",
    "stack_games",
    "uniform",
    "comal_cycle",
    "near_degenerate",
    "boundary_equilibrium",
    "conditioning",
    "Conditioning",
    "rock_paper_scissors",
    "biased_rock_paper_scissors",
    "condorcet_cycle",
    "bradley_terry",
    "random_preference",
    "dominated_response",
    "duplicated_response",
    "expected_payoff",
    "duality_gap",
    "worst_case_win_rate",
    "kl_divergence",
    "kl_to_equilibrium",
    "regularized_gap",
    "pairwise_win_rates",
    "pnt",
    "sntd",
    "judges",
    "fitted",
    "Equilibrium",
    "SolverError",
    "solve",
    "regularized_equilibrium",
    "equilibria",
    "EquilibriumSet",
    "equilibrium_set",
    "value_range",
    "worst_case_win_rate_range",
    "max_entropy_equilibrium",
    "comparisons",
    "datasets",
    "resampling",
    "Bootstrap",
    "bootstrap",
    "social_choice",
    "Comparisons",
    "BradleyTerry",
    "tally",
    "from_comparisons",
    "bradley_terry_fit",
    "SequenceSpace",
    "sequence_game",
    "sequences",
    "io",
    "library",
    "metrics",
]
