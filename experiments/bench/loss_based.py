"""Speed of loss-based learning: the jitted ``loss_based`` rule against a NumPy loop of the same iteration.

One INPO iteration (eta 0.5, tau 0.1, hard labels): draw K = 64 pairs from pi_t, judge each by one Bernoulli
draw, take M = 10 SGD steps (step 0.5) on the loss; the NumPy loops write it plainly, the gradient in closed
form. ``python -m experiments.bench.loss_based`` prints the 3x3 rows; what and why:
``docs/studies/loss_based_bench.md``.
"""

from __future__ import annotations

import numpy as np

from .timing import measure

ETA, TAU, K, M, LR = 0.5, 0.1, 64, 10, 0.5


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _judged(rng, P, a, b, ref, anchor):
    """The winners and losers of the pairs ``(a, b)``, one Bernoulli draw each, and INPO's regression target
    of their log-ratio: ``eta tau (ref_w - ref_l) + (1 - eta tau) (anchor_w - anchor_l) + eta / 2``."""
    won = rng.random(len(a)) < P[a, b]
    w, l = np.where(won, a, b), np.where(won, b, a)
    return w, l, ETA * TAU * (ref[w] - ref[l]) + (1 - ETA * TAU) * (anchor[w] - anchor[l]) + ETA / 2


def numpy_loop(P: np.ndarray, steps: int, k: int = K, seed: int = 0) -> np.ndarray:
    """INPO loss-based learning, tabular, plain NumPy (uniform start and reference); the final log-policy."""
    rng, n = np.random.default_rng(seed), P.shape[0]
    offset = np.full(n, -np.log(n))  # log pi_start (uniform), the fixed base logits
    ref, theta = offset.copy(), np.zeros(n)
    for _ in range(steps):
        anchor = log_softmax(offset + theta)
        pi = np.exp(anchor)
        w, l, target = _judged(rng, P, rng.choice(n, size=k, p=pi), rng.choice(n, size=k, p=pi), ref, anchor)
        for _ in range(M):
            d = (theta[w] - theta[l]) + (offset[w] - offset[l]) - target
            grad = np.bincount(w, weights=d, minlength=n) - np.bincount(l, weights=d, minlength=n)
            theta = theta - LR * 2.0 / k * grad
    return log_softmax(offset + theta)


def log_prob_grad(theta, prefixes, tokens, ys, weights) -> np.ndarray:
    """``sum_i weights_i d log pi(ys_i) / d theta`` for the tabular-per-prefix policy (NumPy):
    ``d log pi(y) / d theta[p, v] = [p = y_<t] ([y_t = v] - softmax(theta[p])[v])``, summed over positions."""
    soft = np.exp(log_softmax(theta))
    grad = np.zeros_like(theta)
    pre, tok = prefixes[ys], tokens[ys]  # [k, L]
    np.add.at(grad, (pre, tok), weights[:, None])
    np.add.at(grad, pre, -weights[:, None, None] * soft[pre])
    return grad


