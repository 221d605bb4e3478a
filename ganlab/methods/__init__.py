"""Training methods, by the name a recipe gives in ``method:``."""
from __future__ import annotations

from ganlab.methods.base import AdversarialMethod, Batch, DataInfo, Method
from ganlab.methods.bigan import BiGAN
from ganlab.methods.cgan import ACGAN, ConditionalGAN
from ganlab.methods.gan import GAN
from ganlab.methods.infogan import InfoGAN
from ganlab.methods.msggan import MSGGAN
from ganlab.methods.vae import VAE

METHODS: dict[str, type[Method]] = {m.name: m for m in (GAN, ConditionalGAN, ACGAN, InfoGAN, BiGAN, VAE, MSGGAN)}

__all__ = ["METHODS", "AdversarialMethod", "Batch", "DataInfo", "Method", "build_method"]


def build_method(cfg, info: DataInfo, device) -> Method:
    return METHODS[cfg.method](cfg, info, device)
