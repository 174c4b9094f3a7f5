"""``python -m experiments <study> [flags]``: run any study (``python -m experiments`` lists them).

Every study is a declaration on :mod:`experiments.common.study`; ``python -m experiments.<study>`` works too.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from .common import cli


def studies() -> dict[str, str]:
    """``name -> one-line description`` of every study module (one that declares ``STUDY_DECL``)."""
    import experiments

    found = {}
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.ispkg or info.name.startswith("_"):
            continue
        decl = getattr(importlib.import_module(f"experiments.{info.name}"), "STUDY_DECL", None)
        if decl is not None:
            found[decl.name] = decl.description
    return found


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    known = studies()
    if not argv or argv[0] in ("-h", "--help", "--list"):
        width = max(map(len, known), default=0)
        print("usage: python -m experiments <study> [flags]   (python -m experiments <study> --help)\n")
        print("\n".join(f"  {k.ljust(width)}  {v}" for k, v in known.items()))
        return 0
    name = argv[0]
    if name not in known:
        print(
            f"python -m experiments: error: unknown study {name!r}; valid: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(f"experiments.{name}")
    return cli.entry(lambda: module.main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