def numpy_autoregressive_loop(
    P: np.ndarray, vocab: int, length: int, steps: int, seed: int = 0
) -> np.ndarray:
    """INPO loss-based learning with a tabular-per-prefix policy (uniform start and reference, K pairs drawn
    token by token, M SGD steps by :func:`log_prob_grad`), plain NumPy; the final log-policy ``[n]``."""
    rng, V, L = np.random.default_rng(seed), vocab, length
    n = V**L
    tokens = (np.arange(n)[:, None] // V ** np.arange(L - 1, -1, -1)) % V  # [n, L]
    start = (V ** np.arange(L) - 1) // (V - 1)
    prefixes = start + np.arange(n)[:, None] // (V ** (L - np.arange(L)))  # [n, L]
    theta, ref = np.zeros(((n - 1) // (V - 1), V)), np.full(n, -np.log(n))
    leaves = lambda t: log_softmax(t)[prefixes, tokens].sum(-1)  # [n]

    def sample(t):
        cond, idx = np.exp(log_softmax(t)), np.zeros(K, dtype=np.int64)  # idx: prefix within its depth
        for depth in range(L):
            p = cond[start[depth] + idx]  # [K, V]
            idx = idx * V + (rng.random(K)[:, None] > np.cumsum(p, -1)).sum(-1).clip(max=V - 1)
        return idx

    for _ in range(steps):
        anchor = leaves(theta)
        w, l, target = _judged(rng, P, sample(theta), sample(theta), ref, anchor)
        for _ in range(M):
            lp = leaves(theta)
            d = 2.0 / K * (lp[w] - lp[l] - target)  # dloss / dh per pair
            theta = theta - LR * log_prob_grad(theta, prefixes, tokens, np.r_[w, l], np.r_[d, -d])
    return leaves(theta)


def _run(rule, game, steps: int, **kw):
    """A timed call: ``steps`` iterations of ``rule`` (``run``, or ``sweep`` with ``kw``), waited for."""
    import jax

    import algorithms

    f = algorithms.sweep if "seeds" in kw else algorithms.run
    return lambda: jax.block_until_ready(f(rule, game, steps=steps, record_every=steps, **kw).policy.x)


def sequence_bench(repeats: int = 3, quick: bool = False) -> list[dict]:
    """Rows for the autoregressive and (full run only) the transformer policies on 256 sequences, K = 64, M = 10."""
    import optax

    import algorithms
    import games
    from algorithms import policies

    game = games.sequence_game(4, 4, "embedding")
    steps, np_steps = (200, 20) if quick else (1000, 100)
    np_call = lambda: numpy_autoregressive_loop(np.asarray(game.P), 4, 4, np_steps)
    cases = [("autoregressive", policies.autoregressive(game), None)]
    if not quick:  # Adam: SGD 0.5 diverges on the transformer
        transformer = policies.transformer(game, d_model=32, layers=1, heads=2)
        cases.append(("transformer d=32", transformer, optax.adam(1e-2)))
    rows = []
    for name, pol, opt in cases:
        rule = algorithms.loss_based("inpo", pol, optimizer=opt, optimizer_steps=M)
        call = _run(rule, game, steps, feedback=games.feedback.sampled(K))
        case = f"loss_based inpo {name} 4^4=256 seq K={K} M={M}, one run (NumPy: autoregressive)"
        rows.append(measure(case, call, np_call, steps, np_steps, repeats))
    return rows


def bench(repeats: int = 3, quick: bool = False) -> list[dict]:
    """Rows of the 3x3 game, tabular: one run (K = 64), and one sweep of 8 seeds x K in {16, 64, 256}."""
    import algorithms
    import games
    from algorithms import policies

    game, ks, seeds = games.comal_cycle(), [16, 64, 256], 8
    P, tab = np.asarray(game.P), policies.tabular(game)
    steps, np_steps = (5000, 500) if quick else (20000, 2000)
    rule = algorithms.loss_based("inpo", tab, optimizer_steps=M)
    lanes = [(k, s) for s in range(seeds) for k in ks]  # the NumPy loop runs once per lane of the sweep
    np_batch = lambda: [numpy_loop(P, np_steps // 4, k=k, seed=s) for k, s in lanes]
    one = _run(rule, game, steps, feedback=games.feedback.sampled(K))
    many = _run(rule, game, steps // 4, seeds=seeds, feedback=games.feedback.sampled(max(ks)), samples=ks)
    work = [n // 4 * len(lanes) for n in (steps, np_steps)]
    cases = [
        (f"3x3 K={K} M={M}, one run", one, lambda: numpy_loop(P, np_steps), steps, np_steps),
        (f"3x3 M={M}, sweep {seeds} seeds x K {ks}", many, np_batch, *work),
    ]
    return [measure(f"loss_based inpo {case}", *timed, repeats) for case, *timed in cases]


if __name__ == "__main__":
    import jax

    jax.config.update("jax_enable_x64", True)
    for r in bench():
        print(r)
