"""Speed of loss-based learning: the jitted ``loss_based`` rule against a NumPy loop of the same iteration.

One iteration (tabular policy, 3x3 paper game, INPO loss, eta 0.5, tau 0.1): draw K = 64 pairs from pi_t, judge
each by one Bernoulli draw, take M = 10 SGD steps (step 0.5) on the loss. The NumPy loop writes the same
iteration plainly (the loss's gradient in the logits in closed form: ``2/K sum_i d_i (e_w - e_l)``). Both are
timed in the same process, interleaved (:func:`experiments.bench.timing.measure`): one game (``run``), and a
batch of 8 seeds x K in {16, 64, 256} (one compiled ``sweep``, the ``pairs`` hyperparameter) against the NumPy
loop run once per lane. :func:`bench` returns rows for ``python -m experiments.bench.rules``.

Sequences (:func:`sequence_bench`): the same iteration on 256 sequences (``games.sequence_game(4, 4,
"embedding")``), pairs drawn token by token, with the autoregressive policy (one softmax per prefix) and with a
transformer (d_model 32, 1 layer, 2 heads, Adam 1e-2: SGD 0.5 diverges on it; full run only, its compile takes
a minute on a loaded 2-core machine), beside :func:`numpy_autoregressive_loop`, the autoregressive case written
plainly (ancestral sampling, the gradient of ``log pi(y) = sum_t log_softmax(theta[y_<t])[y_t]`` in closed
form).

    python -m experiments.bench.loss_based   # prints the rows of the 3x3 cases
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


def log_prob_grad(theta, prefixes, tokens, ys, weights) -> np.ndarray:
    """``sum_i weights_i d log pi(ys_i) / d theta`` for the tabular-per-prefix policy (NumPy):
    ``d log pi(y) / d theta[p, v] = [p = y_<t] ([y_t = v] - softmax(theta[p])[v])``, summed over positions."""
    z = theta - theta.max(-1, keepdims=True)
    soft = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    grad = np.zeros_like(theta)
    pre, tok = prefixes[ys], tokens[ys]  # [k, L]
    np.add.at(grad, (pre, tok), weights[:, None])
    np.add.at(grad, pre, -weights[:, None, None] * soft[pre])
    return grad


def numpy_autoregressive_loop(
    P: np.ndarray, vocab: int, length: int, steps: int, seed: int = 0
) -> np.ndarray:
    """INPO loss-based learning with a tabular-per-prefix policy, uniform start and reference, hard labels, K
    pairs drawn token by token, M SGD steps per iteration (gradient: :func:`log_prob_grad`); plain NumPy.
    Returns the final log-policy ``[n]``."""
    rng = np.random.default_rng(seed)
    V, L = vocab, length
    n = V**L
    powers = V ** np.arange(L - 1, -1, -1)
    tokens = (np.arange(n)[:, None] // powers) % V  # [n, L]
    start = (V ** np.arange(L) - 1) // (V - 1)
    prefixes = start + np.arange(n)[:, None] // (V ** (L - np.arange(L)))  # [n, L]
    theta = np.zeros(((V**L - 1) // (V - 1), V))
    ref = np.full(n, -np.log(n))
    et = ETA * TAU

    def log_softmax(t):
        t = t - t.max(-1, keepdims=True)
        return t - np.log(np.exp(t).sum(-1, keepdims=True))

    def leaves(t):
        return log_softmax(t)[prefixes, tokens].sum(-1)  # [n]

    def sample(t, k):
        cond = np.exp(log_softmax(t))
        idx = np.zeros(k, dtype=np.int64)  # prefix within its depth
        for depth in range(L):
            p = cond[start[depth] + idx]  # [k, V]
            tok = (rng.random(k)[:, None] > np.cumsum(p, -1)).sum(-1).clip(max=V - 1)
            idx = idx * V + tok
        return idx

    for _ in range(steps):
        anchor = leaves(theta)
        a, b = sample(theta, K), sample(theta, K)
        won = rng.random(K) < P[a, b]
        w, l = np.where(won, a, b), np.where(won, b, a)
        target = et * (ref[w] - ref[l]) + (1 - et) * (anchor[w] - anchor[l]) + ETA / 2
        for _ in range(M):
            lp = leaves(theta)
            d = 2.0 / K * (lp[w] - lp[l] - target)  # dloss / dh per pair
            grad = log_prob_grad(theta, prefixes, tokens, np.concatenate([w, l]), np.concatenate([d, -d]))
            theta = theta - LR * grad
    return leaves(theta)


def sequence_bench(repeats: int = 3, quick: bool = False) -> list[dict]:
    """Rows for the autoregressive and the transformer policies on 256 sequences, K = 64, M = 10."""
    import jax
    import optax

    import algorithms
    import games
    from algorithms import policies

    from .timing import measure

    game = games.sequence_game(4, 4, "embedding")
    P = np.asarray(game.P)
    steps = 200 if quick else 1000
    np_steps = 20 if quick else 100
    rows = []
    cases = [("autoregressive", policies.autoregressive(game), None)]
    if not quick:
        pol = policies.transformer(game, d_model=32, layers=1, heads=2)
        cases.append(("transformer d=32", pol, optax.adam(1e-2)))
    for name, pol, opt in cases:
        rule = algorithms.loss_based("inpo", pol, optimizer=opt, pairs=K, optimizer_steps=M)

        def jax_call(rule=rule):
            jax.block_until_ready(algorithms.run(rule, game, steps=steps, record_every=steps).policy.x)

        rows.append(
            measure(
                f"loss_based inpo {name} 4^4=256 seq K={K} M={M}, one run (NumPy: autoregressive)",
                jax_call,
                lambda: numpy_autoregressive_loop(P, 4, 4, np_steps),
                steps,
                np_steps,
                repeats,
            )
        )
    return rows


def bench(repeats: int = 3, quick: bool = False) -> list[dict]:
    """Rows (case, JAX rate, NumPy rate, ratio) for the benchmark table."""
    import jax

    import algorithms
    import games
    from algorithms import policies

    from .timing import measure

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
