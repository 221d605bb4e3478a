"""Evaluation, in one package:

- ``metrics/``: one module per metric (the computation and its registration in ``metrics/registry.py``: name,
  rows, direction, needs);
- ``features/``: the feature extractors the metrics use (Inception from local weights, a domain classifier);
- ``run``: ``evaluate`` (a loaded run or a folder of images against real data) and ``compute`` (rows for
  tensors), with the cache of real features;
- ``during_training``: the hook the training loop calls every ``eval.every`` epochs (``best.pt``).
"""
from ganlab.eval.run import compute, evaluate

__all__ = ["compute", "evaluate"]
