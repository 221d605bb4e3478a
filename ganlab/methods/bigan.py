"""BiGAN / ALI (Donahue et al. 2017; Dumoulin et al. 2017): a generator G: z -> x, an encoder E: x -> z
(the family's discriminator trunk with ``model.latent_dim`` outputs, a mirror of G), and a joint critic
D(x, z) on pairs. D learns to tell (x, E(x)) (labelled real) from (G(z), z) (labelled fake); G and E are
trained together to fool it. ``encode(x)`` maps images to latents; ``reconstruct(x)`` is G(E(x)).
"""
from __future__ import annotations

import torch

from ganlab.errors import ConfigError
from ganlab.methods.base import Capabilities
from ganlab.methods.gan import GAN
from ganlab.methods.losses import get_loss
from ganlab.models import build_generator
from ganlab.models.critic import JointCritic
from ganlab.models.encoder import Encoder


class BiGAN(GAN):
    name = "bigan"
    description = "BiGAN: generator, encoder and a critic of (image, latent) pairs"
    capabilities = Capabilities(encoder="E(x)", pack_refusal="D scores (image, code) pairs, and a pack of several "
                                                              "pairs would need an encoder per pack")

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        loss = get_loss(cfg.objective.loss)
        if loss.g_needs_real:
            raise ConfigError(f"objective.loss={loss.name} with method=bigan: G and E are trained with the generator "
                              "loss on each side's pairs alone, and a relativistic loss scores each side against the "
                              "other's mean; use bce, hinge, lsgan, wgan or wgan-gp")

    def __init__(self, cfg, data_info, device):
        super().__init__(cfg, data_info, device)
        oc = cfg.optim
        self.opt_e = self.adam(self.E.parameters(), oc.g_lr, oc.g_betas)
        self.g_optims = [self.opt_g, self.opt_e]

    def build(self):
        mc, shape = self.cfg.model, self.data_info.shape
        self.G = build_generator(mc, shape, mc.latent_dim)
        self.E = Encoder(mc, shape, mc.latent_dim).to(self.device)
        self.D = JointCritic(mc, shape, mc.latent_dim)

    def networks(self):
        return {"G": self.G, "E": self.E, "D": self.D}

    def optimizers(self):
        return {"G": self.opt_g, "E": self.opt_e, "D": self.opt_d}

    def pair_logits(self, x_in, z):
        return self.D(x_in, z)

    def real_logits(self, batch):
        return self.pair_logits(self.d_view(batch.x), self.E(batch.x))

    def d_objective(self, batch):
        """D's phase: pairs (x, E(x)) are real, (G(z), z) fake; nothing is handed to G's phase."""
        n = len(batch)
        with self.autocast():
            with torch.no_grad():
                z = self.latent(n)
                fake = self.G(z)
                ez = self.E(batch.x)
            real_in, fake_in = self.d_view(batch.x), self.d_view(fake)
            r_logit = self.pair_logits(real_in, ez).float()
            f_logit = self.pair_logits(fake_in, z).float()
            real_t, fake_t = self.targets(r_logit.shape[0], r_logit.device)
            loss = self.loss.d_term(r_logit, f_logit, real_t, fake_t)
            stats = self.loss.stats(r_logit, f_logit)
        loss = self.regularise(loss, stats, lambda parts: self.pair_logits(*parts), (real_in, ez), (fake_in, z),
                               r_logit, f_logit)
        return loss, stats, None

    def g_objective(self, batch, fakes=None):
        n = len(batch)
        with self.autocast():
            z = self.latent(n)
            f_logit = self.pair_logits(self.d_view(self.G(z)), z).float()
            r_logit = self.pair_logits(self.d_view(batch.x), self.E(batch.x)).float()
            # G wants its pairs called real, E wants the data's pairs called fake: the generator loss on the
            # negated real logits is exactly "score as fake" for bce (softplus), wgan and hinge.
            g_part = self.loss.g_term(None, f_logit)
            e_part = self.loss.g_term(None, -r_logit)
        return g_part + e_part, {"g_part": g_part.detach(), "e_part": e_part.detach()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents E(x) for images scaled like the training data."""
        return self.E(x.to(self.device))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.sampling_G()(self.encode(x))
