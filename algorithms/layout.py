"""The layout of a batch of tiny games: sums over actions written out term by term, owned by the simulation.

``sweep`` on games of at most :data:`WRITTEN_OUT_MAX_N` actions runs each step with the batch on the **last**
axis (``vmap(in_axes=-1)``). XLA:CPU reduces over a size-3 axis element by element, while the same sum written
out (``a[0] + a[1] + a[2]``) is a few element-wise operations on rows of ``B`` contiguous runs. :func:`written_out`
does that rewrite on a function, not on the code it calls: it traces the function for one run (a jaxpr), then
evaluates it with every sum, maximum and minimum over an axis of at most ``max_n`` entries, and every matrix
product contracting such an axis, replaced by its terms, added (or compared) in index order. The rules, the
feedback models and the metrics are written once, plainly; nothing in :mod:`games` is switched.

The terms are added in the order XLA adds them for the plain forms, so the results agree with them to
round-off (a matrix product may round differently): ``tests/test_fastpath.py`` bounds the difference for every
registered rule. Loops inside a step (``scan``, ``while_loop``, ``cond``: COMAL's inner steps) are rewritten
too; calls of jitted functions and custom derivatives are inlined.
"""

from __future__ import annotations

import functools
import operator

import jax
from jax import lax
from jax.extend import core

__all__ = ["written_out", "WRITTEN_OUT_MAX_N"]

#: Largest axis whose sums are written out (and the largest action count of ``sweep``'s fast path).
WRITTEN_OUT_MAX_N = 8


def written_out(fn, max_n: int = WRITTEN_OUT_MAX_N):
    """``fn`` with its sums, maxima, minima and matrix products over axes of at most ``max_n`` entries written
    out term by term (the result is the same function, to round-off). Meant to be ``vmap``-ped with the batch
    on the last axis: ``jax.vmap(written_out(step), in_axes=-1, out_axes=-1)``.

    Example:
        >>> x = jnp.array([0.0, 1.0, 2.0])
        >>> f = algorithms.layout.written_out(jax.nn.log_softmax)   # x - max - log(exp(x0 - max) + ...)
        >>> bool(jnp.allclose(f(x), jax.nn.log_softmax(x), rtol=1e-15, atol=1e-15))
        True
    """

    @functools.wraps(fn)
    def call(*args, **kwargs):
        closed, shape = jax.make_jaxpr(functools.partial(fn, **kwargs), return_shape=True)(*args)
        out = _eval(closed.jaxpr, closed.consts, max_n, *jax.tree.leaves(args))
        return jax.tree.unflatten(jax.tree.structure(shape), out)

    return call


def _terms(x, axis: int) -> list:
    return [lax.index_in_dim(x, i, axis, keepdims=False) for i in range(x.shape[axis])]


def _reduce(op, x, axes, max_n):
    if len(axes) != 1 or x.shape[axes[0]] > max_n:  # one axis: a sum over actions (a total is left to XLA)
        return None
    return functools.reduce(op, _terms(x, axes[0]))


def _dot(lhs, rhs, dimension_numbers, preferred_element_type, max_n):
    (lc, rc), (lb, rb) = dimension_numbers
    if len(lc) != 1 or lhs.shape[lc[0]] > max_n:
        return None
    lfree = [d for d in range(lhs.ndim) if d not in (*lc, *lb)]
    rfree = [d for d in range(rhs.ndim) if d not in (*rc, *rb)]
    nb = len(lb)
    L = lax.transpose(lhs, (*lb, *lfree, *lc))
    L = lax.expand_dims(L, tuple(range(nb + len(lfree), nb + len(lfree) + len(rfree))))
    R = lax.transpose(rhs, (*rb, *rfree, *rc))
    R = lax.expand_dims(R, tuple(range(nb, nb + len(lfree))))
    out = functools.reduce(operator.add, [a * b for a, b in zip(_terms(L, -1), _terms(R, -1))])
    return out if preferred_element_type is None else out.astype(preferred_element_type)


def _closed(closed, max_n):
    """A closed jaxpr (a loop's body, a branch) with the same rewrite."""
    avals = [
        jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype, weak_type=v.aval.weak_type)
        for v in closed.jaxpr.invars
    ]
    return jax.make_jaxpr(lambda *a: _eval(closed.jaxpr, closed.consts, max_n, *a))(*avals)


_REDUCERS = {"reduce_sum": operator.add, "reduce_max": lax.max, "reduce_min": lax.min}
_INLINED = {
    "pjit": "jaxpr",
    "jit": "jaxpr",
    "closed_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
    "remat": "jaxpr",
}
_LOOPS = {"scan": ("jaxpr",), "while": ("cond_jaxpr", "body_jaxpr"), "cond": ("branches",)}


def _eval(jaxpr, consts, max_n, *args):
    env = {}

    def read(v):
        return v.val if isinstance(v, core.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    for eqn in jaxpr.eqns:
        invals, name, params = [read(v) for v in eqn.invars], eqn.primitive.name, eqn.params
        out = None
        if name in _REDUCERS:
            out = _reduce(_REDUCERS[name], invals[0], tuple(params["axes"]), max_n)
        elif name == "dot_general":
            out = _dot(*invals, params["dimension_numbers"], params.get("preferred_element_type"), max_n)
        elif name in _INLINED and _INLINED[name] in params:
            inner = params[_INLINED[name]]
            inner = inner if isinstance(inner, core.ClosedJaxpr) else core.ClosedJaxpr(inner, ())
            out = _eval(inner.jaxpr, inner.consts, max_n, *invals)
        elif name in _LOOPS:
            params = dict(params)
            for p in _LOOPS[name]:
                v = params[p]
                params[p] = tuple(_closed(b, max_n) for b in v) if isinstance(v, tuple) else _closed(v, max_n)
        if out is None:
            out = eqn.primitive.bind(*invals, **params)
        if not eqn.primitive.multiple_results and not isinstance(out, list):
            out = [out]
        for v, x in zip(eqn.outvars, out):
            if not isinstance(v, core.DropVar):
                env[v] = x
    return [read(v) for v in jaxpr.outvars]
