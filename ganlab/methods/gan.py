"""The unconditional GAN: DCGAN (or MLP) generator and discriminator with any objective.

It is also the template the other adversarial methods specialise: they change how generator inputs
are drawn (``train_inputs``/``sample_inputs``), how G is run (``run_G``), how D scores (``critic_out``)
and what extra losses D and G get (``d_extra``/``g_extra``); the step itself stays here and in
``AdversarialMethod``, so every trick applies to every method.
"""
from __future__ import annotations

import functools

import torch

from ganlab.errors import ConfigError
from ganlab.methods import tricks
from ganlab.methods.base import AdversarialMethod, Batch
from ganlab.models import build_discriminator, build_generator


class GAN(AdversarialMethod):
    name = "gan"
    description = "unconditional GAN (DCGAN / WGAN / WGAN-GP / hinge, by objective.loss)"

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

    def d_extra(self, batch, real_in, real_heads, fake_heads, inputs):
        """Extra D loss (None for none) and its statistics."""
        return None, {}

    def g_extra(self, fake_heads, inputs):
        return None, {}

    # --- the training step -----------------------------------------------------------------------
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

    def reuses_fake(self) -> bool:
        """One G step right after each D step on the same batch: the G step reuses the D step's fake batch (as
        the classic DCGAN loop does), which saves a generator forward pass per iteration."""
        tc = self.cfg.train
        return tc.n_critic == 1 and tc.n_gen == 1 and not self.cfg.tricks.dynamic

    def d_objective(self, batch: Batch):
        n = len(batch)
        self._fake_for_g = None
        with self.autocast():
            if self.reuses_fake():
                inputs = self.train_inputs(n, batch)
                out = self.run_G(self.G, inputs)  # keeps G's graph for the G step that follows
                self._fake_for_g = (batch, inputs, out)
                fake = [f.detach() for f in out] if isinstance(out, (list, tuple)) else out.detach()
            else:
                with torch.no_grad():
                    inputs = self.train_inputs(n, batch)
                    fake = self.run_G(self.G, inputs)
            real_in, fake_in = self.d_view(self.real_input(batch)), self.d_view(fake)
            rc = self.real_cond(batch)
            r_logit, r_heads = self.critic_out(real_in, rc)
            f_logit, f_heads = self.critic_out(fake_in, inputs)
            loss, stats = self.adv_d_loss(r_logit, f_logit)
            extra, es = self.d_extra(batch, real_in, r_heads, f_heads, inputs)
        if extra is not None:
            loss = loss + extra.float()
        stats.update(es)
        loss = self.regularise(loss, stats, lambda v: self.critic_out(v, rc)[0], real_in, fake_in, r_logit, f_logit)
        return loss, stats

    def g_objective(self, batch: Batch):
        cached, self._fake_for_g = getattr(self, "_fake_for_g", None), None
        with self.autocast():
            if cached is not None and cached[0] is batch:
                _, inputs, out = cached
            else:
                inputs = self.train_inputs(len(batch), batch)
                out = self.run_G(self.G, inputs)
            f_logit, f_heads = self.critic_out(self.d_view(out), inputs)
            loss = self.adv_g_loss(f_logit)
            extra, stats = self.g_extra(f_heads, inputs)
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


@functools.cache
def mixture_centres(k: int, dim: int, spread: float, device: str = "cpu") -> torch.Tensor:
    """The ``k`` centres of the mixture latent: drawn once from N(0, spread^2 I) with a fixed seed, so every run
    and every load of a run has the same ones (kept per device: no copy in the training step)."""
    return (torch.randn(k, dim, generator=torch.Generator().manual_seed(20261205)) * spread).to(device)
