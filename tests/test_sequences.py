"""Sequence games, autoregressive policies and ancestral sampling.

Expected values are literal numbers worked out by hand from the Sequences section of EQUATIONS.md (the
positional rock-paper-scissors margin, the chain rule ``log pi(y) = sum_t log pi(y_t | y_<t)``), closed forms
of the losses' population minimizers (the closed-form rules, themselves tested against literals), structural
properties of the judges (GPM's rank, Bradley-Terry's additivity) and a chi-square test of the sampler.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

import algorithms
import games
from algorithms import policies
from algorithms.loss_based import draw, loss_based
from games.sequences import MAX_SEQUENCES, ancestral_sample, prefix_log_probs, token_mass

RPS_P = [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]  # a = rock, b = paper, c = scissors: b beats a


def mixed_game():
    """9 sequences, a transitive reward with a verbosity bias plus a cyclic part: a game where every rule moves."""
    return games.sequence_game(3, 2, "reward_cycle", cycle=0.6, verbosity=1.0, seed=1)


# ---------------------------------------------------------------------------------------------------------------
# Games
# ---------------------------------------------------------------------------------------------------------------


def test_token_table_labels_and_prefix_index():
    space = games.sequence_game(2, 2, lambda y, z: 0.5 + 0.0 * (y + z).sum(-1)).sequences
    np.testing.assert_array_equal(space.tokens, [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert space.labels == ["aa", "ab", "ba", "bb"]
    # prefixes numbered depth by depth: the empty prefix 0, then "a" = 1, "b" = 2
    np.testing.assert_array_equal(space.prefixes, [[0, 1], [0, 1], [0, 2], [0, 2]])
    g = games.sequence_game(3, 4, alphabet="rps")
    assert g.shape == (81, 81) and g.sequences.num_prefixes == 1 + 3 + 9 + 27
    assert g.sequences.labels[0 * 27 + 1 * 9 + 2 * 3 + 0] == "rpsr"  # action i = sum_t y_t 3^(4-t)
    assert "V=3, L=4" in repr(g)


def test_positional_rps_of_length_one_is_rock_paper_scissors():
    # L = 1: m(y, y') = s(y, y'), so P is rock-paper-scissors itself; its unique equilibrium is (1/3, 1/3, 1/3)
    g = games.sequence_game(3, 1)
    np.testing.assert_array_equal(np.asarray(g.P), RPS_P)
    eq = games.solve(g)
    assert eq.unique
    np.testing.assert_allclose(np.asarray(eq.x), [1 / 3, 1 / 3, 1 / 3], atol=1e-12)


def test_positional_rps_of_length_two_by_hand():
    # L = 2, row "aa" against aa ab ac ba bb bc ca cb cc: per position s(a, a) = 0, s(a, b) = -1, s(a, c) = +1,
    # margins 0, -1, +1, -1, -2, 0, +1, 0, +2 -> P = 1/2, 0, 1, 0, 0, 1/2, 1, 1/2, 1
    g = games.sequence_game(3, 2)
    np.testing.assert_array_equal(np.asarray(g.P)[0], [0.5, 0, 1, 0, 0, 0.5, 1, 0.5, 1])
    # Against the uniform policy the two per-position scores are independent and uniform on {-1, 0, +1}, so for
    # every y: P(m > 0) = #{(1,0),(0,1),(1,1)}/9 = 3/9 and P(m = 0) = #{(0,0),(1,-1),(-1,1)}/9 = 3/9; the win
    # rate is 3/9 + 3/18 = 1/2 for every row: uniform is an equilibrium and the value is 0 (the game is symmetric).
    np.testing.assert_array_equal(np.asarray(g.P).mean(axis=1), np.full(9, 0.5))
    uniform = np.full(9, 1 / 9)
    assert float(games.duality_gap(g, jnp.asarray(uniform))) == pytest.approx(0.0, abs=1e-15)
    eq = games.solve(g)
    assert eq.value == pytest.approx(0.0, abs=1e-12)
    # the equilibrium is not unique: {ab, bc, ca} is a 3-cycle (ab loses both positions to bc, bc to ca, ca to
    # ab); compare gaps, not strategies
    assert not eq.unique
    assert float(games.duality_gap(g, jnp.asarray(eq.x))) <= 1e-9


def test_embedding_judge_is_a_rank_two_skew_form():
    # GPM: logit P = V R V^T with V [n, dim]: skew-symmetric and of rank <= dim (an independent property of the
    # model, not of the code's arithmetic); dim = 2 gives rank exactly 2
    g = games.sequence_game(3, 4, "embedding", dim=2, seed=3)
    P = np.asarray(g.P)
    logit = np.log(P) - np.log1p(-P)
    np.testing.assert_allclose(logit, -logit.T, atol=1e-9)
    s = np.linalg.svd(logit, compute_uv=False)
    assert s[1] > 1e-3 * s[0] and s[2] <= 1e-9 * s[0]
    eq = games.solve(g)
    assert np.sum(np.asarray(eq.x) > 1e-9) > 1  # centred token embeddings: a mixed equilibrium


def test_reward_without_cycle_is_bradley_terry_and_verbosity_moves_the_nash_policy():
    # cycle = 0: logit P(i, j) = s_i - s_j (Bradley-Terry): additive through any third response
    P = np.asarray(games.sequence_game(3, 3, "reward_cycle", cycle=0.0, seed=2).P)
    logit = np.log(P) - np.log1p(-P)
    np.testing.assert_allclose(logit, logit[:, :1] - logit[:, :1].T, atol=1e-9)
    # a large verbosity term makes the all-favoured sequence the Condorcet winner: the Nash policy is pure "cc"
    g = games.sequence_game(3, 2, "reward_cycle", cycle=0.5, verbosity=20.0, favoured=2, seed=0)
    x = np.asarray(games.solve(g).x)
    assert g.sequences.labels[int(np.argmax(x))] == "cc" and x.max() == pytest.approx(1.0, abs=1e-9)
    assert float(token_mass(jnp.asarray(x), g.sequences, 2)) == pytest.approx(1.0, abs=1e-9)


def test_user_judge_and_solvers_metrics_and_jit_take_the_game():
    # a user judge of two token arrays: the sequence with more b's wins, ties at 1/2
    g = games.sequence_game(2, 3, lambda y, z: 0.5 + 0.5 * np.sign(y.sum(-1) - z.sum(-1)))
    assert g.sequences.labels[int(np.argmax(np.asarray(games.solve(g).x)))] == "bbb"
    # the static token structure survives casts, stacking and jit
    assert g.astype(jnp.float32).sequences == g.sequences
    assert games.stack_games([g, g]).sequences == g.sequences
    gap = jax.jit(games.duality_gap)(g, games.uniform(g) * 0 + jnp.eye(8)[0])
    assert float(gap) > 0


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match=r"4\^7 = 16384 sequences exceeds the limit 4096.*n x n payoff.*LP"):
        games.sequence_game(4, 7)
    assert MAX_SEQUENCES == 4096
    with pytest.raises(ValueError, match="vocab must be >= 2"):
        games.sequence_game(1, 5)
    with pytest.raises(TypeError, match="length must be an integer"):
        games.sequence_game(3, 2.0)
    with pytest.raises(ValueError, match=r"shape \(n, n\) = \(4, 4\).*got shape \(4, 1\)"):
        games.sequence_game(2, 2, lambda y, z: np.full((4, 1), 0.5))
    with pytest.raises(ValueError, match=r"P \+ P\^T must equal 1"):
        games.sequence_game(2, 2, lambda y, z: np.full((4, 4), 0.7) - 0.2 * np.eye(4))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        games.sequence_game(2, 2, lambda y, z: 2.0 + 0.0 * (y + z).sum(-1))
    with pytest.raises(ValueError, match="judge.*raised KeyError"):
        games.sequence_game(2, 2, lambda y, z: {}["x"])
    with pytest.raises(ValueError, match="unknown judge 'bt'"):
        games.sequence_game(3, 2, "bt")
    with pytest.raises(ValueError, match="takes no option.*verbosity"):
        games.sequence_game(3, 2, "embedding", verbosity=1.0)
    with pytest.raises(ValueError, match="positional_rps needs vocab >= 3"):
        games.sequence_game(2, 3)
    with pytest.raises(ValueError, match=r"favoured must be a token in \[0, 3\)"):
        games.sequence_game(3, 2, "reward_cycle", favoured=3)
    with pytest.raises(ValueError, match="no token structure"):
        policies.autoregressive(games.rock_paper_scissors())
    with pytest.raises(ValueError, match="multiple of heads"):
        policies.transformer(games.sequence_game(3, 2), d_model=6, heads=4)


# ---------------------------------------------------------------------------------------------------------------
# Autoregressive policies
# ---------------------------------------------------------------------------------------------------------------


def test_prefix_tree_log_probs_by_hand():
    # V = 2, L = 2; theta rows: empty prefix, "a", "b". pi(a) = 1/(1 + 3) = 1/4, pi(b) = 3/4;
    # pi(a | a) = 2/3, pi(b | a) = 1/3; pi(. | b) = 1/2 each. Leaves: aa = 1/4 * 2/3 = 1/6, ab = 1/4 * 1/3 = 1/12,
    # ba = bb = 3/4 * 1/2 = 3/8
    g = games.sequence_game(2, 2, lambda y, z: 0.5 + 0.0 * (y + z).sum(-1))
    pol = policies.autoregressive(g)
    theta = jnp.array([[[0.0, math.log(3.0)], [math.log(2.0), 0.0], [0.0, 0.0]]])
    lp = np.asarray(pol.log_probs(theta))
    want = [-1.791759469228055, -2.4849066497880004, -0.9808292530117262, -0.9808292530117262]  # log 1/6, ...
    np.testing.assert_allclose(lp, [want], rtol=1e-14)
    # the prefix marginals of the leaves give back the first softmax: log(1/6 + 1/12) = log 1/4
    np.testing.assert_allclose(
        np.asarray(prefix_log_probs(jnp.asarray(lp), g.sequences, 1)), [[math.log(0.25), math.log(0.75)]]
    )


def test_transformer_is_normalised_and_uniform_at_init_on_contextual_games():
    g1, g2 = games.sequence_game(3, 2, "embedding", seed=0), games.sequence_game(3, 2, "embedding", seed=1)
    ctx = games.preference_game(np.stack([np.asarray(g1.P), np.asarray(g2.P)]))
    ctx = dataclasses.replace(ctx, sequences=g1.sequences)
    pol = policies.transformer(ctx, d_model=8, layers=1, heads=2)
    params = pol.init(jax.random.key(0))
    log_probs = jax.jit(pol.log_probs)
    np.testing.assert_allclose(np.asarray(log_probs(params)), -math.log(9.0), atol=1e-14)
    moved = jax.tree.map(lambda p: p + 0.5 * jax.random.normal(jax.random.key(1), p.shape, p.dtype), params)
    lp = np.asarray(log_probs(moved))
    np.testing.assert_allclose(jax.scipy.special.logsumexp(lp, axis=-1), [0.0, 0.0], atol=1e-12)
    assert np.abs(lp[0] - lp[1]).max() > 1e-3  # the prompt token reaches every position
    assert policies.transformer(ctx, d_model=8, layers=1, heads=2) is pol  # cached


def _whole_sequence_transformer(params, space, C: int, heads: int) -> np.ndarray:
    """The transformer run on whole sequences ``(x, y_1..y_{L-1})`` with a causal mask, position ``t``
    predicting ``y_t`` (the textbook way, one pass per sequence), in NumPy: ``[C, n]`` log-probabilities."""
    V, L, n = space.vocab, space.length, space.n
    w = lambda a: np.asarray(a)

    def ln(m, h):
        mu = h.mean(-1, keepdims=True)
        return (h - mu) / np.sqrt(((h - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * w(m.weight) + w(m.bias)

    def lin(m, h):
        return h @ w(m.weight).T + (0 if m.bias is None else w(m.bias))

    def gelu(x):  # the tanh form, jax.nn.gelu's default
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    out = np.zeros((C, n))
    for c in range(C):
        x = np.concatenate([np.full((n, 1), V + c), space.tokens[:, : L - 1]], 1)  # [n, L]
        h = w(params.embed)[x] + w(params.position)[None]
        for b in params.blocks:
            z = ln(b.ln1, h)
            q, k, v = (
                lin(p, z).reshape(n, L, heads, -1)
                for p in (b.attn.query_proj, b.attn.key_proj, b.attn.value_proj)
            )
            logits = np.einsum("nthd,nshd->nhts", q, k) / np.sqrt(q.shape[-1])
            logits = np.where(np.tril(np.ones((L, L), bool)), logits, -np.inf)
            mixed = np.einsum("nhts,nshd->nthd", np.exp(log_softmax(logits)), v).reshape(n, L, -1)
            h = h + lin(b.attn.output_proj, mixed)
            h = h + lin(b.down, gelu(lin(b.up, ln(b.ln2, h))))
        lp = log_softmax(ln(params.ln, h) @ w(params.out))  # [n, L, V]
        out[c] = np.take_along_axis(lp, space.tokens[:, :, None], 2)[..., 0].sum(1)
    return out


@pytest.mark.parametrize(
    "vocab, length, prompts",
    [pytest.param(3, 4, 1, marks=pytest.mark.slow), (2, 3, 2), pytest.param(4, 1, 1, marks=pytest.mark.slow)],
)
def test_transformer_over_the_prefix_tree_is_the_network_on_whole_sequences(vocab, length, prompts):
    # the policy runs the network once per prefix (40 nodes at V = 3, L = 4) instead of once per position of
    # every sequence (108); causal attention makes them the same function. Random (not initial) parameters.
    g = games.sequence_game(vocab, length, "embedding", seed=0)
    if prompts > 1:
        P = np.stack([np.asarray(g.P), np.asarray(games.sequence_game(vocab, length, "embedding", seed=1).P)])
        g = dataclasses.replace(games.preference_game(P), sequences=g.sequences)
    pol = policies.transformer(g, d_model=8, layers=2, heads=2)
    params = pol.init(jax.random.key(1))
    params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(5), p.shape, p.dtype), params)
    want = _whole_sequence_transformer(params, g.sequences, prompts, heads=2)
    np.testing.assert_allclose(np.asarray(pol.log_probs(params)), want, atol=1e-13)


# ---------------------------------------------------------------------------------------------------------------
# Ancestral sampling
# ---------------------------------------------------------------------------------------------------------------


def test_ancestral_frequencies_are_the_enumerated_probabilities():
    # chi-square goodness of fit at a fixed seed, 27 sequences, 60,000 draws from a non-uniform pi (two rows)
    g = games.sequence_game(3, 3)
    pi = np.random.default_rng(0).dirichlet(np.ones(27), size=2) * 0.9 + 0.1 / 27
    pol = policies.autoregressive(g)
    idx = np.asarray(draw(pol, jax.random.key(7), jnp.log(jnp.asarray(pi)), 60_000))
    for row in range(2):
        counts = np.bincount(idx[row], minlength=27)
        p = scipy.stats.chisquare(counts, 60_000 * pi[row]).pvalue
        assert p > 1e-3, (row, p)


def test_draws_are_token_by_token():
    # Generation draws the first token from its marginal before the rest: moving mass among the sequences that
    # start with "b" (keeping their total) changes no first token and no draw outside "b...". A draw over whole
    # sequences (a categorical over the 27 leaves) has no such property.
    space = games.sequence_game(3, 3).sequences
    pi = np.random.default_rng(1).dirichlet(np.ones(27))[None]
    moved = pi.copy()
    moved[0, 9:18] = moved[0, 9:18][::-1]  # the "b.." block, reversed
    key = jax.random.key(3)
    a = np.asarray(ancestral_sample(key, jnp.log(jnp.asarray(pi)), space, 4000))
    b = np.asarray(ancestral_sample(key, jnp.log(jnp.asarray(moved)), space, 4000))
    np.testing.assert_array_equal(a // 9, b // 9)
    outside = a // 9 != 1
    np.testing.assert_array_equal(a[outside], b[outside])
    assert (a != b).any()
    flat = lambda p: np.asarray(jax.random.categorical(key, jnp.log(jnp.asarray(p)), shape=(4000,)))
    assert (flat(pi) // 9 != flat(moved) // 9).any()


def test_loss_based_draws_by_policy_kind_and_keeps_tabular_traces():
    g = mixed_game()
    lp = jnp.log(jnp.full((1, 9), 1 / 9))
    key = jax.random.key(0)
    np.testing.assert_array_equal(
        draw(policies.autoregressive(g), key, lp, 50), ancestral_sample(key, lp, g.sequences, 50)
    )
    np.testing.assert_array_equal(
        draw(policies.tabular(g), key, lp, 50), jax.random.categorical(key, lp[:, None, :], shape=(1, 50))
    )
    np.testing.assert_array_equal(
        draw(policies.tabular(g, ancestral=True), key, lp, 50), ancestral_sample(key, lp, g.sequences, 50)
    )
    with pytest.raises(ValueError, match="ancestral=True needs a game built by games.sequence_game"):
        policies.tabular(games.comal_cycle(), ancestral=True)
    with pytest.raises(TypeError, match="ancestral must be True or False"):
        policies.tabular(g, ancestral=1)
    # the tabular traces from before sequence policies existed (recorded on the parent commit, same machine:
    # bitwise equal; compared here to 1e-12 so that another CPU's last-bit rounding passes)
    before = {
        "inpo": [0.43972929255766274, 0.25861224051941345, 0.30165846692292375],
        "egpo": [0.29613792577430675, 0.3350349582434842, 0.36882711598220896],
    }
    paper = games.comal_cycle()
    for loss, want in before.items():
        rule = loss_based(loss, policies.tabular(paper), optimizer_steps=3)
        got = algorithms.run(rule, paper, steps=4, key=3, feedback=games.feedback.sampled(16)).policy.x
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


def test_sampled_autoregressive_rule_counts_and_moves_towards_the_better_sequence():
    g = games.sequence_game(2, 2, "reward_cycle", cycle=0.0, verbosity=3.0, favoured=1, seed=0)
    rule = loss_based("inpo", policies.autoregressive(g), optimizer_steps=20)
    t = algorithms.run(rule, g, steps=20, record_every=10, key=0, feedback=games.feedback.sampled(64))
    np.testing.assert_array_equal(np.asarray(t.counters["comparisons"]), [0, 640, 1280])
    best = int(np.argmax(np.asarray(g.P).mean(1)))
    assert g.sequences.labels[best] == "bb" and int(np.argmax(np.asarray(t.policy.x))) == best


# ---------------------------------------------------------------------------------------------------------------
# Population minimizers: the autoregressive family is complete
# ---------------------------------------------------------------------------------------------------------------

CLOSED_FORMS = {  # loss -> (closed-form rule, its hyperparameters, the loss's)
    "inpo": (algorithms.inpo, {"eta": 0.5, "tau": 0.1}, {"eta": 0.5, "tau": 0.1}),
    "egpo": (algorithms.egpo, {"eta": 0.5, "tau": 0.1}, {"eta": 0.5, "tau": 0.1}),
    "ipo": (algorithms.mwu, {"eta": 0.5}, {"tau": 2.0}),
    "nash_md": (algorithms.nash_md, {"eta": 0.5, "tau": 0.1}, {"eta": 0.5, "tau": 0.1}),
}


@pytest.mark.parametrize(
    "loss",
    [
        "inpo",
        "egpo",
        pytest.param("ipo", marks=pytest.mark.slow),
        pytest.param("nash_md", marks=pytest.mark.slow),
    ],
)
def test_autoregressive_population_minimizer_is_the_closed_form_and_the_tabular_one(loss):
    g = mixed_game()
    rng = np.random.default_rng(0)
    ref, start = (rng.dirichlet(np.ones(9)) * 0.8 + 0.2 / 9 for _ in range(2))
    closed, hp_closed, hp_loss = CLOSED_FORMS[loss]
    want = algorithms.run(closed(), g, steps=1, ref=ref, start=start, **hp_closed).policy.x
    for pol in (policies.autoregressive(g), policies.tabular(g)):
        rule = loss_based(loss, pol, optimizer=optax.sgd(1.0), optimizer_steps=500)
        got = algorithms.run(rule, g, steps=1, ref=ref, start=start, **hp_loss).policy.x
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-9)


def test_autoregressive_dpo_minimizer_on_a_bradley_terry_sequence_game():
    # cycle = 0 is a Bradley-Terry game with scores s_i = logit P(i, 0) + const; pi' ∝ pi_t exp(s / beta)
    g = games.sequence_game(3, 2, "reward_cycle", cycle=0.0, verbosity=1.0, seed=4)
    P = np.asarray(g.P)
    start = np.random.default_rng(2).dirichlet(np.ones(9)) * 0.8 + 0.2 / 9
    rule = loss_based("dpo", policies.autoregressive(g), optimizer=optax.sgd(1.0), optimizer_steps=4000)
    got = algorithms.run(rule, g, steps=1, start=start, beta=2.0).policy.x
    want = start * np.exp((np.log(P[:, 0]) - np.log1p(-P[:, 0])) / 2.0)
    np.testing.assert_allclose(np.asarray(got), want / want.sum(), atol=1e-9)


@pytest.mark.slow
def test_wide_transformer_reaches_the_tabular_one_step_optimum():
    # One INPO step with eta = 5 (the step moves log-probabilities by up to 0.75 from uniform), 1500 Adam steps
    # with the rate decayed from 1e-2 to 1e-5. Measured max |pi - pi_closed| over seeds 0, 1, 2: d_model = 32:
    # <= 1.2e-16; d_model = 8: 9.2e-9; d_model = 4: 1.5e-3 (too narrow). Tolerance for d_model = 32: 1e-9.
    g = mixed_game()
    want = np.asarray(algorithms.run(algorithms.inpo(), g, steps=1, eta=5.0, tau=0.1).policy.x)
    opt = optax.adam(optax.exponential_decay(1e-2, 1500, 1e-3))
    rule = loss_based(
        "inpo", policies.transformer(g, d_model=32, layers=1, heads=2), optimizer=opt, optimizer_steps=1500
    )
    for seed in range(4):
        got = algorithms.run(rule, g, steps=1, key=seed, eta=5.0, tau=0.1).policy.x
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-9)
