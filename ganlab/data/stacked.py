"""Stacked MNIST: three digit images stacked as the R, G and B channels of one image, so a
generator must cover 10^3 = 1,000 modes (digit triples). Used for mode-collapse studies with
``ganlab eval --metrics stacked_modes``."""
from __future__ import annotations

import torch

from ganlab.errors import DataError

from .dataset import Attribute, Dataset


def stack_digits(base: Dataset, n: int | None = None, seed: int = 0) -> Dataset:
    """``n`` (default: as many as ``base``) RGB images whose channels are three random grey digits of ``base``.

    ``base`` must be a grey data set with a "digit" attribute (MNIST, digits). The attribute "mode"
    holds 100 * d_R + 10 * d_G + d_B."""
    if base.kind != "images" or base.data.shape[1] != 1:
        raise DataError(f"stacked MNIST needs grey digit images; {base.name} has shape {tuple(base.data.shape[1:])}")
    if "digit" not in base.attributes:
        raise DataError(f"stacked MNIST needs the 'digit' labels; {base.name} has: {', '.join(base.attributes) or 'none'}")
    n = len(base) if n is None else n
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(base), (n, 3), generator=g)
    data = base.data[idx, 0]  # [n, 3, H, W]
    d = base.attributes["digit"].codes[idx]  # [n, 3]
    mode = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
    attrs = {"mode": Attribute("mode", [f"{i:03d}" for i in range(1000)], mode)}
    for c, name in enumerate(("digit_r", "digit_g", "digit_b")):
        attrs[name] = Attribute(name, [str(i) for i in range(10)], d[:, c].clone())
    return Dataset(data.contiguous(), "images", attrs, [str(i) for i in range(n)], f"stacked:{base.name}")
