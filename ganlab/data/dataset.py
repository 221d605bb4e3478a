"""The data set every loader returns (in memory, or memory-mapped from the cache when it is too large)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from ganlab.errors import DataError


@dataclass
class Attribute:
    """One categorical label per item: ``codes[i]`` indexes ``values``."""

    name: str
    values: list[str]
    codes: torch.Tensor  # int64 [N]

    def __post_init__(self):
        if not isinstance(self.codes, torch.Tensor) or self.codes.dtype != torch.int64 or self.codes.dim() != 1:
            raise DataError(f"attribute '{self.name}': codes must be an int64 tensor of shape [N]")
        if len(self.codes) and (int(self.codes.min()) < 0 or int(self.codes.max()) >= len(self.values)):
            raise DataError(f"attribute '{self.name}': codes must lie in 0..{len(self.values) - 1}")


@dataclass
class Dataset:
    """Images (uint8 [N, C, H, W]) or 2-D points (float32 [N, 2]) with their labels.

    ``mapped``: ``data`` is a read-only memory map of the cache file (see ``data.loading``): index it for the rows
    needed (``data[idx]`` reads only those) and never write into it. ``loading_reason`` says why the set is
    mapped or held in memory, for the run's log.
    """

    data: torch.Tensor
    kind: str  # "images" or "points"
    attributes: dict[str, Attribute] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    name: str = ""
    modes: Optional[torch.Tensor] = None  # points only: mixture means [K, 2]
    mode_std: Optional[float] = None  # points only
    mapped: bool = False
    loading_reason: str = ""

    def __post_init__(self):
        if self.kind not in ("images", "points"):
            raise DataError(f"Dataset.kind: {self.kind!r} is not allowed; choose images or points")
        n = len(self.data)
        for a in self.attributes.values():
            if len(a.codes) != n:
                raise DataError(f"attribute '{a.name}' has {len(a.codes)} codes for {n} items")
        if self.files and len(self.files) != n:
            raise DataError(f"{len(self.files)} file names for {n} items")

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def image_shape(self) -> tuple:
        """(C, H, W) for images, (2,) for points."""
        return tuple(self.data.shape[1:])
