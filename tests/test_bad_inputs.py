"""A catalogue of bad and extreme inputs for the feedback models, the runner (run, sweep, metrics,
``to_dataframe``), the metrics, the registry, loss-based rules (losses, policies, optimizers) and the memory
check: each row either raises a clear error (the exception type, a message naming the offending value, one
line) or gives the right answer (checked against an independent value).

The rows marked ``#17`` reproduce the findings of issue 17; the rest are this catalogue's own.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest

import algorithms
import games
from algorithms import losses, policies
from games.feedback import Feedback


@pytest.fixture(autouse=True)
def _machine(monkeypatch):
    """A 64 GiB machine for the memory rows, whatever runs the tests (a large one would try the allocation)."""
    monkeypatch.setattr(algorithms.memory, "machine_memory", lambda: 64 * 2**30)


def _G():
    return games.comal_cycle()


def _mwu():
    return algorithms.get("mwu")


def _loss_rule(loss="inpo", policy=None, **kw):
    return algorithms.loss_based(loss, policy or policies.tabular(_G()), **kw)


_ETA = (("eta", (0.5, "(0, inf)")),)


def _run(**kw):
    return algorithms.run(_mwu(), _G(), steps=2, **kw)


# (id, thunk, exception type, regex the one-line message must match)
ERRORS = [
    # feedback: validated in its own constructor, wherever it enters
    ("#17 Feedback noisy sigma<0", lambda: Feedback("noisy", sigma=-1.0), ValueError, r"sigma.*-1\.0"),
    ("#17 Feedback bogus kind", lambda: Feedback("bogus"), ValueError, r"kind.*'bogus'"),
    ("#17 run with Feedback bogus", lambda: _run(feedback=Feedback("bogus")), ValueError, r"'bogus'"),
    ("Feedback sampled no samples", lambda: Feedback("sampled"), ValueError, r"samples must be >= 1, got 0"),
    ("Feedback sampled float", lambda: Feedback("sampled", samples=2.5), TypeError, r"samples.*2\.5"),
    ("Feedback noisy nan", lambda: Feedback("noisy", sigma=float("nan")), ValueError, r"sigma.*nan"),
    ("Feedback noisy str", lambda: Feedback("noisy", sigma="1"), TypeError, r"sigma.*'1'"),
    ("Feedback exact with samples", lambda: Feedback("exact", samples=3), ValueError, r"samples=3"),
    ("Feedback exact with sigma", lambda: Feedback("exact", sigma=0.1), ValueError, r"sigma=0\.1"),
    ("Feedback kind int", lambda: Feedback(3), ValueError, r"kind.*3"),
    (
        "Feedback replace revalidates",
        lambda: dataclasses.replace(games.feedback.noisy(1.0), sigma=-2.0),
        ValueError,
        r"-2\.0",
    ),
    ("Feedback frozen", lambda: setattr(games.feedback.noisy(1.0), "sigma", -1.0), AttributeError, r"sigma"),
    ("sampled(True)", lambda: games.feedback.sampled(True), TypeError, r"samples.*True"),
    ("feedback a string", lambda: _run(feedback="exact"), TypeError, r"'exact'"),
    # memory: estimated from the sizes before anything is allocated
    (
        "#17 sampled(10**12)",
        lambda: algorithms.run(_mwu(), _G(), steps=1, feedback=games.feedback.sampled(10**12)),
        ValueError,
        r"^run: feedback=sampled\(1000000000000\) needs about [0-9.]+ TiB .* this machine's [0-9.]+ [GT]iB",
    ),
    (
        "#17 sweep seeds=10**12",
        lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=10**12),
        ValueError,
        r"^sweep: 1000000000000 runs x 2 records needs about [0-9.]+ TiB .* this machine's",
    ),
    (
        "records 10**11",
        lambda: algorithms.run(_mwu(), _G(), steps=10**11, record_every=1),
        ValueError,
        r"1 run x 100000000001 records needs about",
    ),
    (
        "sweep grid 10**6 x 10**6",
        lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=10**6, eta=np.linspace(0.1, 1, 10**6)),
        ValueError,
        r"1000000000000 runs",
    ),
    # user metrics: one number per record, checked by abstract evaluation
    (
        "#17 vector metric",
        lambda: _run(metrics=[("probs", lambda g, x, y: x)]),
        ValueError,
        r"metric 'probs' must return one number.*shape \(3,\)",
    ),
    (
        "#17 matrix metric",
        lambda: _run(metrics=[("m", lambda g, x, y: jnp.outer(x, y))]),
        ValueError,
        r"metric 'm'.*shape \(3, 3\)",
    ),
    (
        "metric that raises",
        lambda: _run(metrics=[("bad", lambda g, x, y: x[7] + undefined_name)]),  # noqa: F821
        ValueError,
        r"metric 'bad' fails",
    ),
    ("metric a string", lambda: _run(metrics=[("s", lambda g, x, y: "a")]), ValueError, r"metric 's' fails"),
    (
        "metric per prompt on a contextual game",
        lambda: algorithms.run(
            _mwu(),
            games.preference_game(np.stack([games.comal_cycle().P] * 2)),
            steps=1,
            metrics=[("v", lambda g, x, y: x[:, 0])],
        ),
        ValueError,
        r"v_by_context.*shape \(2,\)",
    ),
    ("#17 record_policy 'False'", lambda: _run(record_policy="False"), TypeError, r"record_policy.*'False'"),
    ("record_policy 1", lambda: _run(record_policy=1), TypeError, r"record_policy.*1"),
    (
        "sweep record_policy 'yes'",
        lambda: algorithms.sweep(_mwu(), _G(), steps=1, record_policy="yes"),
        TypeError,
        r"record_policy",
    ),
    # sweep seeds
    ("#17 sweep seeds=True", lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=True), TypeError, r"True"),
    ("#17 sweep seeds=2.0", lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=2.0), TypeError, r"2\.0"),
    ("#17 sweep key=0", lambda: algorithms.sweep(_mwu(), _G(), steps=1, key=0), ValueError, r"seeds="),
    ("sweep seeds='3'", lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds="3"), TypeError, r"'3'"),
    ("sweep seeds=0", lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=0), ValueError, r"at least one"),
    ("sweep seeds=[1.5]", lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=[1.5]), TypeError, r"1\.5"),
    (
        "sweep seeds=-1 in list",
        lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=[-1]),
        ValueError,
        r"-1",
    ),
    (
        "sweep seeds 0-d array",
        lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=np.array(3)),
        TypeError,
        r"array\(3\)",
    ),
    (
        "sweep seeds set",
        lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds={1, 2}),
        TypeError,
        r"\{1, 2\}",
    ),
    (
        "sweep seeds 2-D",
        lambda: algorithms.sweep(_mwu(), _G(), steps=1, seeds=[[1, 2]]),
        TypeError,
        r"seeds\[0\]",
    ),
    (
        "Feedback sampled with sigma",
        lambda: Feedback("sampled", samples=3, sigma=1.0),
        ValueError,
        r"sigma=1\.0",
    ),
    ("noisy(inf)", lambda: games.feedback.noisy(float("inf")), ValueError, r"inf"),
    (
        "metric returning None",
        lambda: _run(metrics=[("n", lambda g, x, y: None)]),
        ValueError,
        r"metric 'n' fails.*None",
    ),
    (
        "metric returning complex",
        lambda: _run(metrics=[("c", lambda g, x, y: 1j)]),
        ValueError,
        r"metric 'c'",
    ),
    # metrics of strategies with the wrong shape: named, not a dot_general error
    (
        "#17 duality_gap x of length 4",
        lambda: games.duality_gap(_G(), np.ones(4) / 4),
        ValueError,
        r"duality_gap: x must have shape \(3,\).*got shape \(4,\)",
    ),
    (
        "duality_gap y of length 2 on 2x3",
        lambda: games.duality_gap(games.matrix_game(np.ones((2, 3))), np.ones(2) / 2, np.ones(2) / 2),
        ValueError,
        r"y must have shape \(3,\).*got shape \(2,\)",
    ),
    (
        "duality_gap one prompt on contextual",
        lambda: games.duality_gap(games.preference_game(np.stack([_G().P] * 2)), np.ones(3) / 3),
        ValueError,
        r"x must have shape \(2, 3\)",
    ),
    (
        "worst_case_win_rate wrong shape",
        lambda: games.worst_case_win_rate(_G(), np.ones((3, 3)) / 3),
        ValueError,
        r"pi must have shape \(3,\)",
    ),
    (
        "regularized_gap wrong shape",
        lambda: games.regularized_gap(_G(), np.ones(2) / 2, 0.1),
        ValueError,
        r"regularized_gap: x must have shape",
    ),
    (
        "expected_payoff wrong shape",
        lambda: games.expected_payoff(_G(), np.ones(3) / 3, np.ones(5) / 5),
        ValueError,
        r"expected_payoff: y",
    ),
    ("duality_gap of a list", lambda: games.duality_gap(_G(), [1 / 3] * 3), TypeError, r"x must be an array"),
    # the registry
    ("#17 register ''", lambda: algorithms.register("", _mwu()), ValueError, r"register: name.*''"),
    ("register 'a b'", lambda: algorithms.register("a b", _mwu()), ValueError, r"'a b'"),
    ("register 3", lambda: algorithms.register(3, _mwu()), TypeError, r"got 3"),
    # optimizers, losses and policies of loss-based rules, checked when the rule is built
    ("#17 optax.sgd(nan)", lambda: _loss_rule(optimizer=optax.sgd(float("nan"))), ValueError, r"not finite"),
    ("optax.adam(inf)", lambda: _loss_rule(optimizer=optax.adam(float("inf"))), ValueError, r"not finite"),
    (
        "#17 loss without its declared tau",
        lambda: _loss_rule(losses.Loss("nt", lambda p, *, eta, tau: losses.inpo(p, eta=eta, tau=tau), _ETA)),
        ValueError,
        r"loss nt fails.*declared hyperparameters \(eta\).*'tau'",
    ),
    (
        "#17 loss not taking its declared eta",
        lambda: _loss_rule(losses.Loss("ne", lambda p: jnp.mean(p.logp_w), _ETA)),
        ValueError,
        r"loss ne fails.*eta",
    ),
    (
        "#17 loss returning a vector",
        lambda: _loss_rule(losses.Loss("vec", lambda p, *, eta: p.logp_w * eta, _ETA)),
        ValueError,
        r"loss vec must return a real scalar.*\(1, 9\)",
    ),
    (
        "exact_log_z loss without log_z",
        lambda: _loss_rule(losses.Loss("z", lambda p, *, eta: jnp.mean(p.logp_w), _ETA, exact_log_z=True)),
        ValueError,
        r"loss z fails.*log_z",
    ),
    (
        "#17 policy log-probabilities of the wrong shape",
        lambda: _loss_rule(policy=policies.Policy("p4", lambda k: jnp.zeros(4), jax.nn.log_softmax, (1, 3))),
        ValueError,
        r"policy p4 declares shape \(C, n\) = \(1, 3\).*\(4,\)",
    ),
    (
        "policy shape an int",
        lambda: _loss_rule(policy=policies.Policy("s", lambda k: jnp.zeros(3), jax.nn.log_softmax, 3)),
        ValueError,
        r"policy s: shape must be a pair of ints \(C, n\), got 3",
    ),
    (
        "loss returning an integer",
        lambda: _loss_rule(losses.Loss("i", lambda p, *, eta: jnp.sum(p.weight > 0), _ETA)),
        ValueError,
        r"loss i must return a real scalar.*int",
    ),
    (
        "policy whose init fails",
        lambda: _loss_rule(policy=policies.Policy("bad", lambda k: k[5], jax.nn.log_softmax, (1, 3))),
        ValueError,
        r"policy bad: log_probs\(init\(key\)\) fails",
    ),
    (
        "policy for another game",
        lambda: algorithms.run(_loss_rule(policy=policies.tabular((1, 4))), _G(), steps=1),
        ValueError,
        r"policy has shape \(C, n\) = \(1, 4\), the game \(1, 3\)",
    ),
    ("policy by_name unknown", lambda: policies.by_name("lstm", _G()), ValueError, r"unknown policy 'lstm'"),
    (
        "policy by_name mlp no features",
        lambda: policies.by_name("mlp", _G()),
        ValueError,
        r"'mlp' reads .*features",
    ),
    # shared game families of the studies
    (
        "contextual_cycles n=2",
        lambda: games.library.contextual_cycles(0, 4, 2),
        ValueError,
        r"n must be >= 3, got 2",
    ),
    (
        "contextual_cycles prompts=0",
        lambda: games.library.contextual_cycles(0, 0, 3),
        ValueError,
        r"prompts.*got 0",
    ),
    (
        "contextual_cycles decay 0",
        lambda: games.library.contextual_cycles(0, 2, 3, decay=0.0),
        ValueError,
        r"decay",
    ),
    (
        "contextual_cycles decay 2",
        lambda: games.library.contextual_cycles(0, 2, 3, decay=2),
        ValueError,
        r"decay.*2",
    ),
    ("contextual_cycles key -1", lambda: games.library.contextual_cycles(-1, 2, 3), ValueError, r"key.*-1"),
    (
        "contextual_cycles paper_first 1",
        lambda: games.library.contextual_cycles(0, 2, 3, paper_first=1),
        TypeError,
        r"paper_first.*1",
    ),
    (
        "contextual_cycles_with_features d=0",
        lambda: games.library.contextual_cycles_with_features(0, 2, 3, 0),
        ValueError,
        r"d must be >= 1, got 0",
    ),
    # rule factories and wrappers: checked before the factory's cache, and at pre-flight
    (
        "predictive_rm_plus alternating=[True]",
        lambda: algorithms.predictive_rm_plus(alternating=[True]),
        TypeError,
        r"alternating must be True or False, got \[True\]",
    ),
    ("rm_plus alternating=1", lambda: algorithms.rm_plus(1), TypeError, r"alternating.*got 1$"),
    (
        "averaged a list",
        lambda: algorithms.averaged([_mwu()]),
        TypeError,
        r"averaged: .*\[UpdateRule\(mwu\)\]",
    ),
    ("wrap policy='x'", lambda: _wrapped(policy="x"), TypeError, r"policy must be a function.*'x'"),
    (
        "wrap tau=1.0",
        lambda: _wrapped(tau=1.0),
        TypeError,
        r"tau must be a function of the state or None.*1\.0",
    ),
    ("wrap accepts='all'", lambda: _wrapped(accepts="all"), ValueError, r"accepts.*'all'"),
    (
        "make_rule policy=3",
        lambda: algorithms.base.make_rule("r", None, None, hparams={}, policy=3),
        TypeError,
        r"r: policy must be a function.*3",
    ),
    (
        "wrap init returning the inner state, at pre-flight",
        lambda: algorithms.check(_wrapped(init=lambda s, game, hp: s), _G(), steps=2),
        TypeError,
        r"wrap \(w\(inpo\)\): init must return the wrapper's state.*got RegState \(the inner rule's state itself\)",
    ),
]


def _wrapped(init=None, **overrides):
    inner = algorithms.inpo()
    return algorithms.base.wrap(
        inner,
        name="w(inpo)",
        init=init or (lambda s, game, hp: algorithms.averaging.AveragedState(s, None, None)),
        step=lambda s, oracle: s._replace(inner=inner.step(s.inner, oracle)),
        **overrides,
    )


@pytest.mark.parametrize("thunk, kind, pattern", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_clear_error(thunk, kind, pattern):
    with pytest.raises(kind) as err:
        thunk()
    message = str(err.value)
    assert "\n" not in message, message  # one line
    assert re.search(pattern, message), message


# ------------------------------------------------------------------------------------------------------------
# right answers
# ------------------------------------------------------------------------------------------------------------


def test_user_metric_returning_a_python_float():  # #17
    df = _run(metrics=[("c", lambda g, x, y: 1.0)]).to_dataframe()
    assert df["value"].tolist() == [1.0, 1.0, 1.0]  # steps 0, 1, 2


def test_user_metric_matches_the_registered_one():
    trace = _run(metrics=["gap", ("mine", lambda g, x, y: games.duality_gap(g, x, y))])
    np.testing.assert_array_equal(trace.metrics["gap"], trace.metrics["mine"])
    # uniform on the cycle: row sums of P / 3 = (1.4, 1.5, 1.6) / 3, column sums the same reversed, so
    # max(A y) - min(x^T A) = (1.6/3 - 1/2) - (1.4/3 - 1/2) = 0.2 / 3
    assert float(trace.metrics["gap"][0]) == pytest.approx(0.2 / 3, abs=1e-15)


def test_to_dataframe_without_metrics():  # #17
    df = _run(metrics=()).to_dataframe()
    assert len(df) == 0
    assert {"rule", "feedback", "step", "metric", "context", "value"} <= set(df.columns)


def test_context_column_only_for_prompts():  # #17 (the vector metric is refused; an aggregate has no context)
    df = _run(metrics=["gap"]).to_dataframe()
    assert df["context"].isna().all()


def test_sweep_without_axes_records_policies():  # a sweep of one run, no axis: reshaped to ()
    trace = algorithms.sweep(_mwu(), _G(), steps=1, record_policy=np.bool_(True))
    np.testing.assert_allclose(trace.policies.x[0], np.ones(3) / 3, atol=1e-15)  # uniform start


def test_sweep_seeds_as_array_and_range():
    a = algorithms.sweep(_mwu(), _G(), steps=1, seeds=np.array([3, 4]), eta=0.5)
    b = algorithms.sweep(_mwu(), _G(), steps=1, seeds=range(3, 5), eta=0.5)
    assert a.coords["seed"].tolist() == b.coords["seed"].tolist() == [3, 4]


def test_feedback_factories_and_constructor_agree():
    assert Feedback("noisy", sigma=0.5) == games.feedback.noisy(0.5)
    assert hash(Feedback("sampled", samples=np.int64(4))) == hash(games.feedback.sampled(4))
    assert Feedback("sampled", samples=np.int64(4)).samples.__class__ is int


def test_duality_gap_right_shape_is_unchanged():
    # rock-paper-scissors at uniform: A y = 0, so the gap is 0 (a published equilibrium)
    assert float(games.duality_gap(games.rock_paper_scissors(), np.ones(3) / 3)) == 0.0


def test_register_accepts_an_identifier():
    name = "catalogue_rule"
    algorithms.register(name, _mwu())
    try:
        assert algorithms.get(name) is _mwu()
    finally:
        del algorithms.RULES[name]


def test_the_valid_loss_and_optimizer_build():
    rule = _loss_rule(optimizer=optax.adam(1e-2))  # adam's first update is -lr * sign: finite
    assert rule.name.startswith("loss_based(inpo")


# ------------------------------------------------------------------------------------------------------------
# games/ (issue 33): comparisons, bootstrap, social choice, sequence games, hypothesis strategies
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def _small_host(monkeypatch):
    """A 64 GiB host for games' own size checks (NumPy work), whatever machine runs the tests."""
    monkeypatch.setattr(games.core, "host_memory", lambda: 64 * 2**30)


