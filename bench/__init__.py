"""Engine vs PyTorch CPU timings, printed as ratios (engine time / torch time).

Run ``python -m bench [scalar|mlp|all] [--quick]``; BENCHMARKS.md records the results.
"""
