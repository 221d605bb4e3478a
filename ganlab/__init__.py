"""ganlab: train, compare, evaluate and explore GANs on image datasets.

    import ganlab
    g = ganlab.load("runs/x")                 # a trained run
    images = g.sample(16, seed=0)
    rows = ganlab.evaluate("runs/x", metrics=["swd"], n=1000)
"""
__version__ = "0.1.0"


def load(run, checkpoint=None, device="cpu"):
    """Load the generator of a run folder: ``ganlab.load("runs/x").sample(16, seed=0)``."""
    from ganlab.runs.trained import load as _load
    return _load(run, checkpoint, device)


def evaluate(run, checkpoint=None, device="cpu", **options):
    """Metrics of a run folder's samples against real data (``ganlab eval RUN``); options as
    ``ganlab.eval.evaluate``. Appends the rows to RUN/eval.jsonl and returns them."""
    from ganlab.eval import evaluate as _evaluate
    return _evaluate(load(run, checkpoint, device), device=device, **options)


__all__ = ["load", "evaluate", "__version__"]
