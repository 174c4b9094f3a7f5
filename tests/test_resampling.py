"""games.bootstrap: reproducible by seed, prompt clusters, and nominal coverage on data drawn from a known P."""

import time

import numpy as np
import pandas as pd
import pytest

import games

P_TRUE = np.array([[0.5, 0.7, 0.4], [0.3, 0.5, 0.6], [0.6, 0.4, 0.5]])


def synthetic(rng, per_pair=100, prompts=None):
    """per_pair judgments of every pair, 'left' with probability P_TRUE[i, j] (no ties)."""
    rows = []
    for i, j in [(0, 1), (1, 2), (0, 2)]:
        left_wins = rng.random(per_pair) < P_TRUE[i, j]
        rows += [(f"m{i}", f"m{j}", "left" if w else "right") for w in left_wins]
    df = pd.DataFrame(rows, columns=["left", "right", "winner"])
    if prompts:
        df["prompt"] = rng.integers(0, prompts, len(df)).astype(str)
    return df


def test_reproducible_by_seed():
    c = games.tally(synthetic(np.random.default_rng(0), 30, prompts=4), prompt="prompt")
    stat = lambda g: np.asarray(g.P[..., 0, 1])
    for cluster in (None, "prompt"):
        a = games.bootstrap(c, stat, n=20, seed=7, cluster=cluster, missing="tie")
        b = games.bootstrap(c, stat, n=20, seed=7, cluster=cluster, missing="tie")
        other = games.bootstrap(c, stat, n=20, seed=8, cluster=cluster, missing="tie")
        np.testing.assert_array_equal(a.samples, b.samples)
        assert not np.array_equal(a.samples, other.samples)
        assert a.samples.shape == (20, 4)


def test_cluster_resamples_whole_prompts():
    c = games.tally(synthetic(np.random.default_rng(1), 40, prompts=3), prompt="prompt")
    per = c.counts.sum(axis=(1, 2)) / 2  # records per prompt
    b = games.bootstrap(c, lambda g: np.asarray(g.weights), n=30, seed=0, cluster="prompt", missing="tie")
    # each resample's rho is (k_c * per_c) / sum(k * per) for whole numbers k_c summing to 3
    for rho in b.samples:
        k = rho / per
        k = 3 * k / k.sum()
        np.testing.assert_allclose(k, np.round(k), atol=1e-9)
        assert round(k.sum()) == 3


@pytest.mark.slow
def test_coverage_on_known_P():
    # 120 data sets x 2 statistics (P_01 and P_12); 95 % percentile intervals from 200 resamples each.
    # Binomial sd of the coverage over 240 intervals: sqrt(.95 .05 / 240) = 0.014: accept [0.90, 0.99].
    rng = np.random.default_rng(2024)
    hits = []
    for _ in range(120):
        c = games.tally(synthetic(rng))
        b = games.bootstrap(
            c, lambda g: np.asarray(g.P)[[0, 1], [1, 2]], n=200, seed=int(rng.integers(2**31))
        )
        lo, hi = b.interval(0.95)
        hits += list((lo <= P_TRUE[[0, 1], [1, 2]]) & (P_TRUE[[0, 1], [1, 2]] <= hi))
    coverage = np.mean(hits)
    assert 0.90 <= coverage <= 0.99, coverage


def test_bad_arguments():
    c = games.tally(synthetic(np.random.default_rng(0), 10))
    stat = lambda g: np.asarray(g.P[0, 1])
    with pytest.raises(TypeError, match="seed"):
        games.bootstrap(c, stat, n=5)
    with pytest.raises(TypeError, match="seed must be"):
        games.bootstrap(c, stat, n=5, seed=1.5)
    with pytest.raises(ValueError, match="n must be >= 2"):
        games.bootstrap(c, stat, n=1, seed=0)
    with pytest.raises(ValueError, match="cluster='prompt' needs"):
        games.bootstrap(c, stat, n=5, seed=0, cluster="prompt")
    with pytest.raises(ValueError, match="cluster must be"):
        games.bootstrap(c, stat, n=5, seed=0, cluster="worker")
    with pytest.raises(TypeError, match="statistic must be callable"):
        games.bootstrap(c, 3, n=5, seed=0)
    with pytest.raises(ValueError, match="kind must be"):
        games.bootstrap(c, stat, n=5, seed=0, kind="votes")
    with pytest.raises(ValueError, match="one entry per model"):
        games.bootstrap(c, stat, n=5, seed=0).to_frame()


def test_equilibrium_mass_frame():
    c = games.tally(synthetic(np.random.default_rng(3), 50))
    t0 = time.perf_counter()
    b = games.bootstrap(c, lambda g: games.solve(g).x, n=50, seed=0)
    assert time.perf_counter() - t0 < 5
    df = b.to_frame()
    assert list(df.index) == ["m0", "m1", "m2"] and list(df.columns) == [
        "estimate",
        "lo",
        "hi",
        "support",
        "mean",
    ]
    np.testing.assert_allclose(b.samples.sum(1), 1.0, atol=1e-12)
    assert ((df.lo <= df.estimate + 1e-12) | (df.support < 1)).all()
