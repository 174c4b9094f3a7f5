"""The one progress bar of the library and the studies: tqdm on stderr, shown on a terminal only.

``sweep``'s chunks, the conformance kit's checks and every study's units report through
:func:`progress_bar`. Progress only reports: results never depend on it, and a bar that is not shown is a
disabled one (callers need no ``if bar is not None``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["progress_bar"]


def progress_bar(
    total: int,
    desc: str,
    show: bool | None = None,
    unit: str = "run",
    on_update: Callable[[], None] | None = None,
):
    """A tqdm bar on stderr (what runs, done/total, elapsed, ETA), disabled unless shown.

    Args:
        show: ``None``: only when stderr is a terminal; ``True``/``False``: always / never.
        on_update: called at every ``update`` (shown or not), before the count moves: where a study's deferred
            Ctrl-C takes effect (``experiments.common.cli.checkpoint``).

    A terminal that reports no size (a bare pty) gets a 100 x 20 bar.
    """
    on = sys.stderr.isatty() if show is None else bool(show)
    try:
        width, height = os.get_terminal_size(sys.stderr.fileno()) if on else (0, 0)
    except (OSError, ValueError):  # not a terminal, or no file number (a captured stream)
        width, height = 0, 0
    from tqdm.auto import tqdm

    class Bar(tqdm):
        def update(self, n=1):
            if on_update is not None:
                on_update()
            return super().update(n)

    return Bar(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not on,
        ncols=None if width else 100,
        nrows=None if height else 20,
        dynamic_ncols=bool(width),
        leave=False,
    )
