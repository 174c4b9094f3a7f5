"""Shape evaluations cached by what they depend on: the pre-flight of ``run`` and ``sweep`` traces nothing twice.

The pre-flight (:func:`algorithms.check`) evaluates a few functions abstractly (``jax.eval_shape``): the state's
shapes for the memory estimate, a user metric's output, a schedule written into the state. Their answers depend
on the rule, the game's *shapes* (its pytree structure, every leaf's shape and dtype, its static flags) and a
few static options, never on the numbers. :func:`cached` keys them so: a second call with new values, a new
seed or another game of the same shapes reads the answer from the cache instead of tracing again (what
``jax.jit`` does for the simulation itself).

A key that cannot be hashed (a user's rule holding a list) is not cached: the evaluation simply runs each time.
Errors are never cached: a failing evaluation fails again on the next call, with the same message.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable

import jax
import numpy as np

__all__ = ["signature", "cached", "MAXSIZE"]

#: Entries kept per cached function (least recently used dropped first).
MAXSIZE = 512


def _leaf(leaf):
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        return (tuple(leaf.shape), np.dtype(leaf.dtype))
    if isinstance(leaf, (bool, int, float, complex, np.generic)):
        return (type(leaf),)  # a Python or NumPy number: its value does not change a shape
    return leaf  # anything else (a function in a static pytree) by itself


def signature(tree) -> tuple:
    """What a shape evaluation of ``tree`` depends on: its pytree structure (static fields included) and each
    leaf's shape and dtype (for a number, its type)."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple(_leaf(l) for l in leaves)


def cached(key: Callable[..., tuple]) -> Callable:
    """Cache a function's results under ``key(*args, **kwargs)`` (LRU, :data:`MAXSIZE` entries).

    Example:
        >>> from algorithms.shapes import cached, signature
        >>> @cached(lambda rule, game: (rule, signature(game)))
        ... def num_leaves(rule, game):
        ...     return len(jax.tree.leaves(jax.eval_shape(lambda: rule.init(game))))
        >>> num_leaves(algorithms.mwu(), games.comal_cycle()), num_leaves.cache_size()
        (2, 1)
    """

    def wrap(fn):
        store: OrderedDict = OrderedDict()

        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                k = key(*args, **kwargs)
                hit = store.get(k, store)
            except TypeError:  # unhashable: evaluate every time
                return fn(*args, **kwargs)
            if hit is not store:
                store.move_to_end(k)
                return hit
            out = fn(*args, **kwargs)
            store[k] = out
            if len(store) > MAXSIZE:
                store.popitem(last=False)
            return out

        call.cache_clear = store.clear
        call.cache_size = lambda: len(store)
        return call

    return wrap


@cached(lambda rule, game, self_play: (rule, signature(game), bool(self_play)))
def state_shapes(rule, game, self_play: bool):
    """The shapes and dtypes of ``rule.init(game, key, self_play=self_play)`` (``jax.eval_shape``: nothing is
    computed or allocated), cached per rule, game shapes and ``self_play``."""
    key = jax.ShapeDtypeStruct((2,), np.uint32)
    return jax.eval_shape(lambda k: rule.init(game, k, self_play=self_play), key)
