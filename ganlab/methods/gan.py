"""The unconditional GAN: DCGAN (or MLP) generator and discriminator with any objective."""
from __future__ import annotations

import torch

from ganlab import objectives
from ganlab.methods.base import AdversarialMethod, Batch
from ganlab.models import build_discriminator, build_generator


class GAN(AdversarialMethod):
    name = "gan"
    description = "unconditional GAN (DCGAN / WGAN / WGAN-GP / hinge, by objective.loss)"

    def __init__(self, cfg, info, device):
        super().__init__(cfg, info, device)
        mc, oc = cfg.model, cfg.optim
        self.G = build_generator(mc, info.shape, self.generator_in_dim()).to(self.device)
        self.D = self.build_critic().to(self.device)
        self.opt_g = self.adam(self.G.parameters(), oc.g_lr, oc.g_betas)
        self.opt_d = self.adam(self.D.parameters(), oc.d_lr, oc.d_betas)

    # --- pieces a conditional subclass changes ----------------------------------------------------
    def generator_in_dim(self) -> int:
        return self.cfg.model.latent_dim

    def build_critic(self):
        return build_discriminator(self.cfg.model, self.info.shape)

    def generator_input(self, z: torch.Tensor, labels: dict) -> torch.Tensor:
        return z

    def critic(self, x: torch.Tensor, labels: dict) -> torch.Tensor:
        return self.D(x)

    def fake_labels(self, batch: Batch) -> dict:
        """Labels to generate with during training (unconditional: none)."""
        return {}

    # --- the training step -----------------------------------------------------------------------
    def modules(self):
        return {"G": self.G, "D": self.D}

    def optimizers(self):
        return {"G": self.opt_g, "D": self.opt_d}

    def latent(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        device = self.device if device is None else device
        shape = (n, self.cfg.model.latent_dim)
        if self.cfg.model.latent_dist == "uniform":
            return torch.rand(shape, generator=generator, device=device) * 2 - 1
        return torch.randn(shape, generator=generator, device=device)

    def fake(self, n: int, labels: dict) -> torch.Tensor:
        return self.G(self.generator_input(self.latent(n), labels))

    def d_step(self, batch: Batch) -> dict:
        loss_kind = self.cfg.objective.loss
        labels = self.fake_labels(batch)
        with self.autocast():
            with torch.no_grad():
                fake = self.fake(len(batch), labels)
            real_logits = self.critic(batch.x, batch.labels)
            fake_logits = self.critic(fake, labels)
            loss, stats = objectives.d_loss(loss_kind, real_logits.float(), fake_logits.float())
        if loss_kind == "wgan-gp":
            gp = objectives.gradient_penalty(lambda x: self.critic(x, batch.labels), batch.x, fake)
            loss = loss + self.cfg.objective.gp_lambda * gp
            stats["gp"] = gp.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if self.cfg.objective.clip is not None and loss_kind == "wgan":
            clip = self.cfg.objective.clip
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-clip, clip)
        stats["d_loss"] = loss.detach()
        return stats

    def g_step(self, batch: Batch) -> dict:
        labels = self.fake_labels(batch)
        with self.autocast():
            fake_logits = self.critic(self.fake(len(batch), labels), labels)
            loss = objectives.g_loss(self.cfg.objective.loss, fake_logits.float())
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return {"g_loss": loss.detach()}

    # --- sampling --------------------------------------------------------------------------------
    def sample_inputs(self, n: int, generator=None, cond=None) -> dict:
        if cond:
            raise ValueError(f"method {self.name} is unconditional: it takes no conditions (got {cond})")
        return {"z": self.latent(n, generator=generator, device="cpu")}

    @torch.no_grad()
    def generate(self, inputs: dict) -> torch.Tensor:
        return self.G(self.generator_input(inputs["z"].to(self.device), inputs.get("labels", {})))
