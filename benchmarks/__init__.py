"""Speed and quality benchmarks: `python -m benchmarks.speed`. Figures are measured side by side in
one run (these machines are shared and noisy: compare ratios, not absolute seconds)."""