def _table(**cols):
    base = {"left": ["a", "b", "c"], "right": ["b", "c", "a"], "winner": ["left", "left", "right"]}
    return pd.DataFrame({**base, **cols})


def _triangle():  # a > b, b > c, c > a once each plus a > b again: every pair observed
    return games.tally(pd.DataFrame({"left": list("abca"), "right": list("bcab"), "winner": ["left"] * 4}))


def _star():  # a-b and a-c compared, b-c never
    return games.tally(
        pd.DataFrame({"left": list("aacc"), "right": list("bbaa"), "winner": ["left", "right"] * 2})
    )


def _square():  # a > b > c > d > a
    return games.tally(pd.DataFrame({"left": list("abcd"), "right": list("bcda"), "winner": ["left"] * 4}))


def _quiet(fn, *args):  # the merge warning is tested on its own below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args)


def _statistic_then(*values):
    it = iter(values)
    return lambda game: next(it)


def _seq():
    return games.sequence_game(3, 2)


GAMES_ERRORS = [
    (
        "#33 count 1e20",
        lambda: games.tally(_table(n=["1", "1e20", "2"]), count="n"),
        ValueError,
        r"row 1 has count '1e20'.*\[0, 2\*\*53\]",
    ),
    (
        "#33 count int64 max as text",
        lambda: games.tally(_table(n=["9223372036854775807", "1", "1"]), count="n"),
        ValueError,
        r"row 0 has count '9223372036854775807'",
    ),
    (
        "#33 two counts of 2**62",
        lambda: games.tally(_table(n=[str(2**62), str(2**62), "1"]), count="n"),
        ValueError,
        r"row 0 has count '4611686018427387904'.*\[0, 2\*\*53\]",
    ),
    (
        "#33 three counts of 2**52 sum above 2**53",
        lambda: games.tally(_table(n=[str(2**52), str(2**52), str(2**52)]), count="n"),
        ValueError,
        r"sum to 1\.351e\+16 records, more than 2\*\*53",
    ),
    (
        "#33 zero-width space in a name",
        lambda: games.tally(_table(right=["b", "c", "a\u200b"])),
        ValueError,
        r"row 2 names model 'a\\u200b'.*U\+200B ZERO WIDTH SPACE",
    ),
    (
        "#33 NFC and NFD spellings compared with each other",
        lambda: _quiet(
            games.tally, pd.DataFrame({"left": ["caf\u00e9"], "right": ["cafe\u0301"], "winner": ["left"]})
        ),
        ValueError,
        r"row 0 compares model 'café' with itself",
    ),
    (
        "#33 fit of other models",
        lambda: games.from_comparisons(
            _star(), missing="bradley_terry", fit=games.bradley_terry_fit(_square())
        ),
        ValueError,
        r"fit covers 4 models, the comparisons 3 \(models absent from the fit: \[\]; models not in the "
        r"comparisons: \['d'\]\)",
    ),
    (
        "#33 fit given without missing=bradley_terry",
        lambda: games.from_comparisons(_triangle(), fit=games.bradley_terry_fit(_triangle())),
        ValueError,
        r"fit is used only with missing='bradley_terry', got missing=None",
    ),
    (
        "#33 fit not a fit",
        lambda: games.from_comparisons(_star(), missing="bradley_terry", fit={"a": 1.0}),
        TypeError,
        r"fit must be a games.BradleyTerry.*dict",
    ),
    (
        "#33 missing pairs named",
        lambda: games.from_comparisons(_star()),
        ValueError,
        r"1 of the 3 pairs were never compared \('b' vs 'c'\); say what they are with missing=",
    ),
    (
        "#33 BT tol -1",
        lambda: games.bradley_terry_fit(_triangle(), tol=-1),
        ValueError,
        r"tol must be a finite number > 0.*got -1",
    ),
    (
        "#33 BT tol nan",
        lambda: games.bradley_terry_fit(_triangle(), tol=float("nan")),
        ValueError,
        r"tol.*nan",
    ),
    ("#33 BT tol str", lambda: games.bradley_terry_fit(_triangle(), tol="1e-9"), TypeError, r"tol.*'1e-9'"),
    (
        "#33 BT max_iter 0",
        lambda: games.bradley_terry_fit(_triangle(), max_iter=0),
        ValueError,
        r"max_iter.*0",
    ),
    (
        "#33 BT max_iter 2.5",
        lambda: games.bradley_terry_fit(_triangle(), max_iter=2.5),
        TypeError,
        r"max_iter.*2\.5",
    ),
    (
        "#33 bootstrap statistic None",
        lambda: games.bootstrap(_triangle(), lambda g: None, n=2, seed=0),
        TypeError,
        r"statistic returned None \(NoneType\) on the data",
    ),
    (
        "#33 bootstrap statistic str on a resample",
        lambda: games.bootstrap(_triangle(), _statistic_then(0.5, "x", "x"), n=2, seed=0),
        TypeError,
        r"statistic returned 'x' \(str\) on resample 0",
    ),
    (
        "#33 bootstrap resample with an unobserved pair",
        lambda: games.bootstrap(_triangle(), lambda g: 0.0, n=50, seed=0),
        ValueError,
        r"bootstrap resample \d+ of 50 \(seed=0\): \d of the 3 pairs were never compared \('\w' vs '\w'",
    ),
    (
        "#33 exploitability of a non-distribution",
        lambda: games.social_choice.exploitability(games.rock_paper_scissors(), [2, -1, 0]),
        ValueError,
        r"probability vector.*got \[ 2\. -1\.  0\.\]",
    ),
    (
        "#33 exploitability of a short vector",
        lambda: games.social_choice.exploitability(games.rock_paper_scissors(), [0.5, 0.5]),
        ValueError,
        r"shape \(3,\).*got shape \(2,\)",
    ),
    (
        "#33 exploitability of True",
        lambda: games.social_choice.exploitability(games.rock_paper_scissors(), True),
        TypeError,
        r"policy.*got True",
    ),
    (
        "#33 exploitability of strings",
        lambda: games.social_choice.exploitability(games.rock_paper_scissors(), ["0.5", "0.5", "0"]),
        TypeError,
        r"policy must be a probability vector.*'0\.5'",
    ),
    ("#33 pure 1.5", lambda: games.social_choice.pure(games.rock_paper_scissors(), 1.5), TypeError, r"1\.5"),
    (
        "#33 pure True",
        lambda: games.social_choice.pure(games.rock_paper_scissors(), True),
        TypeError,
        r"True",
    ),
    (
        "#33 token_mass token 5 of 3",
        lambda: games.sequences.token_mass(np.ones(9) / 9, _seq().sequences, 5),
        ValueError,
        r"token 5 is not in the vocabulary of 3 tokens",
    ),
    (
        "#33 token_mass token -1",
        lambda: games.sequences.token_mass(np.ones(9) / 9, _seq().sequences, -1),
        ValueError,
        r"token.*>= 0, got -1",
    ),
    (
        "#33 token_mass token 1.0",
        lambda: games.sequences.token_mass(np.ones(9) / 9, _seq().sequences, 1.0),
        TypeError,
        r"token.*1\.0",
    ),
    (
        "value_range c overflowing its range",
        lambda: games.value_range(games.matrix_game(np.eye(2)), [1e308, -1e308]),
        ValueError,
        r"c's range max\(c\) - min\(c\) overflows float64: c runs from -1e\+308 to 1e\+308",
    ),
    (
        "regularized_exact short of its tolerance",
        lambda: algorithms.run(algorithms.regularized_exact(max_iter=1), _G(), steps=1, tau=1e-6),
        games.SolverError,
        r"regularized_exact\(max_iter=1\): an exact solve reached residual [0-9.]+e-01 > tol 1e-12",
    ),
    (
        "comal_exact short of its tolerance, in a sweep",
        lambda: algorithms.sweep(algorithms.comal_exact(max_iter=1), _G(), steps=2, tau=[0.1, 1e-6]),
        games.SolverError,
        r"residual [0-9.]+e-01 > tol 1e-12",
    ),
]

