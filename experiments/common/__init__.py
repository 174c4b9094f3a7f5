"""What every study shares, one module per concern: :mod:`~experiments.common.study` (the shell a study
declares itself on), ``flags``, ``checks`` and ``cli`` (the command line), ``gamespec`` and ``rules`` (games
and hyperparameters), ``output`` (the result folder, ``metadata.json``), ``progress`` (the worker pool),
``tables``, ``results`` and ``figures`` (what is reported), ``compare`` and ``leaderboard`` (the suite's paired
comparisons).

Output conventions (each study writes to ``results/<study>/``, ``results/<study>-quick/`` with ``--quick``,
unless ``--out`` says otherwise):

* ``trace.csv`` — tidy/long, one row per (run, recorded step, metric): ``experiment, game, rule``, one numeric
  column per hyperparameter (``start_noise`` included; empty where a rule has no such hyperparameter),
  ``seed, step, oracle_calls, comparisons, finite, metric, value``;
* ``policies.csv`` (studies that record policies) — ``..., step, player, [prompt,] action, probability``;
* ``metadata.json`` — the command, rules, hyperparameters, seed, dtype, steps, record interval, game (name and
  arguments, or file and sha256), package version, git revision and dirty flag, devices, wall time per rule;
* figures as PNG (and PDF for the main figure); a printed summary table.

A run writes into a fresh sibling folder (``.<out>.tmp-<pid>-<random>``) and swaps it into place at the end
(an atomic ``renameat2(RENAME_EXCHANGE)`` on Linux, two renames elsewhere), so an interrupted run leaves the
previous complete folder and no temporary files, and two concurrent runs leave one complete folder.

Every command-line error is one line on stderr and exit code 2, raised before any computation.
"""
