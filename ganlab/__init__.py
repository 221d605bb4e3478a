"""ganlab: train, compare, evaluate and explore GANs on image datasets."""
__version__ = "0.1.0"


def load(run, checkpoint=None, device="cpu"):
    """Load the generator of a run folder: ``ganlab.load("runs/x").sample(16, seed=0)``."""
    from ganlab.generator import load as _load
    return _load(run, checkpoint, device)


__all__ = ["load", "__version__"]