# sizes refused before anything is allocated (a 64 GiB host)
GAMES_SIZES = [
    (
        "#33 200,000 distinct ids",
        lambda: games.tally(
            pd.DataFrame(
                {
                    "left": [f"m{i}" for i in range(0, 200_000, 2)],
                    "right": [f"m{i}" for i in range(1, 200_000, 2)],
                    "winner": "left",
                }
            )
        ),
        r"tally: 200000 models \(4 dense \[C, n, n\] float64 arrays\) needs about 1\.2 TiB.*64\.0 GiB",
    ),
    (
        "#33 bootstrap n=10**10",
        lambda: games.bootstrap(_triangle(), lambda g: 0.0, n=10**10, seed=0),
        r"bootstrap: n=10000000000 resamples of 3 distinct records needs about 372\.5 GiB",
    ),
    (
        "#33 sequence_game embedding dim=10**6",
        lambda: games.sequence_game(3, 4, "embedding", dim=10**6),
        r"sequence_game: embedding dim=1000000 needs about 21\.8 TiB",
    ),
]


@pytest.mark.parametrize(
    "thunk, kind, pattern", [e[1:] for e in GAMES_ERRORS], ids=[e[0] for e in GAMES_ERRORS]
)
def test_games_clear_error(thunk, kind, pattern):
    test_clear_error(thunk, kind, pattern)


