"""What reads ``results/`` and ``benchmarks/results/``: one typed reader of run records (``records``) and the
tables, verdicts, literature values, performance figures and plots the book shows.

One module per concern: ``comparisons`` (a comparison folder as a table, JST's standing), ``verdicts`` (the
one decision rule), ``ablations``, ``claims``, ``literature`` (published figures beside ours), ``prose``
(the values the notes quote), ``style`` (how a table is shown), ``progress`` (the grid's status and compute),
``training`` (schedules, the learning-rate probe), ``policy_drift``, ``sparsity_reach``, ``sensitivity``,
``hardware``, ``performance`` (the benchmarks) and ``plots``."""
