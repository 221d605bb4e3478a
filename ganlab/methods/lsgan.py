"""LSGAN (Mao et al., 2017): the GAN with least-squares losses instead of the cross-entropy.

D regresses real inputs to 1 and generated ones to 0; G pulls D's output on its samples to 1:

    L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]        L_G = 1/2 E[(D(G(z)) - 1)^2]

Everything else (networks, update schedule, EMA, DiffAugment, instance noise) is the GAN's: only the three
scoring hooks of ``AdversarialMethod`` change. This module is also the worked example of adding a method.
"""
from __future__ import annotations

from ganlab.errors import ConfigError
from ganlab.methods.gan import GAN


class LSGAN(GAN):
    name = "lsgan"
    description = "least-squares GAN: D regresses real to 1 and fake to 0, G pulls D(G(z)) to 1"

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        if cfg.objective.loss != "bce":
            raise ConfigError(f"objective.loss={cfg.objective.loss} with method=lsgan: LSGAN brings its own "
                              "least-squares loss; leave objective.loss at its default (bce)")
        used = [k for k in ("real_label", "fake_label", "label_noise_beta") if getattr(cfg.tricks, k) is not None]
        if used:
            raise ConfigError(f"tricks.{used[0]} with method=lsgan: LSGAN's targets are fixed at 1 and 0")

    def adv_d_loss(self, real_logits, fake_logits):
        real, fake = real_logits.float(), fake_logits.float()
        loss = 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
        return loss, {"d_real": real.detach().mean(), "d_fake": fake.detach().mean()}

    def fake_term(self, logits):
        return 0.5 * (logits.float() ** 2).mean()

    def adv_g_loss(self, fake_logits):
        return 0.5 * ((fake_logits.float() - 1) ** 2).mean()


__all__ = ["LSGAN"]
