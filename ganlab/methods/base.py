"""What every method is: the data description, batches, what a method declares it can do, and ``Method``.

A method owns its networks, optimizers, schedule and training step; the loop in ``ganlab.train`` only
feeds it batches, asks it for samples and saves what ``state()`` returns. Adversarial methods share their
step in ``ganlab.methods.adversarial`` (the update schedule and the tricks) and ``ganlab.methods.gan`` (the
D phase and the G phase).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ganlab import precision
from ganlab.config import Config
from ganlab.errors import ConfigError
from ganlab.methods.schedule import Schedule
from ganlab.models import unwrap


@dataclass
class DataInfo:
    """What a method needs to know about its data: enough to rebuild it from a checkpoint alone."""
    kind: str                      # "images" or "points"
    shape: tuple                   # (C, H, W) or (2,)
    attributes: dict = field(default_factory=dict)  # name -> list of value names
    output: str = "tanh"           # how images are scaled for the networks (see ganlab.data.to_float)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "attributes": self.attributes, "output": self.output}

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        return cls(d["kind"], tuple(d["shape"]), dict(d.get("attributes", {})), d.get("output", "tanh"))


@dataclass
class Batch:
    x: torch.Tensor                                  # float, already scaled for the networks
    labels: dict = field(default_factory=dict)       # attribute name -> int64 codes [B]

    def __len__(self):
        return self.x.shape[0]


@dataclass(frozen=True)
class Capabilities:
    """What a method can do, declared on its class so that the loop, evaluation, the exploration commands and
    the report ask instead of probing attributes or comparing method names.

    - ``conditions``: what a sample can be asked for: None (unconditional), "attributes" (values of the data's
      attributes: hair=blue, digit=3) or "codes" (latent codes the method invents: InfoGAN's c0, c1);
    - ``encoder``: what ``encode(x)`` gives, in words ("posterior mean", "E(x)"), where the method has an
      encoder (VAE, BiGAN; ``reconstruct(x)`` too), else None;
    - ``held_out``: the name of a score on held-out data the method reports every epoch (``held_out_score``);
    - ``reads_conditions``: the method's own networks read the conditions back from images
      (``read_conditions``): ACGAN's auxiliary classifier, InfoGAN's Q;
    - ``mixes_conditions``: ``generate_mixed`` interpolates between two condition sets at fixed noise;
    - ``sections``: config sections only this method reads (elsewhere their values mean nothing);
    - ``needs_labels``: the method trains on the data's attributes (the loop refuses data without any);
    - ``pack_refusal``: why D cannot score packed inputs (``tricks.pack`` > 1), or None where it can: a D that
      scores each sample against something of its own (a condition, a code, an encoding, several scales);
    - ``image_critic``: D scores one image at a time, so its convolutions can serve as image features (GAN
      inversion's feature loss) where it is not packed.
    """
    conditions: str | None = None
    encoder: str | None = None
    held_out: str | None = None
    reads_conditions: bool = False
    mixes_conditions: bool = False
    sections: tuple = ()
    needs_labels: bool = False
    pack_refusal: str | None = None
    image_critic: bool = False


@dataclass(frozen=True)
class LatentPrior:
    """The distribution z is drawn from: ``kind`` "normal" (N(0, I)), "uniform" (on [-1, 1] per coordinate) or
    "mixture" (a centre drawn uniformly from ``centres`` [k, dim], plus N(0, I))."""
    kind: str = "normal"
    centres: torch.Tensor | None = None


@dataclass(frozen=True)
class ConditionSpec:
    """One thing a conditional method can be asked for: an attribute with named values, a categorical code
    (values 0..k-1) or a continuous code (values None: any number, trained on [-1, 1])."""
    name: str
    kind: str                      # "attribute", "categorical" or "continuous"
    values: list | None = None


class Method:
    """Base of all methods. Subclasses set ``name`` and build their networks in ``__init__``."""
    name = "base"
    description = ""
    capabilities = Capabilities()

    def __init__(self, cfg: Config, data_info: DataInfo, device: torch.device):
        self.cfg, self.data_info, self.device = cfg, data_info, torch.device(device)
        self.g_steps = 0  # generator updates so far: what train.steps caps
        self.schedule = Schedule(cfg, self.g_per_iteration())

    def g_per_iteration(self) -> float:
        """Generator steps per iteration of the loop (one update per batch, unless a method says otherwise)."""
        return 1.0

    @property
    def total_steps(self) -> int | None:
        """The planned generator steps of the whole run (None until the loop has planned it)."""
        return self.schedule.total_steps

    @total_steps.setter
    def total_steps(self, value: int | None) -> None:
        self.schedule.total_steps = value

    @classmethod
    def validate(cls, cfg: Config) -> None:
        """Raise ConfigError for settings this method cannot use."""

    # --- what the loop uses -------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Networks by name; each name is also the attribute that holds it (the loop may wrap them)."""
        raise NotImplementedError

    def to_channels_last(self) -> None:
        """Every module's weights channels-last (NHWC), the layout ``train.channels_last`` trains in."""
        for m in self.modules().values():
            m.to(memory_format=torch.channels_last)

    def networks(self) -> dict[str, nn.Module]:
        """The networks that are trained (``modules()`` less copies such as G's moving average)."""
        return self.modules()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def learning_rates(self) -> dict[str, float]:
        """The rates in force now, by the setting each started from ({"d_lr", "g_lr"}, those the method has): a
        schedule moves them away from optim.d_lr and optim.g_lr. By default the optimizers named "D" and "G"."""
        opts = self.optimizers()
        return {f"{k.lower()}_lr": opts[k].param_groups[0]["lr"] for k in ("D", "G") if k in opts}

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample_inputs(self, n: int, generator: torch.Generator | None = None, cond: dict | None = None) -> dict:
        """Generator inputs for ``n`` samples, drawn on the CPU from ``generator`` (so a seed gives the same
        samples on every device). ``cond`` maps attribute names to value names or codes, for conditional
        methods."""
        raise NotImplementedError

    def fixed_inputs(self, n: int, seed: int) -> dict:
        """Inputs for the sample grid, drawn once and kept for the whole run."""
        inputs = self.sample_inputs(n, torch.Generator().manual_seed(seed))
        return {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in inputs.items()}

    def generate(self, inputs: dict) -> torch.Tensor:
        """Samples (scaled like the data the networks see) for ``fixed_inputs``-style inputs."""
        raise NotImplementedError

    def generate_differentiable(self, inputs: dict) -> torch.Tensor:
        """``generate`` with the graph kept, for inputs already on the device (GAN inversion optimises z
        through it)."""
        raise NotImplementedError

    def sampling_generator(self) -> nn.Module:
        """The network ``generate`` runs, unwrapped: G, or its moving average where the method keeps one. Its
        ``latent_layer()`` and ``early_features()`` are where label-free directions (SeFa, GANSpace) are read."""
        return unwrap(self.G)

    def latent_prior(self) -> LatentPrior:
        """The distribution ``sample_inputs`` draws z from."""
        return LatentPrior("normal")

    def image_features(self):
        """(network, score) where the method's D can serve as image features (``capabilities.image_critic`` and
        D unpacked): ``score(x, inputs)`` runs D on images scaled like the data with the generator's inputs as
        condition. None otherwise."""
        return None

    def training_indices(self, n: int) -> torch.Tensor | None:
        """The items of an n-item data set to train on (None: all). Methods that report a held-out
        score (the VAE's test MSE) leave their test part out here."""
        return None

    def d_held_out_indices(self, n: int) -> torch.Tensor | None:
        """The items of an n-item data set that the method checks its critic on and never trains on (handed over
        with ``hold_out_for_d``); None for none."""
        return None

    def hold_out_for_d(self, batch: "Batch") -> None:
        """Receive the items of ``d_held_out_indices`` as a batch on the method's device."""

    def extra_state(self) -> dict:
        return {"g_steps": self.g_steps}

    def prepare_output(self) -> None:
        """Bring what samples are drawn from up to date before samples or a checkpoint (the EMA generator's
        batch-norm statistics); nothing by default."""

    # --- what conditional methods, encoders and held-out scores add (see ``capabilities``) -------------
    def condition_specs(self) -> list[ConditionSpec]:
        """What a sample can be asked for, in order (empty for an unconditional method)."""
        return []

    def requested_labels(self, inputs: dict) -> dict | None:
        """Attribute name -> the codes [n] that ``inputs`` ask for (None unless conditioned on attributes)."""
        return None

    def read_conditions(self, x: torch.Tensor) -> dict:
        """Condition name -> what the method's own networks read from images ``x`` (scaled like the data):
        a predicted code [N] for attributes and categorical codes, an estimate [N] for continuous ones."""
        raise ConfigError(f"method {self.name} cannot read conditions back from images")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"method {self.name} has no encoder (train with method vae or bigan)")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"method {self.name} has no encoder (train with method vae or bigan)")

    def held_out_indices(self, n: int) -> torch.Tensor:
        """The items of an n-item data set that ``held_out_score`` is computed on."""
        raise ConfigError(f"method {self.name} reports no held-out score")

    def held_out_score(self, x: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"method {self.name} reports no held-out score")

    @torch.no_grad()
    def generate_in_batches(self, inputs: dict, batch_size: int = 256) -> torch.Tensor:
        """``generate`` over inputs for any number of samples, ``batch_size`` at a time; outputs on the CPU."""
        n = next(v.shape[0] for v in inputs.values() if torch.is_tensor(v))
        parts = []
        for i in range(0, n, batch_size):
            part = {k: (v[i:i + batch_size].to(self.device) if torch.is_tensor(v) else v) for k, v in inputs.items()}
            parts.append(self.generate(part).cpu())
        return torch.cat(parts)

    def load_extra_state(self, state: dict) -> None:
        self.g_steps = int(state.get("g_steps", 0))

    # --- helpers ------------------------------------------------------------------------------
    def autocast(self):
        """The context of the networks' passes in a training step: bfloat16 autocast under
        train.precision=bf16 (losses and penalties are computed outside it, or cast to float32)."""
        return precision.autocast(self.cfg.train.precision, self.device)

    def train(self, mode: bool = True) -> None:
        for m in self.modules().values():
            m.train(mode)

    def adam(self, params, lr: float, betas) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas))
