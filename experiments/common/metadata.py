"""``metadata.json``: written by :mod:`experiments.common.output` (this name stays for its importers)."""

from .output import metadata, write_metadata  # noqa: F401
