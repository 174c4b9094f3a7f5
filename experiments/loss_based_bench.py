"""Speed of loss-based learning: the jitted ``loss_based`` rule against a NumPy loop of the same iteration.

One iteration (tabular policy, 3x3 paper game, INPO loss, eta 0.5, tau 0.1): draw K = 64 pairs from pi_t, judge
each by one Bernoulli draw, take M = 10 SGD steps (step 0.5) on the loss. The NumPy loop writes the same
iteration plainly (the loss's gradient in the logits in closed form: ``2/K sum_i d_i (e_w - e_l)``). Both are
timed in the same process, interleaved (:func:`experiments.common.timing.interleaved`): one game (``run``), and a
batch of 8 seeds x K in {16, 64, 256} (one compiled ``sweep``, the ``pairs`` hyperparameter) against the NumPy
loop run once per lane. :func:`bench` returns rows for ``python -m experiments.benchmark``.
"""

from __future__ import annotations

import numpy as np

ETA, TAU, K, M, LR = 0.5, 0.1, 64, 10, 0.5


def numpy_loop(P: np.ndarray, steps: int, k: int = K, seed: int = 0) -> np.ndarray:
    """INPO loss-based learning, tabular, hard labels, plain NumPy; returns the final log-policy."""
    rng = np.random.default_rng(seed)
    n = P.shape[0]
    offset = np.full(n, -np.log(n))  # log pi_start (uniform), the fixed base logits
    ref = offset.copy()
    theta = np.zeros(n)
    et = ETA * TAU
    for _ in range(steps):
        z = offset + theta
        anchor = z - z.max() - np.log(np.exp(z - z.max()).sum())
        pi = np.exp(anchor)
        a = rng.choice(n, size=k, p=pi)
        b = rng.choice(n, size=k, p=pi)
        won = rng.random(k) < P[a, b]
        w, l = np.where(won, a, b), np.where(won, b, a)
        target = et * (ref[w] - ref[l]) + (1 - et) * (anchor[w] - anchor[l]) + ETA / 2
        for _ in range(M):
            d = (theta[w] - theta[l]) + (offset[w] - offset[l]) - target
            grad = np.bincount(w, weights=d, minlength=n) - np.bincount(l, weights=d, minlength=n)
            theta = theta - LR * 2.0 / k * grad
    z = offset + theta
    return z - z.max() - np.log(np.exp(z - z.max()).sum())


def bench(repeats: int = 3, quick: bool = False) -> list[dict]:
    """Rows (case, JAX rate, NumPy rate, ratio) for the benchmark table."""
    import jax

    import algorithms
    import games
    from algorithms import policies

    from .common.timing import measure

    game = games.comal_cycle()
    P = np.asarray(game.P)
    tab = policies.tabular(game)
    steps = 5000 if quick else 20000
    np_steps = 500 if quick else 2000
    single = algorithms.loss_based("inpo", tab, pairs=K, optimizer_steps=M)

    def jax_single():
        jax.block_until_ready(algorithms.run(single, game, steps=steps, record_every=steps).policy.x)

    rows = [
        measure(
            f"loss_based inpo 3x3 K={K} M={M}, one run",
            jax_single,
            lambda: numpy_loop(P, np_steps),
            steps,
            np_steps,
            repeats,
        )
    ]
    ks = [16, 64, 256]
    seeds = 8
    batch = algorithms.loss_based("inpo", tab, pairs=max(ks), optimizer_steps=M)

    def jax_batch():
        t = algorithms.sweep(batch, game, steps=steps // 4, record_every=steps // 4, seeds=seeds, pairs=ks)
        jax.block_until_ready(t.policy.x)

    def np_batch():
        for s in range(seeds):
            for k in ks:
                numpy_loop(P, np_steps // 4, k=k, seed=s)

    rows.append(
        measure(
            f"loss_based inpo 3x3 M={M}, sweep {seeds} seeds x K {ks}",
            jax_batch,
            np_batch,
            steps // 4 * seeds * len(ks),
            np_steps // 4 * seeds * len(ks),
            repeats,
        )
    )
    return rows


def main() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    for r in bench():
        print(r)


if __name__ == "__main__":
    main()
