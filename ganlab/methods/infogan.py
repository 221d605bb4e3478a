"""InfoGAN (Chen et al. 2016): latent codes beside the noise, and a Q head on D's trunk that recovers them.

G's input is the noise (``model.latent_dim``), one one-hot vector per categorical code
(``info.categorical``: the number of categories of each) and ``info.continuous`` codes uniform in
[-1, 1]. Q shares D's trunk and predicts categorical logits and a Gaussian (mean, log-std) per continuous
code. The mutual-information loss, cross-entropy + ``info.continuous_weight`` x Gaussian NLL, weighted by
``info.weight``, is added to G's loss and to D's loss on the generated batch (so it trains G, Q and D's
trunk). Codes are named c0, c1, ... (categorical first, then continuous):
``ganlab.load(run).sample(8, cond={"c0": 3, "c1": 0.5})``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganlab.errors import ConfigError
from ganlab.methods.base import Capabilities, ConditionSpec
from ganlab.methods.gan import GAN
from ganlab.models import build_generator
from ganlab.models.critic import Critic, mlp_head


class InfoGAN(GAN):
    name = "infogan"
    description = "InfoGAN: categorical and continuous latent codes recovered by a Q head on D"
    capabilities = Capabilities(conditions="codes", reads_conditions=True, sections=("info",), image_critic=True,
                                pack_refusal="Q reads each sample's own code back from D's features, which a "
                                             "pack mixes")

    def __init__(self, cfg, data_info, device):
        self.cats = [int(k) for k in cfg.info.categorical]
        self.n_cont = int(cfg.info.continuous)
        super().__init__(cfg, data_info, device)

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        ic = cfg.info
        if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 2 for k in ic.categorical):
            raise ConfigError(f"info.categorical: expected a list of category counts (each at least 2), "
                              f"got {ic.categorical!r}")
        if not ic.categorical and ic.continuous == 0:
            raise ConfigError("infogan needs at least one code: set info.categorical (e.g. [10]) or "
                              "info.continuous (e.g. 2)")

    @property
    def code_names(self) -> list[str]:
        return [f"c{i}" for i in range(len(self.cats) + self.n_cont)]

    def condition_specs(self):
        return [ConditionSpec(name, "categorical", list(range(self.cats[j]))) if j < len(self.cats)
                else ConditionSpec(name, "continuous") for j, name in enumerate(self.code_names)]

    def read_conditions(self, x):
        """Q's reading of every code: the category of categorical codes, the mean of continuous ones."""
        cat, mean = self.predict_codes(x)
        names = self.code_names
        return {**{names[j]: cat[:, j].cpu() for j in range(cat.shape[1])},
                **{names[len(self.cats) + j]: mean[:, j].cpu() for j in range(mean.shape[1])}}

    def build(self):
        mc = self.cfg.model
        self.G = build_generator(mc, self.data_info.shape, mc.latent_dim + sum(self.cats) + self.n_cont)
        self.D = Critic(mc, self.data_info.shape)
        self.D.add_head("q", mlp_head(self.D.feature_dim, sum(self.cats) + 2 * self.n_cont, 128, mc.d_act,
                                      mc.leaky_slope))

    # --- codes ------------------------------------------------------------------------------------
    def draw_codes(self, n, generator=None, device=None):
        device = self.device if device is None else device
        cat = torch.stack([torch.randint(0, k, (n,), generator=generator, device=device) for k in self.cats], 1) \
            if self.cats else torch.zeros(n, 0, dtype=torch.long, device=device)
        cont = torch.rand(n, self.n_cont, generator=generator, device=device) * 2 - 1
        return cat, cont

    def train_inputs(self, n, batch):
        cat, cont = self.draw_codes(n)
        return {"z": self.latent(n), "cat": cat, "cont": cont}

    def run_G(self, G, inputs):
        cat = inputs["cat"]
        onehots = [F.one_hot(cat[:, i], k).to(inputs["z"].dtype) for i, k in enumerate(self.cats)]
        return G(torch.cat([inputs["z"], *onehots, inputs["cont"].to(inputs["z"].dtype)], 1))

    def critic_out(self, d_in, cond):
        return self.D(d_in)

    def q_outputs(self, q: torch.Tensor):
        """Split Q's output into categorical logits (one tensor per code), means and log-stds."""
        q = q.float()
        logits, i = [], 0
        for k in self.cats:
            logits.append(q[:, i:i + k])
            i += k
        mean = q[:, i:i + self.n_cont]
        log_std = q[:, i + self.n_cont:].clamp(-5.0, 2.0)
        return logits, mean, log_std

    def mi_loss(self, heads, inputs):
        logits, mean, log_std = self.q_outputs(heads["q"])
        stats = {}
        loss = torch.zeros((), device=mean.device)
        if self.cats:
            ce = sum(F.cross_entropy(l, inputs["cat"][:, j]) for j, l in enumerate(logits))
            stats["q_acc"] = torch.stack([(l.argmax(1) == inputs["cat"][:, j]).float().mean()
                                          for j, l in enumerate(logits)]).mean()
            stats["mi_cat"] = ce.detach()
            loss = loss + ce
        if self.n_cont:
            c = inputs["cont"].float()
            nll = (log_std + 0.5 * ((c - mean) / log_std.exp()) ** 2 + 0.5 * math.log(2 * math.pi)).sum(1).mean()
            stats["mi_cont"] = nll.detach()
            loss = loss + self.cfg.info.continuous_weight * nll
        return self.cfg.info.weight * loss, stats

    def d_extra(self, batch, scores):
        loss, stats = self.mi_loss(scores.fake_heads, scores.inputs)
        return loss, {"d_" + k: v for k, v in stats.items()}

    def g_extra(self, scores):
        return self.mi_loss(scores.fake_heads, scores.inputs)

    # --- sampling -----------------------------------------------------------------------------------
    def sample_inputs(self, n, generator=None, cond=None):
        """Noise and codes; ``cond`` fixes codes by name: {"c0": 3} (a category) or {"c1": 0.5} (a continuous
        value in [-1, 1]), or a list of n values."""
        z = self.latent(n, generator=generator, device="cpu")
        cat, cont = self.draw_codes(n, generator, "cpu")
        names = self.code_names
        for name, value in (cond or {}).items():
            if name not in names:
                raise ConfigError(f"unknown code {name!r}; this model has: {', '.join(names) or 'none'} "
                                 f"({len(self.cats)} categorical, then {self.n_cont} continuous)")
            j = names.index(name)
            if isinstance(value, str):  # as typed on the command line: --cond c0=3,c1=0.5
                try:
                    value = float(value)
                except ValueError:
                    raise ConfigError(f"code {name!r}: {value!r} is not a number") from None
            v = torch.as_tensor(value)
            if v.dim() and v.shape[0] != n:
                raise ConfigError(f"code {name!r}: {v.shape[0]} values for {n} samples")
            if j < len(self.cats):
                k = self.cats[j]
                if v.is_floating_point() and not torch.equal(v, v.round()):
                    raise ConfigError(f"code {name!r} is categorical: give a category 0..{k - 1}, got {value!r}")
                v = v.long()
                if (v < 0).any() or (v >= k).any():
                    raise ConfigError(f"code {name!r} has {k} categories: give 0..{k - 1}, got {value!r}")
                cat[:, j] = v
            else:
                cont[:, j - len(self.cats)] = v.float()
        return {"z": z, "cat": cat, "cont": cont}

    def fixed_inputs(self, n, seed):
        inputs = self.sample_inputs(n, torch.Generator().manual_seed(seed))
        if self.cats:
            inputs["cat"][:, 0] = torch.arange(n) % self.cats[0]  # the grid walks through the first code
        return {k: v.to(self.device) for k, v in inputs.items()}

    @torch.no_grad()
    def predict_codes(self, x: torch.Tensor):
        """Q's reading of images x: (categorical predictions [N, n_cat], continuous means [N, n_cont])."""
        _, heads = self.D(x.to(self.device))
        logits, mean, _ = self.q_outputs(heads["q"])
        cat = torch.stack([l.argmax(1) for l in logits], 1) if logits else torch.zeros(x.shape[0], 0, dtype=torch.long)
        return cat, mean