@pytest.mark.parametrize("thunk, pattern", [e[1:] for e in GAMES_SIZES], ids=[e[0] for e in GAMES_SIZES])
def test_games_size_refused_before_allocating(_small_host, thunk, pattern):
    test_clear_error(thunk, ValueError, pattern)


def test_games_names_equal_in_nfc_are_one_model():  # #33: 'café' composed and decomposed
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    df = pd.DataFrame({"left": [nfc, nfd], "right": ["b", "b"], "winner": ["left", "left"]})
    with pytest.warns(
        UserWarning, match=r"same text in different Unicode forms.*counted as one model, 'café'"
    ):
        c = games.tally(df)
    assert c.labels == ("b", nfc) and c.wins[0].tolist() == [[0.0, 0.0], [2.0, 0.0]]


def test_games_counts_up_to_2_53_are_exact():  # #33: two counts of 2**62 made num_records negative
    c = games.tally(_table(n=[str(2**52), str(2**52), "0"]), count="n")
    assert c.num_records == 2**53 and c.wins.sum() == 2.0**53


def test_games_fit_of_the_same_comparisons_is_used():
    star = _star()
    fitted = games.from_comparisons(star, missing="bradley_terry", fit=games.bradley_terry_fit(star))
    plain = games.from_comparisons(star, missing="bradley_terry")
    np.testing.assert_allclose(np.asarray(fitted.A), np.asarray(plain.A), rtol=0, atol=1e-15)


