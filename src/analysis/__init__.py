"""Analysis of finished runs: the compare table (table.py), the statistics of a comparison (stats.py),
its verdicts (verdict.py) and a run's metric by input length (lengths.py). Nothing here trains."""
