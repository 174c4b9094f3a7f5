"""What every study shares, one module per concern: ``study`` (the shell a study declares itself on), ``flags``,
``checks`` and ``cli`` (the command line, the rules' hyperparameters), ``gamespec`` (games), ``output``
(the result folder, ``metadata.json``), ``progress`` (workers), ``tables``, ``results`` and ``figures`` (what is
reported), ``compare`` and ``leaderboard`` (the suite's paired comparisons).

Each study writes ``results/<study>[-quick]/`` (or ``--out``): ``trace.csv`` (tidy: one row per run, recorded
step and metric, one column per hyperparameter), ``policies.csv`` where it records policies, ``metadata.json``
(command, rules, hyperparameters, seed, dtype, game, version, git revision, wall times), figures and a printed
summary. The folder is written as a fresh sibling and swapped in at the end (``renameat2(RENAME_EXCHANGE)`` on
Linux), so an interrupted run leaves the previous complete folder. Every command-line error is one line on
stderr and exit code 2, raised before any computation.
"""
