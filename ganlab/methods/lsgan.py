"""``method: lsgan``, kept as a name: the GAN trained with the least-squares loss (``objective.loss: lsgan``).

Least squares is an entry of the loss table (``ganlab.methods.losses``), so every adversarial method can use it
(a conditional LSGAN is ``method: cgan`` with ``objective.loss: lsgan``). Runs and recipes that name the method
``lsgan`` keep working: this class is the GAN with that loss, whatever ``objective.loss`` says (its default,
bce, or lsgan itself).
"""
from __future__ import annotations

from ganlab.errors import ConfigError
from ganlab.methods.gan import GAN


class LSGAN(GAN):
    name = "lsgan"
    description = "the GAN with objective.loss=lsgan (least squares: D regresses real to 1, fake to 0)"

    @classmethod
    def loss_name(cls, cfg) -> str:
        return "lsgan"

    @classmethod
    def validate(cls, cfg):
        if cfg.objective.loss not in ("bce", "lsgan"):
            raise ConfigError(f"objective.loss={cfg.objective.loss} with method=lsgan: LSGAN brings its own "
                              "least-squares loss; leave objective.loss at its default (bce) or use method=gan "
                              f"with objective.loss={cfg.objective.loss}")
        super().validate(cfg)


__all__ = ["LSGAN"]
