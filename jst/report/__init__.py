"""What reads ``results/`` and ``benchmarks/results/``: one typed reader of run records, the tables, the
verdicts, the literature's values, performance figures and plots the book shows."""
