"""The adversarial losses, one table entry each (``objective.loss`` names one).

An entry gives D's term and G's term, each from D's logits on real and on generated inputs, the term for
inputs D should call fake (a conditional D's mismatched pairs), the statistics logged for D, and what the loss
cannot be combined with. Every adversarial method scores through the entry its config names, so a new loss is
one ``register_loss`` call here and works for every method (conditional, InfoGAN, MSG-GAN...):

- ``bce``: the non-saturating GAN (binary cross-entropy on logits; G maximises log D(G(z))); the only loss with
  targets that soft and noisy labels (``tricks.real_label``...) can change;
- ``wgan``: a Wasserstein critic kept Lipschitz by weight clipping (``objective.clip``, default 0.01);
- ``wgan-gp``: a Wasserstein critic with the gradient penalty on interpolates (``objective.gp_lambda``, 10);
- ``hinge``: max(0, 1 - D(x)) + max(0, 1 + D(G(z))) for D, -D(G(z)) for G;
- ``lsgan``: least squares (Mao et al. 2017): D regresses real to 1 and fake to 0, G pulls D(G(z)) to 1;
- ``ragan``: relativistic average (Jolicoeur-Martineau 2018): D says how much more real a real input is than
  the average fake (and the reverse), and G's term needs D's logits on real inputs too.

Every function works on float32 logits and never syncs with the host.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ganlab.errors import ConfigError


@dataclass(frozen=True)
class Loss:
    """One adversarial loss.

    - ``d_term(real, fake, real_target, fake_target)``: D's loss; the targets are None unless ``targets``;
    - ``g_term(real, fake)``: G's loss (``real`` is None unless ``g_needs_real``);
    - ``fake_term(logits, real, fake_target)``: D's loss for inputs it should call fake, next to real logits
      ``real`` (only a relativistic loss reads them);
    - ``stats(real, fake)``: what is logged of D's outputs (``d_real``, ``d_fake``, ...);
    - ``targets``: D's targets can be softened or made noisy (``tricks.real_label``, ``fake_label``,
      ``label_noise_beta``);
    - ``critic``: D is a Wasserstein critic: its loss estimates a distance, and weight clipping may keep it
      Lipschitz (``objective.clip``);
    - ``penalty``: the gradient penalty on real/fake interpolates is part of the loss (``objective.gp_lambda``);
    - ``g_needs_real``: G's term compares with D's logits on real inputs (a relativistic loss), so the G phase
      scores a real batch too;
    - ``check(cfg)``: refuses settings this loss cannot be used with and fills the defaults that depend on it;
    - what the training-health monitor (``ganlab.train.health``) reads to judge the logged values:
      ``probabilities`` (``d_real``/``d_fake`` are D's probabilities in [0, 1], not raw scores),
      ``d_loss_chance`` / ``g_loss_chance`` (D's and G's losses when D scores every input alike at its
      uninformed value: D has learnt nothing), ``separated`` ((``d_real``, ``d_fake``) as logged when D tells
      every real input from every fake one; None where the scores are unbounded, as a critic's are).
    """
    name: str
    summary: str
    d_term: Callable
    g_term: Callable
    fake_term: Callable
    stats: Callable
    targets: bool = False
    critic: bool = False
    penalty: bool = False
    g_needs_real: bool = False
    check: Optional[Callable] = None
    probabilities: bool = False
    d_loss_chance: Optional[float] = None
    g_loss_chance: Optional[float] = None
    separated: Optional[tuple] = None


LOSSES: dict[str, Loss] = {}


def register_loss(loss: Loss) -> Loss:
    LOSSES[loss.name] = loss
    return loss


def get_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise ConfigError(f"objective.loss: {name!r} is not a loss; choose from: {', '.join(LOSSES)}")
    return LOSSES[name]


def check_loss(cfg, name: str | None = None) -> Loss:
    """The loss ``name`` (default: the one ``cfg.objective.loss`` names), after the checks every loss shares and
    its own (which may fill defaults such as the clipping bound)."""
    loss, oc, tc = get_loss(name or cfg.objective.loss), cfg.objective, cfg.tricks
    used = [k for k in ("real_label", "fake_label", "label_noise_beta") if getattr(tc, k) is not None]
    if used and not loss.targets:
        raise ConfigError(
            f"tricks.{used[0]} with objective.loss={loss.name}: soft and noisy labels change the targets of the "
            f"binary cross-entropy; the {loss.summary} has no such targets. Use objective.loss=bce or drop it.")
    if oc.clip is not None and not loss.critic:
        raise ConfigError(
            f"objective.clip={oc.clip} with objective.loss={loss.name}: weight clipping keeps a Wasserstein critic "
            "Lipschitz; it does not belong with a classifier loss. Use objective.loss=wgan or drop clip.")
    if oc.gp_lambda is not None and not loss.penalty:
        raise ConfigError(
            f"objective.gp_lambda={oc.gp_lambda} with objective.loss={loss.name}: the gradient penalty is part of "
            "the WGAN-GP objective; use objective.loss=wgan-gp or drop gp_lambda.")
    if loss.check is not None:
        loss.check(cfg)
    return loss


def _mean_scores(real, fake) -> dict:
    return {"d_real": real.detach().mean(), "d_fake": fake.detach().mean()}


def _targets(like: torch.Tensor, target, default: float) -> torch.Tensor:
    if target is None:
        return torch.full_like(like, default)
    return torch.as_tensor(target, dtype=like.dtype, device=like.device).expand_as(like)


# --- bce: the non-saturating GAN ------------------------------------------------------------------------
register_loss(Loss(
    name="bce", summary="binary cross-entropy",
    d_term=lambda real, fake, rt=None, ft=None: (F.binary_cross_entropy_with_logits(real, _targets(real, rt, 1.0))
                                                 + F.binary_cross_entropy_with_logits(fake, _targets(fake, ft, 0.0))),
    g_term=lambda real, fake: F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)),
    fake_term=lambda logits, real=None, ft=None: F.binary_cross_entropy_with_logits(logits, _targets(logits, ft, 0.0)),
    stats=lambda real, fake: {"d_real": torch.sigmoid(real.detach()).mean(), "d_fake": torch.sigmoid(fake.detach()).mean()},
    targets=True,
    probabilities=True, d_loss_chance=2 * math.log(2), g_loss_chance=math.log(2), separated=(1.0, 0.0),
))


# --- Wasserstein critics -------------------------------------------------------------------------------
def _critic_stats(real, fake) -> dict:
    stats = _mean_scores(real, fake)
    stats["wasserstein"] = stats["d_real"] - stats["d_fake"]
    return stats


def _check_wgan(cfg) -> None:
    if cfg.objective.clip is None:
        cfg.objective.clip = 0.01


def _check_wgan_gp(cfg) -> None:
    oc = cfg.objective
    if oc.r1_gamma > 0:
        raise ConfigError(
            f"objective.r1_gamma={oc.r1_gamma} with objective.loss=wgan-gp: two gradient penalties that pull "
            "against each other (WGAN-GP drives D's gradient norm on interpolates to 1, R1 drives it on real data "
            "to 0); use objective.loss=hinge, bce or wgan with R1, or drop r1_gamma.")
    if cfg.model.d_norm == "batch":
        raise ConfigError(
            "objective.loss=wgan-gp with model.d_norm=batch: the gradient penalty is taken per sample, and batch "
            "norm mixes samples; set model.d_norm=none (as in the WGAN-GP paper).")
    if oc.gp_lambda is None:
        oc.gp_lambda = 10.0


_WASSERSTEIN = dict(
    d_term=lambda real, fake, rt=None, ft=None: fake.mean() - real.mean(),
    g_term=lambda real, fake: -fake.mean(),
    fake_term=lambda logits, real=None, ft=None: logits.mean(),
    stats=_critic_stats, critic=True,
    d_loss_chance=0.0,  # equal scores on both sides; G's loss and a separation have no fixed value
)
register_loss(Loss(name="wgan", summary="Wasserstein critic (weight clipping)", check=_check_wgan, **_WASSERSTEIN))
register_loss(Loss(name="wgan-gp", summary="Wasserstein critic (gradient penalty)", penalty=True,
                   check=_check_wgan_gp, **_WASSERSTEIN))


# --- hinge ---------------------------------------------------------------------------------------------
register_loss(Loss(
    name="hinge", summary="hinge loss",
    d_term=lambda real, fake, rt=None, ft=None: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
    g_term=lambda real, fake: -fake.mean(),
    fake_term=lambda logits, real=None, ft=None: F.relu(1 + logits).mean(),
    stats=_mean_scores,
    d_loss_chance=2.0, g_loss_chance=0.0, separated=(1.0, -1.0),  # uninformed: every score 0; separated: the margins
))


# --- least squares (LSGAN) -----------------------------------------------------------------------------
register_loss(Loss(
    name="lsgan", summary="least-squares loss (LSGAN)",
    d_term=lambda real, fake, rt=None, ft=None: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean(),
    g_term=lambda real, fake: 0.5 * ((fake - 1) ** 2).mean(),
    fake_term=lambda logits, real=None, ft=None: 0.5 * (logits ** 2).mean(),
    stats=_mean_scores,
    d_loss_chance=0.25, g_loss_chance=0.125, separated=(1.0, 0.0),  # uninformed: the best constant score, 0.5
))


# --- relativistic average (RaGAN) ----------------------------------------------------------------------
def _relativistic(real, fake):
    """D's relativistic logits: each real input against the mean fake, each fake against the mean real."""
    return real - fake.mean(), fake - real.mean()


def _ragan_d(real, fake, rt=None, ft=None):
    r, f = _relativistic(real, fake)
    return (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))


def _ragan_g(real, fake):
    r, f = _relativistic(real, fake)  # G moves the fakes up and, through their mean, the reals down
    return (F.binary_cross_entropy_with_logits(f, torch.ones_like(f))
            + F.binary_cross_entropy_with_logits(r, torch.zeros_like(r)))


def _ragan_fake(logits, real=None, ft=None):
    if real is None:
        raise ValueError("the relativistic loss scores fakes against real logits; none were given")
    f = logits - real.mean()
    return F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))


def _ragan_stats(real, fake) -> dict:
    r, f = _relativistic(real.detach(), fake.detach())
    return {"d_real": torch.sigmoid(r).mean(), "d_fake": torch.sigmoid(f).mean()}


register_loss(Loss(
    name="ragan", summary="relativistic average loss (RaGAN)",
    d_term=_ragan_d, g_term=_ragan_g, fake_term=_ragan_fake, stats=_ragan_stats, g_needs_real=True,
    probabilities=True, d_loss_chance=2 * math.log(2), g_loss_chance=2 * math.log(2), separated=(1.0, 0.0),
))
