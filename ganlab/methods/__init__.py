"""Training methods, by the name a recipe gives in ``method:``.

A method is one module: a ``Method`` subclass (``AdversarialMethod`` for GANs) with its networks, objective,
update schedule and ``capabilities``. It is registered by adding its class to ``METHODS`` below. The
adversarial losses are a table of their own (``losses.LOSSES``); ``lsgan`` is kept as a method name for the GAN
with the least-squares loss.
"""
from __future__ import annotations

from ganlab.methods.adversarial import AdversarialMethod
from ganlab.methods.base import (
    Batch,
    Capabilities,
    ConditionSpec,
    DataInfo,
    LatentPrior,
    Method,
)
from ganlab.methods.bigan import BiGAN
from ganlab.methods.cgan import ACGAN, ConditionalGAN
from ganlab.methods.gan import GAN
from ganlab.methods.infogan import InfoGAN
from ganlab.methods.lsgan import LSGAN
from ganlab.methods.msggan import MSGGAN
from ganlab.methods.vae import VAE

METHODS: dict[str, type[Method]] = {
    m.name: m for m in (GAN, LSGAN, ConditionalGAN, ACGAN, InfoGAN, BiGAN, VAE, MSGGAN)
}

__all__ = ["METHODS", "AdversarialMethod", "Batch", "Capabilities", "ConditionSpec", "DataInfo", "LatentPrior",
           "Method", "build_method"]


def build_method(cfg, data_info: DataInfo, device) -> Method:
    return METHODS[cfg.method](cfg, data_info, device)
