"""The unconditional GAN: DCGAN (or MLP) generator and discriminator with any loss of the loss table.

It is also the template the other adversarial methods specialise: they change how generator inputs
are drawn (``train_inputs``/``sample_inputs``), how G is run (``run_G``), how D scores (``critic_out``)
and what extra losses D and G get (``d_extra``/``g_extra``). The two phases of a step, ``d_objective`` and
``g_objective``, are written here, each top to bottom; the update schedule around them and the regularisers
are ``AdversarialMethod``'s, so every trick and every loss applies to every method.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ganlab.errors import ConfigError
from ganlab.methods import tricks
from ganlab.methods.adversarial import AdversarialMethod, Fakes
from ganlab.methods.base import Batch, Capabilities, LatentPrior
from ganlab.models import build_discriminator, build_generator


@dataclass
class Scores:
    """D's scores in a phase: the real inputs as D saw them (D's phase only), float32 logits on real (None in
    G's phase unless the loss compares with real) and on generated inputs, the heads' outputs (classifier, Q),
    and the generator inputs the fakes were made from."""
    real_in: object
    real: torch.Tensor | None
    real_heads: dict
    fake: torch.Tensor
    fake_heads: dict
    inputs: dict


class GAN(AdversarialMethod):
    name = "gan"
    description = "unconditional GAN (DCGAN / WGAN / WGAN-GP / hinge / LSGAN / RaGAN, by objective.loss)"
    capabilities = Capabilities(image_critic=True)

    def __init__(self, cfg, data_info, device):
        super().__init__(cfg, data_info, device)
        self.build()
        self.G.to(self.device)
        self.D.to(self.device)
        oc = cfg.optim
        self.opt_g = self.adam(self.G.parameters(), oc.g_lr, oc.g_betas)
        self.opt_d = self.adam(self.D.parameters(), oc.d_lr, oc.d_betas)
        self.g_optims = [self.opt_g]
        self.setup_ema()

    # --- pieces a subclass changes ---------------------------------------------------------------
    def build(self) -> None:
        """Set ``self.G`` and ``self.D``."""
        self.G = build_generator(self.cfg.model, self.data_info.shape, self.cfg.model.latent_dim)
        self.D = build_discriminator(self.cfg.model, tricks.packed_shape(self.data_info.shape, self.cfg.tricks.pack))

    def train_inputs(self, n: int, batch: Batch) -> dict:
        """Generator inputs for a training batch, on the device (conditional methods take the batch's labels)."""
        return {"z": self.latent(n)}

    def run_G(self, G, inputs: dict):
        """G's output for ``inputs``: an image batch (or, MSG-GAN, a list of scales)."""
        return G(inputs["z"])

    def image_of(self, out) -> torch.Tensor:
        return out

    def real_input(self, batch: Batch):
        return batch.x

    def real_cond(self, batch: Batch) -> dict:
        """What the critic is told about real data (conditional methods: the codes)."""
        return {}

    def critic_out(self, d_in, cond: dict):
        """(logits [B], {head: output}) of D for an input D sees and its condition."""
        return self.D(d_in), {}

    def real_logits(self, batch: Batch) -> torch.Tensor:
        return self.critic_out(self.d_view(self.real_input(batch)), self.real_cond(batch))[0]

    def d_extra(self, batch: Batch, scores: "Scores"):
        """Extra D loss (None for none) and its statistics, from D's scores of the batch."""
        return None, {}

    def g_extra(self, scores: "Scores"):
        """Extra G loss (None for none) and its statistics, from D's scores of the fakes."""
        return None, {}

    # --- networks, optimizers, latents ------------------------------------------------------------
    def networks(self):
        return {"G": self.G, "D": self.D}

    def optimizers(self):
        return {"G": self.opt_g, "D": self.opt_d}

    def latent(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        device = self.device if device is None else device
        shape = (n, self.cfg.model.latent_dim)
        mc = self.cfg.model
        if mc.latent_dist == "uniform":
            return torch.rand(shape, generator=generator, device=device) * 2 - 1
        z = torch.randn(shape, generator=generator, device=device)
        if mc.latent_dist == "mixture":
            centres = mixture_centres(mc.latent_components, mc.latent_dim, mc.latent_spread, str(device))
            z = z + centres[torch.randint(0, len(centres), (n,), generator=generator, device=device)]
        return z

    # --- the two phases of a training step ------------------------------------------------------------
    def d_objective(self, batch: Batch):
        """D's phase on ``batch``: (loss, stats, fakes). ``fakes`` (G's output with its graph) is handed to the G
        phase that follows on the same batch when the schedule allows it (``reuses_fake``), else None."""
        n, fakes = len(batch), None
        with self.autocast():
            # 1. generate: G's graph is kept only when the G phase will reuse this batch
            if self.reuses_fake():
                inputs = self.train_inputs(n, batch)
                out = self.run_G(self.G, inputs)
                fakes = Fakes(batch, inputs, out)
                fake = [f.detach() for f in out] if isinstance(out, (list, tuple)) else out.detach()
            else:
                with torch.no_grad():
                    inputs = self.train_inputs(n, batch)
                    fake = self.run_G(self.G, inputs)
            # 2. what D sees (DiffAugment, instance noise, packing) and its scores; fakes are scored with the
            #    condition they were generated for, reals with the data's
            real_in, fake_in = self.d_view(self.real_input(batch)), self.d_view(fake)
            rc = self.real_cond(batch)
            r_logit, r_heads = self.critic_out(real_in, rc)
            f_logit, f_heads = self.critic_out(fake_in, inputs)
            scores = Scores(real_in, r_logit.float(), r_heads, f_logit.float(), f_heads, inputs)
            # 3. the adversarial loss: the entry of the loss table that objective.loss names
            real_t, fake_t = self.targets(scores.real.shape[0], r_logit.device)
            if fake_t is not None and fake_t.shape[0] != scores.fake.shape[0]:  # packed fakes: fewer D inputs
                fake_t = fake_t[: scores.fake.shape[0]]
            loss = self.loss.d_term(scores.real, scores.fake, real_t, fake_t)
            stats = self.loss.stats(scores.real, scores.fake)
            # 4. the method's own D terms (mismatched tags, classifier heads, InfoGAN's Q)
            extra, es = self.d_extra(batch, scores)
        if extra is not None:
            loss = loss + extra.float()
        stats.update(es)
        # 5. the regularisers (gradient penalty, lazy R1, LeCam), in float32 outside autocast
        loss = self.regularise(loss, stats, lambda v: self.critic_out(v, rc)[0], real_in, fake_in,
                               scores.real, scores.fake)
        return loss, stats, fakes

    def g_objective(self, batch: Batch, fakes: Fakes | None = None):
        """G's phase on ``batch``: (loss, stats), reusing D's phase's ``fakes`` when they are of this batch."""
        with self.autocast():
            # 1. generate (or take the batch D's phase generated, with G's graph)
            if fakes is not None and fakes.batch is batch:
                inputs, out = fakes.inputs, fakes.out
            else:
                inputs = self.train_inputs(len(batch), batch)
                out = self.run_G(self.G, inputs)
            # 2. D's scores of the fakes (and of the real batch, where the loss compares with it)
            f_logit, f_heads = self.critic_out(self.d_view(out), inputs)
            r_logit = None
            if self.loss.g_needs_real:
                r_logit = self.critic_out(self.d_view(self.real_input(batch)), self.real_cond(batch))[0].float()
            # 3. the adversarial loss, then 4. the method's own G terms
            loss = self.loss.g_term(r_logit, f_logit.float())
            extra, stats = self.g_extra(Scores(None, r_logit, {}, f_logit.float(), f_heads, inputs))
        if extra is not None:
            loss = loss + extra.float()
        return loss, stats

    # --- sampling --------------------------------------------------------------------------------
    def sample_inputs(self, n: int, generator=None, cond=None) -> dict:
        if cond:
            raise ConfigError(f"method {self.name} is unconditional: it takes no conditions (got {cond})")
        return {"z": self.latent(n, generator=generator, device="cpu")}

    @torch.no_grad()
    def generate(self, inputs: dict) -> torch.Tensor:
        inputs = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in inputs.items()}
        return self.image_of(self.run_G(self.sampling_G(), inputs))

    def generate_differentiable(self, inputs: dict) -> torch.Tensor:
        return self.image_of(self.run_G(self.sampling_G(), inputs))

    def latent_prior(self) -> LatentPrior:
        mc = self.cfg.model
        if mc.latent_dist == "mixture":
            return LatentPrior("mixture", mixture_centres(mc.latent_components, mc.latent_dim, mc.latent_spread))
        return LatentPrior(mc.latent_dist)

    def image_features(self):
        if not self.capabilities.image_critic or self.cfg.tricks.pack > 1:
            return None
        return self.D, lambda x, inputs: self.critic_out(x, inputs)


@functools.cache
def mixture_centres(k: int, dim: int, spread: float, device: str = "cpu") -> torch.Tensor:
    """The ``k`` centres of the mixture latent: drawn once from N(0, spread^2 I) with a fixed seed, so every run
    and every load of a run has the same ones (kept per device: no copy in the training step)."""
    return (torch.randn(k, dim, generator=torch.Generator().manual_seed(20261205)) * spread).to(device)
