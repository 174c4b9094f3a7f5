"""The one worker pool of the studies (their progress bar: :func:`algorithms.progress.progress_bar`)."""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable, Hashable, Sequence

from .cli import checkpoint

#: What a worker process sets when it has one core of its own: XLA's CPU thread pools of one thread.
ONE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
#: How long the parent waits for a unit before it looks for a deferred Ctrl-C again (seconds).
WAIT_S = 0.2


def _worker_init(one_thread: bool) -> None:
    """A worker ignores Ctrl-C and SIGTERM (the parent decides, and kills it) and, on Linux, is killed by the
    kernel when its parent dies for any reason (SIGKILL, the OOM killer: ``prctl(PR_SET_PDEATHSIG)``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the worker ends when the pool's pipe closes
        pass
    if one_thread:  # before JAX starts its backend in this process (it does at the first computation)
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {ONE_THREAD_XLA_FLAGS}".strip()


def run_all(jobs: int, tasks: Sequence[tuple[Hashable, Callable, tuple]], on_done: Callable) -> None:
    """Run every ``(key, fn, args)`` of ``tasks`` (with ``jobs > 1`` on spawned workers, longest task first),
    calling ``on_done(key, fn(*args))`` here as each one ends; raises ``ValueError`` for a bad ``jobs``. On an
    interrupt or error the workers are killed (the result folder is swapped in whole or not at all). With at
    most one core per worker, XLA runs on one thread: two workers with core-sized thread pools on two cores
    were a third slower (the suite's ``--quick``: 76 s against 48 s)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if jobs == 1:
        for key, fn, args in tasks:
            on_done(key, fn(*args))
            checkpoint()
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    one_thread = (os.cpu_count() or 1) // jobs <= 1
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init, initargs=(one_thread,))
    try:
        futures = {pool.submit(fn, *args): key for key, fn, args in tasks}
        pending = set(futures)
        while pending:  # short waits, so that a deferred Ctrl-C takes effect while long units run
            done, pending = wait(pending, timeout=WAIT_S, return_when=FIRST_COMPLETED)
            for fut in done:
                on_done(futures[fut], fut.result())
            checkpoint()
    except BaseException:
        # the running units' results would be discarded: SIGKILL them now (they ignore SIGTERM) and reap them
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        for proc in procs:
            proc.join(timeout=5)
        raise
    pool.shutdown(wait=True)
