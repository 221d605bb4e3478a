"""Variational autoencoder (Kingma & Welling 2014) with the GAN families as encoder and decoder.

The encoder (the family's discriminator trunk with 2 x ``model.latent_dim`` outputs) gives the mean and
log-variance of q(z|x); a sample z = mean + std * eps (reparametrisation) goes through the decoder (the
generator family). Loss = MSE(x', x) + ``vae.kl_weight`` x KL(q(z|x) || N(0, I)).
``vae.reduction``: ``mean`` averages the squared error over pixels and the KL over latent dimensions
(and both over the batch); ``sum`` adds everything up. Not adversarial: every step is one update,
counted in ``g_steps``. ``test_mse(x)`` scores held-out images; ``encode(x)`` returns the mean.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganlab.errors import ConfigError
from ganlab.methods.base import Batch, Capabilities, Method
from ganlab.models import build_generator
from ganlab.models.encoder import Encoder


class VAE(Method):
    name = "vae"
    description = "variational autoencoder: conv encoder, generator-family decoder, MSE + KL"
    capabilities = Capabilities(encoder="posterior mean", held_out="test_mse", sections=("vae",))
    # the prior is N(0, I) whatever model.latent_dist says (validate refuses the others); LatentPrior's default

    def __init__(self, cfg, data_info, device):
        super().__init__(cfg, data_info, device)
        mc, oc = cfg.model, cfg.optim
        self.latent_dim = mc.latent_dim
        self.G = build_generator(mc, data_info.shape, mc.latent_dim).to(self.device)
        self.E = Encoder(mc, data_info.shape, 2 * mc.latent_dim).to(self.device)
        self.opt = self.adam(list(self.G.parameters()) + list(self.E.parameters()), oc.g_lr, oc.g_betas)

    @classmethod
    def validate(cls, cfg):
        tc = cfg.tricks
        used = [k for k, on in (("dynamic", tc.dynamic), ("instance_noise", tc.instance_noise > 0),
                                ("real_label", tc.real_label is not None), ("fake_label", tc.fake_label is not None),
                                ("label_noise_beta", tc.label_noise_beta is not None), ("diffaug", bool(tc.diffaug)), ("ada", tc.ada),
                                ("ema", tc.ema is not None), ("pack", tc.pack > 1)) if on]
        if used:
            raise ConfigError(f"tricks.{used[0]} with method=vae: the training tricks act on a discriminator, and "
                              "a VAE has none; drop it.")
        oc = cfg.objective
        used = [k for k, on in (("r1_gamma", oc.r1_gamma > 0), ("lecam_weight", oc.lecam_weight > 0)) if on]
        if used:
            raise ConfigError(f"objective.{used[0]} with method=vae: it regularises a discriminator, and a VAE has "
                              "none; drop it.")
        if cfg.model.latent_dist != "normal":
            raise ConfigError(f"model.latent_dist={cfg.model.latent_dist} with method=vae: the VAE prior is N(0, I); "
                              "use model.latent_dist=normal")
        if cfg.train.n_critic != 1 or cfg.train.n_gen != 1:
            raise ConfigError("train.n_critic / train.n_gen set the D:G schedule of adversarial methods; a VAE "
                              "has one network pair and one update per batch: leave them at 1")
        if not 0 <= cfg.vae.test_fraction < 1:
            raise ConfigError(f"vae.test_fraction: {cfg.vae.test_fraction} must be in [0, 1)")

    def modules(self):
        return {"G": self.G, "E": self.E}

    def optimizers(self):
        return {"VAE": self.opt}

    def learning_rates(self) -> dict[str, float]:
        return {"g_lr": self.opt.param_groups[0]["lr"]}  # the one optimizer runs at optim.g_lr

    def posterior(self, x: torch.Tensor):
        mean, logvar = self.E(x).float().chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def losses(self, x: torch.Tensor, sample: bool = True):
        mean, logvar = self.posterior(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        recon = self.G(z).float()
        red = self.cfg.vae.reduction
        mse = F.mse_loss(recon, x.float(), reduction=red)
        kl_terms = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp())
        kl = kl_terms.mean() if red == "mean" else kl_terms.sum()
        return mse, kl

    def train_step(self, batch: Batch) -> dict:
        self.schedule.set_learning_rates(self.optimizers().values(), self.g_steps)
        with self.autocast():
            mse, kl = self.losses(batch.x)
        loss = mse + self.cfg.vae.kl_weight * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.g_steps += 1
        return {"loss": loss.detach(), "mse": mse.detach(), "kl": kl.detach()}

    def held_out_indices(self, n: int) -> torch.Tensor:
        """The held-out items of a data set of ``n``: the last ``vae.test_fraction`` of it (at least one item;
        all of it when the fraction is 0, i.e. nothing was held out and the test set is the training set)."""
        f = self.cfg.vae.test_fraction
        if f <= 0:
            return torch.arange(n)
        return torch.arange(n - max(1, math.ceil(n * f)), n)

    def holdout(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(train indices, test indices) of a data set of ``n`` items, for ``held_out_score`` (the loop stays
        generic: whoever feeds the batches decides whether to leave the test part out)."""
        test = self.held_out_indices(n)
        train = torch.arange(n) if self.cfg.vae.test_fraction <= 0 else torch.arange(int(test[0]))
        return train, test

    def training_indices(self, n: int) -> torch.Tensor:
        return self.holdout(n)[0]

    @torch.no_grad()
    def held_out_score(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error per pixel of held-out images (decoding the posterior mean),
        with the networks in eval mode."""
        modes = {k: m.training for k, m in self.modules().items()}
        self.train(False)
        try:
            mean, _ = self.posterior(x.to(self.device))
            return F.mse_loss(self.G(mean).float(), x.to(self.device).float())
        finally:
            for k, m in self.modules().items():
                m.train(modes[k])

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean of each image."""
        return self.posterior(x.to(self.device))[0]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.G(self.encode(x))

    def sample_inputs(self, n, generator=None, cond=None):
        if cond:
            raise ConfigError(f"method {self.name} is unconditional: it takes no conditions (got {cond})")
        return {"z": torch.randn(n, self.latent_dim, generator=generator)}

    @torch.no_grad()
    def generate(self, inputs):
        return self.G(inputs["z"].to(self.device))

    def generate_differentiable(self, inputs):
        return self.G(inputs["z"])
