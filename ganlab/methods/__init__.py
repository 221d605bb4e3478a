"""Training methods, by the name a recipe gives in ``method:``."""
from __future__ import annotations

from ganlab.methods.base import AdversarialMethod, Batch, DataInfo, Method
from ganlab.methods.gan import GAN

METHODS: dict[str, type[Method]] = {m.name: m for m in (GAN,)}

__all__ = ["METHODS", "Method", "AdversarialMethod", "Batch", "DataInfo", "build_method"]


def build_method(cfg, info: DataInfo, device) -> Method:
    return METHODS[cfg.method](cfg, info, device)
