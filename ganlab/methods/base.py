"""What every method shares: the data description, batches, and the update schedule.

A method owns its networks, optimizers and training step; the loop in ``ganlab.train`` only
feeds it batches, asks it for samples and saves what ``state()`` returns. ``AdversarialMethod``
implements the D:G update schedule (``n_critic`` D steps per G step, or ``n_gen`` G steps per D
step, or dynamic repeats) and the training tricks once, for every adversarial method, on top of a
method's ``d_objective``/``g_objective``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ganlab import precision
from ganlab.config import Config
from ganlab.errors import ConfigError
from ganlab.methods import objectives, tricks


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
    - ``sections``: config sections only this method reads (elsewhere their values mean nothing).
    """
    conditions: str | None = None
    encoder: str | None = None
    held_out: str | None = None
    reads_conditions: bool = False
    mixes_conditions: bool = False
    sections: tuple = ()


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
    needs_labels = False
    description = ""
    capabilities = Capabilities()

    def __init__(self, cfg: Config, data_info: DataInfo, device: torch.device):
        self.cfg, self.data_info, self.device = cfg, data_info, torch.device(device)
        self.g_steps = 0  # generator updates so far: what train.steps caps

    @classmethod
    def validate(cls, cfg: Config) -> None:
        """Raise ConfigError for settings this method cannot use."""

    # --- what the loop uses -------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Networks by name; each name is also the attribute that holds it (the loop may wrap them)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

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

    def training_indices(self, n: int) -> torch.Tensor | None:
        """The items of an n-item data set to train on (None: all). Methods that report a held-out
        score (the VAE's test MSE) leave their test part out here."""
        return None

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


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (the loop may wrap a method's networks)."""
    return getattr(module, "module", module) if type(module).__name__ == "DistributedDataParallel" else module


def _mean_over_processes(value: torch.Tensor) -> float:
    """A loss as a host number, averaged over all processes under torchrun so that every process takes the same
    number of dynamic repeats (their collective operations must match)."""
    import torch.distributed as td
    if td.is_available() and td.is_initialized() and td.get_world_size() > 1:
        value = value.detach().float().clone()
        td.all_reduce(value)
        value /= td.get_world_size()
    return value.item()


def _average_over_processes(value: torch.Tensor) -> torch.Tensor:
    """``value`` averaged over all processes under torchrun (a collective, no host sync), else itself: statistics
    a method keeps across steps (LeCam's moving averages) then stay the same on every process."""
    import torch.distributed as td
    if td.is_available() and td.is_initialized() and td.get_world_size() > 1:
        value = value.clone()
        td.all_reduce(value)
        value = value / td.get_world_size()
    return value


def validate_tricks(cfg: Config) -> None:
    """Refuse trick settings that cannot work or would silently do nothing."""
    tc, loss = cfg.tricks, cfg.objective.loss
    for name in ("real_label", "fake_label"):
        v = getattr(tc, name)
        if v is None:
            continue
        if (len(v) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in v)
                or not 0 <= v[0] <= v[1] <= 1):
            raise ConfigError(f"tricks.{name}: expected [lo, hi] with 0 <= lo <= hi <= 1, got {v!r}")
    if tc.label_noise_beta is not None:
        v = tc.label_noise_beta
        if len(v) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and a > 0 for a in v):
            raise ConfigError(f"tricks.label_noise_beta: expected [a, b], two positive numbers, got {v!r}")
    if tricks.uses_label_targets(tc) and loss != "bce":
        used = [k for k in ("real_label", "fake_label", "label_noise_beta") if getattr(tc, k) is not None]
        raise ConfigError(
            f"tricks.{used[0]} with objective.loss={loss}: soft and noisy labels change the targets of the "
            "binary cross-entropy; a Wasserstein or hinge critic has no targets. Use objective.loss=bce or drop it.")
    if tc.one_sided and tc.fake_label is not None:
        raise ConfigError("tricks.one_sided=true with tricks.fake_label: one-sided smoothing leaves the fake "
                          "targets at 0; drop fake_label or one_sided.")
    if tc.one_sided and not tricks.uses_label_targets(tc):
        raise ConfigError("tricks.one_sided=true has no effect without tricks.real_label or tricks.label_noise_beta")
    if tc.instance_noise_anneal and tc.instance_noise <= 0:
        raise ConfigError("tricks.instance_noise_anneal=true needs tricks.instance_noise > 0 (the level to anneal)")
    bad = [p for p in tc.diffaug if p not in tricks.DIFFAUG_POLICIES]
    if bad:
        raise ConfigError(f"tricks.diffaug: {bad[0]!r} is not an augmentation; choose from: "
                          f"{', '.join(tricks.DIFFAUG_POLICIES)}")
    if tc.diffaug and cfg.data.is_points():
        raise ConfigError(f"tricks.diffaug={tc.diffaug} with data.source={cfg.data.source}: DiffAugment changes "
                          "images (colour, shifts, cut-outs); 2-D points have none. Drop tricks.diffaug.")
    if tc.ema is not None and not 0 < tc.ema < 1:
        raise ConfigError(f"tricks.ema: {tc.ema} is not a decay; give a number between 0 and 1, e.g. 0.999")


