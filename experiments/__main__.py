"""``python -m experiments <study> [flags]``: run any study (``python -m experiments`` lists them); every study
is a declaration on :mod:`experiments.common.study`, and ``python -m experiments.<study>`` works too."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from .common import cli


def studies() -> dict[str, str]:
    """``name -> one-line description`` of every study module (one that declares ``STUDY_DECL``)."""
    import experiments

    names = [
        m.name for m in pkgutil.iter_modules(experiments.__path__) if not (m.ispkg or m.name.startswith("_"))
    ]
    decls = [getattr(importlib.import_module(f"experiments.{name}"), "STUDY_DECL", None) for name in names]
    return {d.name: d.description for d in decls if d is not None}


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
        valid = ", ".join(known)
        print(f"python -m experiments: error: unknown study {name!r}; valid: {valid}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"experiments.{name}")
    return cli.entry(lambda: module.main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
