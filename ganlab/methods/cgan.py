"""Conditional GANs on attributes (class labels, tags): the tag-/class-conditional GAN and ACGAN.

Both feed G the noise concatenated with one learned embedding per conditioned attribute
(``cond.attributes``, default all the data has; ``cond.embed_dim`` each); with ``cond.g_mode: cbn`` the
embeddings also set the gain and bias of every batch norm in G. They differ in D:

- ``cgan``: D is told the condition (``cond.d_mode``): label maps after its first convolution, a
  projection head, or (MLP) concatenated to its input. With ``cond.mismatch`` D also sees real images
  with wrong tags, as fakes (weight ``cond.mismatch_weight``). The class-conditional WGAN is this method
  with ``objective.loss: wgan`` (conv, or dense with ``model.arch: mlp``). ``cond.classifier_weight`` adds
  ACGAN's classifier head to this D (trained on real images only), which G's fakes must satisfy too.
- ``acgan``: D is not told the condition; it predicts it with an auxiliary classifier head per attribute,
  trained on real and fake images; G is trained to make its fakes classified as asked
  (weight ``cond.aux_weight``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.errors import ConfigError
from ganlab.methods.base import Capabilities, ConditionSpec
from ganlab.methods.conditioning import Conditioning
from ganlab.methods.gan import GAN
from ganlab.models.conditional import CondGenerator
from ganlab.models import unwrap
from ganlab.models.critic import Critic


PACK_REFUSAL = "D scores each sample against its own tags, which a pack of several samples does not have"


class ConditionalGAN(GAN):
    name = "cgan"
    description = "tag-/class-conditional GAN (label maps, projection or concatenation in D; optional mismatch)"
    capabilities = Capabilities(conditions="attributes", mixes_conditions=True, sections=("cond",),
                                needs_labels=True, pack_refusal=PACK_REFUSAL, image_critic=True)

    def __init__(self, cfg, data_info, device):
        self.cond = Conditioning(cfg.cond.attributes, data_info.attributes)
        super().__init__(cfg, data_info, device)

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        cc = cfg.cond
        if cc.attributes is not None and (not isinstance(cc.attributes, list) or not cc.attributes):
            raise ConfigError(f"cond.attributes: expected a non-empty list of attribute names, got "
                              f"{cc.attributes!r}")
        if cc.g_mode == "cbn" and cfg.model.g_norm != "batch":
            raise ConfigError(f"cond.g_mode=cbn conditions G's batch norms, and model.g_norm={cfg.model.g_norm} "
                              f"has none; use model.g_norm=batch or cond.g_mode=concat")

    def build(self):
        mc, cc = self.cfg.model, self.cfg.cond
        self.G = CondGenerator(mc, self.data_info.shape, mc.latent_dim, self.cond.sizes, cc.embed_dim, cc.g_mode)
        self.D = self.build_D()

    def build_D(self):
        cc = self.cfg.cond
        D = Critic(self.cfg.model, self.data_info.shape, self.cond.sizes, cc.d_mode, cc.embed_dim, cc.map_mode)
        if cc.classifier_weight > 0:
            D.add_head("aux", AuxHeads(D.feature_dim, self.cond.sizes))
        return D

    # --- conditioning --------------------------------------------------------------------------
    def train_inputs(self, n, batch):
        # fakes are made for the batch's labels: G and D see the data's label distribution
        return {"z": self.latent(n), "codes": self.cond.codes(batch.labels)}

    def run_G(self, G, inputs):
        return G(inputs["z"], inputs["codes"])

    def real_cond(self, batch):
        return {"codes": self.cond.codes(batch.labels)}

    def critic_out(self, d_in, cond):
        return self.D(d_in, cond["codes"])

    def aux_loss(self, heads, codes):
        """Mean over the attributes of the classifier heads' cross-entropy against ``codes``."""
        logits = heads["aux"]
        return sum(F.cross_entropy(l.float(), codes[:, i]) for i, l in enumerate(logits)) / len(logits)

    @staticmethod
    def aux_accuracy(heads, codes):
        return torch.stack([(l.argmax(1) == codes[:, i]).float().mean() for i, l in enumerate(heads["aux"])]).mean()

    def d_extra(self, batch, scores):
        cc = self.cfg.cond
        loss, stats = None, {}
        if cc.mismatch:  # real images with wrong tags, scored by the loss's term for fakes
            wrong = self.cond.mismatched(self.cond.codes(batch.labels))
            logits, _ = self.D(scores.real_in, wrong)
            _, fake_t = self.targets(logits.shape[0], logits.device)
            term = self.loss.fake_term(logits.float(), scores.real, fake_t)
            loss, stats = cc.mismatch_weight * term, {"d_mismatch": term.detach()}
        if cc.classifier_weight > 0:
            # the head learns the tags from real images only: on fakes it would learn G's mistakes as the truth
            codes = self.cond.codes(batch.labels)
            ce = self.aux_loss(scores.real_heads, codes)
            stats.update(d_aux_real=ce.detach(), aux_acc_real=self.aux_accuracy(scores.real_heads, codes))
            loss = cc.classifier_weight * ce if loss is None else loss + cc.classifier_weight * ce
        return loss, stats

    def g_extra(self, scores):
        w = self.cfg.cond.classifier_weight
        if w <= 0:
            return None, {}
        codes = scores.inputs["codes"]
        ce = self.aux_loss(scores.fake_heads, codes)
        return w * ce, {"g_aux": ce.detach(), "aux_acc_fake": self.aux_accuracy(scores.fake_heads, codes)}

    # --- sampling -------------------------------------------------------------------------------
    def sample_inputs(self, n, generator=None, cond=None):
        """Noise and [n, A] codes; ``cond`` fixes attributes by value name or code, e.g. {"hair": "blue"};
        the others are drawn at random."""
        codes = self.cond.parse(cond, n, generator)
        return {"z": self.latent(n, generator=generator, device="cpu"), "codes": codes}

    def condition_specs(self):
        return [ConditionSpec(name, "attribute", list(self.cond.values[name])) for name in self.cond.names]

    def requested_labels(self, inputs):
        return {name: inputs["codes"][:, i].cpu() for i, name in enumerate(self.cond.names)}

    def condition_codes(self, cond: dict, codes: torch.Tensor) -> torch.Tensor:
        """``codes`` [n, A] with the attributes named in ``cond`` set (value names or codes)."""
        codes = codes.clone()
        for name, v in cond.items():
            if name not in self.cond.names:
                raise ConfigError(f"unknown attribute {name!r}; this model is conditioned on: "
                                  f"{', '.join(self.cond.names)}")
            codes[:, self.cond.names.index(name)] = self.cond.value_code(name, v)
        return codes

    @torch.no_grad()
    def generate_mixed(self, inputs: dict, codes_b: torch.Tensor, alpha: float) -> torch.Tensor:
        """Samples at the noise of ``inputs`` whose attribute embeddings are ``alpha`` x those of inputs' codes
        plus (1 - alpha) x those of ``codes_b`` (interpolation between two tag sets)."""
        G = unwrap(self.sampling_G())
        z, ca, cb = (inputs["z"].to(self.device), inputs["codes"].to(self.device), codes_b.to(self.device))
        embs = [alpha * emb(ca[:, i]) + (1 - alpha) * emb(cb[:, i]) for i, emb in enumerate(G.embeds)]
        return self.image_of(G.from_embeddings(z, embs))

    def fixed_inputs(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        inputs = self.sample_inputs(n, g)
        inputs["codes"][:, 0] = torch.arange(n) % self.cond.sizes[0]  # the grid walks through the first attribute
        return {k: v.to(self.device) for k, v in inputs.items()}


class ACGAN(ConditionalGAN):
    name = "acgan"
    description = "auxiliary-classifier GAN: D also classifies each conditioned attribute"
    capabilities = Capabilities(conditions="attributes", mixes_conditions=True, reads_conditions=True,
                                sections=("cond",), needs_labels=True, pack_refusal=PACK_REFUSAL,
                                image_critic=True)

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        if cfg.cond.classifier_weight > 0:
            raise ConfigError("cond.classifier_weight is cgan's auxiliary classifier; acgan's D classifies "
                              "already, with weight cond.aux_weight")

    @torch.no_grad()
    def read_conditions(self, x):
        """The auxiliary classifier's reading of each attribute from images ``x``."""
        _, heads = self.D(x.to(self.device))
        return {name: l.argmax(1).cpu() for name, l in zip(self.cond.names, heads["aux"])}

    def build_D(self):
        D = Critic(self.cfg.model, self.data_info.shape)
        D.add_head("aux", AuxHeads(D.feature_dim, self.cond.sizes))
        return D

    def critic_out(self, d_in, cond):
        return self.D(d_in)

    def d_extra(self, batch, scores):
        codes = self.cond.codes(batch.labels)
        real_ce = self.aux_loss(scores.real_heads, codes)
        fake_ce = self.aux_loss(scores.fake_heads, scores.inputs["codes"])
        stats = {"d_aux_real": real_ce.detach(), "d_aux_fake": fake_ce.detach(),
                 "aux_acc_real": self.aux_accuracy(scores.real_heads, codes)}
        return self.cfg.cond.aux_weight * (real_ce + fake_ce), stats

    def g_extra(self, scores):
        codes = scores.inputs["codes"]
        ce = self.aux_loss(scores.fake_heads, codes)
        return self.cfg.cond.aux_weight * ce, {"g_aux": ce.detach(),
                                               "aux_acc_fake": self.aux_accuracy(scores.fake_heads, codes)}


class AuxHeads(nn.Module):
    """One linear classifier per attribute on D's flattened features (a binary attribute is 2 classes)."""

    def __init__(self, feature_dim: int, sizes):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(feature_dim, k) for k in sizes)
        for h in self.heads:
            nn.init.normal_(h.weight, 0.0, 0.02)
            nn.init.zeros_(h.bias)

    def forward(self, h):
        return [head(h) for head in self.heads]
