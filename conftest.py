"""Test configuration for tests/ and the packages' docstring examples (doctest): float64 on, silent rank
promotion an error, hypothesis profiles, and the names docstring examples use.

``HYPOTHESIS_PROFILE=thorough`` selects the long profile (default: ``fast``).
"""

import os

import jax

os.environ.setdefault(
    "COMAL_COMPILE_CACHE", "0"
)  # studies run in-process: no persistent cache shared across test runs

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "fast", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import jax.numpy as jnp
    import numpy as np

    import algorithms
    import games

    doctest_namespace.update(jax=jax, jnp=jnp, np=np, games=games, algorithms=algorithms)


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Drop JAX's compiled programs after each test module. XLA:CPU maps memory for every executable it keeps;
    one process compiling the whole suite's thousands of programs reached the kernel's limit of memory maps
    (``vm.max_map_count``, 65530 here) and segfaulted inside the compiler. Modules share few programs."""
    yield
    jax.clear_caches()