def test_games_exploitability_prints_rounded_floats():  # #33: 0.30000000000000004 was printed
    g = games.preference_game(
        np.array([[0.5, 0.8, 0.1], [0.2, 0.5, 0.6], [0.9, 0.4, 0.5]]), labels=tuple("abc")
    )
    e = games.social_choice.exploitability(g, [0.3, 0.3, 0.4])
    # x^T P by column: a 0.57, b 0.55, c 0.3 * 0.1 + 0.3 * 0.6 + 0.4 * 0.5 = 0.41 (the worst: c), gap 1 - 2 w
    assert type(e.worst_case_win_rate) is float and e.worst_case_win_rate == pytest.approx(0.41, abs=1e-15)
    assert e.gap == pytest.approx(0.18, abs=1e-15)
    assert repr(e) == str(e) == "Exploitability(worst_case_win_rate=0.41, gap=0.18, best_response='c')"


def test_games_pure_takes_numpy_integers():
    np.testing.assert_array_equal(
        games.social_choice.pure(games.rock_paper_scissors(), np.int64(1)), [0, 1, 0]
    )


def test_games_token_mass_of_a_token_in_the_vocabulary():
    space = _seq().sequences  # 9 sequences of 2 tokens from 3: under the uniform policy each token fills 1/3
    assert float(games.sequences.token_mass(np.ones(9) / 9, space, 2)) == pytest.approx(1 / 3, abs=1e-15)


def test_games_exploitability_of_a_float32_policy():  # sums to 1 only to float32 precision: accepted
    x = np.array([0.1, 0.2, 0.7], np.float32)
    e = games.social_choice.exploitability(games.rock_paper_scissors(), x)
    # a preference game: the worst-case win rate is min_j (x^T P)_j = 1/2 + min_j (x^T A)_j
    A = np.asarray(games.rock_paper_scissors().A)
    assert e.worst_case_win_rate == pytest.approx(0.5 + float((x.astype(np.float64) @ A).min()), abs=1e-7)


def test_games_value_range_of_huge_coefficients():  # HiGHS failed (status 15) on c ~ 1e300: c is scaled first
    # duplicated_response's equilibria put mass 4s/11 on action 0, s in [0, 1] (its docstring; a game with many
    # equilibria, so the face LPs run): c^T x ranges over [0, 4e300/11]; the LP's point is certified to 1e-9
    lo, hi = games.value_range(games.duplicated_response(), [1e300, 0.0, 0.0, 0.0])
    assert abs(lo) <= 1e-9 * 1e300 and hi == pytest.approx(4e300 / 11, rel=1e-9)
