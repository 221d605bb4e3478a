"""Data sets for ganlab: image folders, tagged images (CSV), CelebA, MNIST-style idx files, scikit-learn's
digits and 2-D toy mixtures, decoded once to uint8 tensors and cached on disk.

    from ganlab.data import load_dataset, to_float
    ds = load_dataset(cfg.data)          # Dataset: .data, .kind, .attributes, .files, .name
    x = to_float(ds.data[:64], "tanh")   # float in [-1, 1] for a tanh generator
"""

from .dataset import Attribute, Dataset
from .loader import load_dataset
from .scaling import from_float, from_unit, to_float
from .sources import detect_format

__all__ = ["Attribute", "Dataset", "load_dataset", "detect_format", "to_float", "from_float", "from_unit"]