class AdversarialMethod(Method):
    """The D/G step path shared by every adversarial method, with the tricks of ``cfg.tricks``.

    A subclass builds ``self.G`` and ``self.D`` (and whatever else it trains), lists them in
    ``networks()``, sets ``self.opt_d`` and ``self.g_optims`` (the optimizers stepped in the G step), and
    implements ``d_objective(batch)`` / ``g_objective(batch)`` -> (loss, stats). Inside these it routes every
    input of D through ``d_view`` (DiffAugment and instance noise) and scores with ``adv_d_loss`` /
    ``adv_g_loss`` / ``fake_term`` (label targets). This class does the rest: optimizer steps, weight
    clipping, the gradient penalty helper, the update schedule (``n_critic``/``n_gen`` or dynamic repeats),
    and the EMA copy of G.

    ``total_steps`` (planned generator steps) is set by the loop when it knows it; it is only used to
    anneal the instance noise, falling back to ``train.steps`` and then to no annealing."""

    def __init__(self, cfg, data_info, device):
        super().__init__(cfg, data_info, device)
        self.d_steps = 0
        self.d_update_count = 0  # D optimizer steps so far (dynamic repeats count each): lazy R1's clock
        self.lecam_ema: torch.Tensor | None = None  # LeCam: [EMA of D's mean output on real, on fake], on device
        self.total_steps: int | None = None
        self.G_ema: nn.Module | None = None
        self._ema_stale = False  # G_ema's weights moved since its batch-norm statistics were measured

    # why D cannot score packed inputs (None: it can): a method whose D scores each sample against something of
    # its own (a condition, a code, an encoding, several scales) says so here, and tricks.pack > 1 is refused
    pack_refusal: str | None = None

    @classmethod
    def validate(cls, cfg: Config) -> None:
        validate_tricks(cfg)
        m = cfg.tricks.pack
        if m > 1 and cls.pack_refusal:
            raise ConfigError(f"tricks.pack={m} with method={cls.name}: {cls.pack_refusal}; use tricks.pack=1")
        if m > 1 and cfg.train.batch_size % m:
            raise ConfigError(f"tricks.pack={m} with train.batch_size={cfg.train.batch_size}: D scores groups of "
                              f"{m} samples, so the batch size must be a multiple of {m}")

    # --- networks ------------------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def setup_ema(self) -> None:
        """Call after building G: keeps the moving average of G as module ``G_ema`` when tricks.ema is set."""
        if self.cfg.tricks.ema is not None:
            self.G_ema = tricks.make_ema(unwrap(self.G))

    def modules(self) -> dict[str, nn.Module]:
        mods = dict(self.networks())
        if self.G_ema is not None:
            mods["G_ema"] = self.G_ema
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def sampling_G(self) -> nn.Module:
        """The generator used for samples: the EMA copy when there is one (its batch-norm statistics
        recomputed for its own weights first, when they are stale)."""
        if self.G_ema is None:
            return self.G
        self.prepare_output()
        return self.G_ema

    # seed of the noise the EMA generator's batch-norm statistics are measured on: its own stream, so measuring
    # never moves the training's random numbers (a resumed run stays bit-identical)
    EMA_STATS_SEED = 0x5EED
    EMA_STATS_BATCHES = 16

    def prepare_output(self) -> None:
        """Before samples or a checkpoint: under ``tricks.ema_stats=recompute``, the EMA generator's batch-norm
        statistics are measured anew on its own outputs (BigGAN's "standing statistics"), if G has moved since.
        The live G's statistics belong to the live G's weights; on the averaged weights they mismatch, more so
        the longer the average's horizon."""
        if self.G_ema is None or not self._ema_stale or self.cfg.tricks.ema_stats != "recompute":
            return
        tricks.recompute_bn_stats(self.G_ema, lambda g: self.sample_inputs(self.cfg.train.batch_size, g),
                                  lambda G, inputs: self.run_G(G, inputs), self.device,
                                  self.EMA_STATS_BATCHES, self.EMA_STATS_SEED)
        self._ema_stale = False

    def train(self, mode: bool = True) -> None:
        for name, m in self.modules().items():
            m.train(mode and name != "G_ema")

    # --- tricks on D's inputs and targets ---------------------------------------------------------
    def noise_std(self) -> float:
        tc = self.cfg.tricks
        total = self.total_steps if self.total_steps is not None else self.cfg.train.steps
        return tricks.instance_noise_std(tc.instance_noise, tc.instance_noise_anneal, self.g_steps, total)

    def d_view(self, x):
        """What D sees of a (real or generated) input: DiffAugment, then instance noise, then packing
        (``tricks.pack`` samples per D input; only methods whose ``pack_refusal`` is None allow it). ``x`` may be
        a list of the same batch at several scales."""
        tc = self.cfg.tricks
        if tc.diffaug:
            x = tricks.diff_augment(x, tc.diffaug)
        x = tricks.add_noise(x, self.noise_std())
        return tricks.pack(x, tc.pack) if tc.pack > 1 else x

    def targets(self, n: int, device):
        return tricks.label_targets(self.cfg.tricks, n, device)

    def adv_d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor):
        kind = self.cfg.objective.loss
        rt, ft = self.targets(real_logits.shape[0], real_logits.device) if kind == "bce" else (None, None)
        if ft is not None and ft.shape[0] != fake_logits.shape[0]:
            ft = ft[: fake_logits.shape[0]]
        return objectives.d_loss(kind, real_logits.float(), fake_logits.float(), rt, ft)

    def fake_term(self, logits: torch.Tensor) -> torch.Tensor:
        """D's loss for inputs it should call fake (mismatched pairs), with the same targets as fakes."""
        kind, logits = self.cfg.objective.loss, logits.float()
        if kind == "bce":
            _, ft = self.targets(logits.shape[0], logits.device)
            ft = torch.zeros_like(logits) if ft is None else ft
            return F.binary_cross_entropy_with_logits(logits, ft)
        if kind == "hinge":
            return F.relu(1 + logits).mean()
        return logits.mean()

    def adv_g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return objectives.g_loss(self.cfg.objective.loss, fake_logits.float())

    def penalty(self, critic, real, fake) -> torch.Tensor:
        """WGAN-GP term for inputs that are tensors or lists of tensors (several scales, or (x, z) pairs):
        one interpolation weight per sample, gradient norm over all the parts together."""
        if torch.is_tensor(real):
            return objectives.gradient_penalty(critic, real, fake)
        n = real[0].shape[0]
        alpha = torch.rand(n, device=real[0].device, dtype=real[0].dtype)
        hats = [(alpha.view(-1, *([1] * (r.dim() - 1))) * r.detach()
                 + (1 - alpha.view(-1, *([1] * (r.dim() - 1)))) * f.detach()).requires_grad_(True)
                for r, f in zip(real, fake)]
        out = critic(type(real)(hats))
        grads = torch.autograd.grad(out.sum(), hats, create_graph=True)
        norm = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads) + 1e-12)
        return ((norm - 1) ** 2).mean()

    def add_penalty(self, loss, stats, critic, real, fake):
        if self.cfg.objective.loss != "wgan-gp":
            return loss
        gp = self.penalty(critic, real, fake)
        stats["gp"] = gp.detach()
        return loss + self.cfg.objective.gp_lambda * gp

    def r1_due(self) -> bool:
        """Whether this D update takes the (lazy) R1 penalty: every ``objective.r1_every``-th update, the first
        one included."""
        oc = self.cfg.objective
        return oc.r1_gamma > 0 and self.d_update_count % oc.r1_every == 0

    def add_r1(self, loss, stats, critic, real):
        """R1 (Mescheder et al. 2018) on ``real``, the real inputs exactly as D saw them (augmented, noised,
        packed; a tensor or a list/tuple of parts), scored by ``critic`` (with the real data's condition):
        ``r1_gamma / 2 * r1_every * E||grad D||^2`` on the updates ``r1_due`` picks. Call it outside autocast
        (as ``add_penalty``): the penalty's pass and its gradient are float32. ``stats["r1"]`` is the mean
        squared gradient norm, only on the updates that take it."""
        if not self.r1_due():
            return loss
        oc = self.cfg.objective
        r1 = objectives.r1_penalty(critic, real)
        stats["r1"] = r1.detach()
        return loss + (0.5 * oc.r1_gamma * oc.r1_every) * r1

    def add_lecam(self, loss, stats, real_logits: torch.Tensor, fake_logits: torch.Tensor):
        """LeCam regularisation (Tseng et al. 2021): the moving averages of D's mean output on real and on
        generated inputs are updated with this update's logits (the first update starts them there), then
        ``lecam_weight * (mean((D(real) - ema_fake)^2) + mean((D(fake) - ema_real)^2))`` is added. The averages
        stay on the device (no host sync) and are saved with the checkpoint."""
        oc = self.cfg.objective
        if oc.lecam_weight <= 0:
            return loss
        real, fake = real_logits.float(), fake_logits.float()
        means = _average_over_processes(torch.stack([real.detach().mean(), fake.detach().mean()]))
        ema = self.lecam_ema
        self.lecam_ema = means if ema is None else oc.lecam_decay * ema + (1 - oc.lecam_decay) * means
        term = objectives.lecam(real, fake, self.lecam_ema[0], self.lecam_ema[1])
        stats["lecam"] = term.detach()
        return loss + oc.lecam_weight * term

    def regularise(self, loss, stats, critic, real_in, fake_in, real_logits, fake_logits):
        """D's loss with the regularisers of ``cfg.objective`` that apply: the WGAN-GP penalty, lazy R1 and
        LeCam. ``critic`` scores inputs like ``real_in``/``fake_in`` with the real data's condition. Outside
        autocast."""
        loss = self.add_penalty(loss, stats, critic, real_in, fake_in)
        loss = self.add_r1(loss, stats, critic, real_in)
        return self.add_lecam(loss, stats, real_logits, fake_logits)

    # --- the steps -----------------------------------------------------------------------------------
    def d_objective(self, batch: Batch):
        raise NotImplementedError

    def g_objective(self, batch: Batch):
        raise NotImplementedError

    def d_step(self, batch: Batch) -> dict:
        loss, stats = self.d_objective(batch)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.d_update_count += 1
        if self.cfg.objective.loss == "wgan" and self.cfg.objective.clip is not None:
            clip = self.cfg.objective.clip
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-clip, clip)
        stats["d_loss"] = loss.detach()
        return stats

    def g_step(self, batch: Batch) -> dict:
        loss, stats = self.g_objective(batch)
        for opt in self.g_optims:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.g_optims:
            opt.step()
        if self.G_ema is not None:
            tricks.ema_update(self.G_ema, unwrap(self.G), self.cfg.tricks.ema)
            self._ema_stale = True
        stats["g_loss"] = loss.detach()
        return stats

    def train_step(self, batch: Batch) -> dict:
        tc, tk = self.cfg.train, self.cfg.tricks
        if not tk.dynamic:
            stats = self.d_step(batch)
            self.d_steps += 1
            if self.d_steps % tc.n_critic == 0:
                for _ in range(tc.n_gen):
                    stats.update(self.g_step(batch))
                    self.g_steps += 1
            return stats
        # dynamic update counts: repeat each network's update on this batch while its loss (measured in the
        # update) is above its threshold, up to a cap. Deciding needs the loss on the host: one sync per update.
        d_updates = g_updates = 0
        for _ in range(tk.max_d_repeats):
            stats = self.d_step(batch)
            d_updates += 1
            if _mean_over_processes(stats["d_loss"]) < tk.d_threshold:
                break
        self.d_steps += 1
        if self.d_steps % tc.n_critic == 0:
            for _ in range(tc.n_gen):
                for _ in range(tk.max_g_repeats):
                    gs = self.g_step(batch)
                    g_updates += 1
                    if _mean_over_processes(gs["g_loss"]) < tk.g_threshold:
                        break
                stats.update(gs)
                self.g_steps += 1
        stats["d_updates"] = torch.tensor(float(d_updates))
        stats["g_updates"] = torch.tensor(float(g_updates))
        return stats

    def extra_state(self) -> dict:
        return {**super().extra_state(), "d_steps": self.d_steps, "d_update_count": self.d_update_count,
                "lecam_ema": self.lecam_ema}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.d_steps = int(state.get("d_steps", 0))
        self.d_update_count = int(state.get("d_update_count", self.d_steps))  # older checkpoints: one per step
        ema = state.get("lecam_ema")
        self.lecam_ema = None if ema is None else ema.to(self.device, torch.float32)
