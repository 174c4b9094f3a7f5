"""Progress bars (tqdm, only on a terminal) and wall-time per unit of work."""

from __future__ import annotations

import contextlib
import os
import sys
import time

from .cli import checkpoint


def progress(args, total: int, desc: str, unit: str):
    """An overall tqdm bar on stderr (what runs, done/total, elapsed, ETA); silent when stderr is not a
    terminal or with ``--quiet``. Only reports: results never depend on it."""

    on = not args.quiet and sys.stderr.isatty()
    try:
        width, height = os.get_terminal_size(sys.stderr.fileno()) if on else (0, 0)
    except OSError:
        width, height = 0, 0
    return _Bar(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not on,
        ncols=None if width else 100,  # a terminal that reports no size (a bare pty) gets 100 x 20
        nrows=None if height else 20,
        dynamic_ncols=bool(width),
        leave=False,
    )


def _bar_class():
    from tqdm.auto import tqdm

    class Bar(tqdm):
        """A tqdm bar whose ``update`` is also where a deferred Ctrl-C takes effect (see :func:`entry`)."""

        def update(self, n=1):
            checkpoint()
            return super().update(n)

    return Bar


def _Bar(**kw):
    return _bar_class()(**kw)


class Timer:
    """Wall time per named unit of work (for metadata.json)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        tic = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - tic, 4)
