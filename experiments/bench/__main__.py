"""``python -m experiments.bench``: the main benchmark, :mod:`experiments.bench.rules`."""

import sys

from ..common import cli
from .rules import main

if __name__ == "__main__":
    sys.exit(cli.entry(main))
