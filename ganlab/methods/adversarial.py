"""What every adversarial method shares: the update schedule, the optimizer steps, D's regularisers and the
tricks on D's inputs, around the method's D phase and G phase.

One iteration of the loop is ``train_step``: it sets the learning rates for the step, runs D's update
(``d_step``: the method's ``d_objective``, then the optimizer and weight clipping), and after every
``train.n_critic`` D updates runs ``train.n_gen`` G updates (``g_step``: the method's ``g_objective``, the
optimizers and the moving average of G); with ``tricks.dynamic`` each update repeats on the batch while its loss
is above a threshold. What D's phase hands to G's (the generated batch with G's graph, when G's phase can reuse
it) is passed explicitly, as a ``Fakes``. ``ganlab.methods.gan.GAN`` writes the two phases themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganlab.config import Config
from ganlab.errors import ConfigError
from ganlab.methods import objectives, tricks
from ganlab.methods.base import Batch, Method
from ganlab.methods.losses import Loss, check_loss, get_loss
from ganlab.models import unwrap


@dataclass
class Fakes:
    """What D's phase generated for a batch, with G's graph kept, for the G phase right after it on the same
    batch: the generator inputs and G's output."""
    batch: Batch
    inputs: dict
    out: object


def process_mean(value: torch.Tensor) -> torch.Tensor:
    """``value`` averaged over all processes under torchrun (a collective, no host sync), else itself: statistics
    kept across steps (LeCam's averages) and the losses that decide dynamic repeats then agree on every process."""
    import torch.distributed as td
    if td.is_available() and td.is_initialized() and td.get_world_size() > 1:
        value = value.detach().float().clone()
        td.all_reduce(value)
        value = value / td.get_world_size()
    return value


class AdversarialMethod(Method):
    """The D/G update schedule shared by every adversarial method, with the tricks of ``cfg.tricks``.

    A subclass builds ``self.G`` and ``self.D`` (and whatever else it trains), lists them in ``networks()``,
    sets ``self.opt_d`` and ``self.g_optims`` (the optimizers stepped in the G step), and writes
    ``d_objective(batch) -> (loss, stats, fakes or None)`` and ``g_objective(batch, fakes) -> (loss, stats)``.
    Inside these it routes every input of D through ``d_view`` and scores with ``self.loss``, the entry of the
    loss table (``ganlab.methods.losses``) that ``objective.loss`` names."""

    def __init__(self, cfg, data_info, device):
        super().__init__(cfg, data_info, device)
        self.loss: Loss = get_loss(self.loss_name(cfg))
        # two clocks of D (saved as "d_steps" and "d_update_count"): the iterations that ran D's phase, which
        # decides when G's turn comes (every n_critic-th), and D's optimizer updates (dynamic repeats count each),
        # which decides when lazy R1 is due
        self.d_iterations = 0
        self.d_updates = 0
        self.lecam_ema: torch.Tensor | None = None  # LeCam: [EMA of D's mean output on real, on fake], on device
        tc = cfg.tricks
        self.ada = tricks.AdaptiveAugment(tricks.ada_target(tc), tc.ada_interval, tc.ada_images,
                                          cfg.train.batch_size, self.device, process_mean,
                                          tc.ada_heuristic) if tc.ada else None
        self.ada_held_out: Batch | None = None  # the rv heuristic's images, never trained on (hold_out_for_d)
        self.G_ema: nn.Module | None = None
        self._ema_stale = False  # G_ema's weights moved since its batch-norm statistics were measured

    @classmethod
    def loss_name(cls, cfg: Config) -> str:
        """The loss table's entry this method trains with (``objective.loss``)."""
        return cfg.objective.loss

    @classmethod
    def validate(cls, cfg: Config) -> None:
        tricks.validate(cfg)
        check_loss(cfg, cls.loss_name(cfg))
        m, refusal = cfg.tricks.pack, cls.capabilities.pack_refusal
        if m > 1 and refusal:
            raise ConfigError(f"tricks.pack={m} with method={cls.name}: {refusal}; use tricks.pack=1")

    def g_per_iteration(self) -> float:
        return self.cfg.train.n_gen / self.cfg.train.n_critic

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

    def sampling_G(self) -> nn.Module:
        """The generator used for samples: the EMA copy when there is one (its batch-norm statistics
        recomputed for its own weights first, when they are stale)."""
        if self.G_ema is None:
            return self.G
        self.prepare_output()
        return self.G_ema

    def sampling_generator(self) -> nn.Module:
        return unwrap(self.sampling_G())

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
        if self.ada is not None:
            x = tricks.ada_augment(x, self.ada.p)
        x = tricks.add_noise(x, self.noise_std())
        return tricks.pack(x, tc.pack) if tc.pack > 1 else x

    def targets(self, n: int, device):
        """D's (real, fake) targets for ``n`` inputs: soft or noisy labels where the loss has targets, else
        (None, None)."""
        if not self.loss.targets:
            return None, None
        return tricks.label_targets(self.cfg.tricks, n, device)

    # --- D's regularisers -------------------------------------------------------------------------
    def regularise(self, loss, stats, critic, real_in, fake_in, real_logits, fake_logits):
        """D's loss with the regularisers of ``cfg.objective`` that apply, outside autocast (their passes and
        gradients are float32). ``critic`` scores inputs like ``real_in``/``fake_in`` (tensors, or lists/tuples of
        parts) with the real data's condition."""
        oc = self.cfg.objective
        # the gradient penalty on real/fake interpolates, where the loss has one (WGAN-GP)
        if self.loss.penalty:
            gp = objectives.gradient_penalty(critic, real_in, fake_in)
            stats["gp"] = gp.detach()
            loss = loss + oc.gp_lambda * gp
        # lazy R1 (Mescheder et al. 2018) on the real inputs exactly as D saw them: r1_gamma / 2 * r1_every *
        # E||grad D||^2 on every r1_every-th D update, the first one included
        if oc.r1_gamma > 0 and self.d_updates % oc.r1_every == 0:
            r1 = objectives.r1_penalty(critic, real_in)
            stats["r1"] = r1.detach()
            loss = loss + (0.5 * oc.r1_gamma * oc.r1_every) * r1
        # LeCam (Tseng et al. 2021): D's outputs pulled towards the moving averages of its outputs on the other
        # side; the averages start at the first update's means, stay on the device and go into checkpoints
        if oc.lecam_weight > 0:
            real, fake = real_logits.float(), fake_logits.float()
            means = process_mean(torch.stack([real.detach().mean(), fake.detach().mean()]))
            ema = self.lecam_ema
            self.lecam_ema = means if ema is None else oc.lecam_decay * ema + (1 - oc.lecam_decay) * means
            term = objectives.lecam(real, fake, self.lecam_ema[0], self.lecam_ema[1])
            stats["lecam"] = term.detach()
            loss = loss + oc.lecam_weight * term
        # adaptive augmentation: D's signs on the real inputs steer the probability of augmenting (not a loss term)
        if self.ada is not None:
            held = self.held_out_logits() if self.ada.wants_held_out() else None
            self.ada.observe(real_logits[0] if isinstance(real_logits, (list, tuple)) else real_logits, held)
            stats["ada_p"], stats["ada_r"] = self.ada.p, self.ada.r
        return loss

    # --- the images D is checked on for overfitting (ADA's rv heuristic) -------------------------------------
    def d_held_out_indices(self, n: int) -> torch.Tensor | None:
        """The items of an n-item data set held out of training so that ADA's ``rv`` heuristic can compare D's
        outputs on images it never trained on (``tricks.ada_held_out_count`` of them, drawn with the run's seed);
        None when nothing is held out."""
        if self.ada is None or self.ada.heuristic != "rv":
            return None
        g = torch.Generator().manual_seed(self.cfg.train.seed)
        return torch.randperm(n, generator=g)[:tricks.ada_held_out_count(n)].sort().values

    def training_indices(self, n: int) -> torch.Tensor | None:
        held = self.d_held_out_indices(n)
        if held is None:
            return None
        keep = torch.ones(n, dtype=torch.bool)
        keep[held] = False
        return keep.nonzero().flatten()

    def hold_out_for_d(self, batch: Batch) -> None:
        """Keep ``batch`` (the items of ``d_held_out_indices``, scaled like the training batches, on the device)."""
        self.ada_held_out = batch

    def real_logits(self, batch: Batch) -> torch.Tensor:
        """D's logits [B] for real ``batch`` as D sees real data in training (augmented, with its condition)."""
        raise NotImplementedError

    @torch.no_grad()
    def held_out_logits(self) -> torch.Tensor:
        """D's logits on a batch of the held-out images (the training batch size, drawn at random with
        replacement: a batch D can take whatever the packing), in training mode as D scores its training images
        (batch statistics) but leaving no trace in D (``tricks.leaving_no_trace``): images never trained on
        must not move batch norm's running statistics or a spectral norm's power iteration."""
        held = self.ada_held_out
        if held is None:
            raise RuntimeError("ADA's rv heuristic needs the held-out images: the loop hands them over with "
                               "hold_out_for_d before training")
        idx = torch.randint(len(held), (self.cfg.train.batch_size,), device=held.x.device)
        with tricks.leaving_no_trace(list(self.networks().values())):
            return self.real_logits(Batch(held.x[idx], {k: v[idx] for k, v in held.labels.items()})).float()

    # --- the update schedule -----------------------------------------------------------------------------
    def d_objective(self, batch: Batch):
        """D's loss on ``batch``: (loss, stats, fakes for G's phase or None)."""
        raise NotImplementedError

    def g_objective(self, batch: Batch, fakes: Fakes | None = None):
        """G's loss on ``batch`` (reusing ``fakes`` from D's phase where given): (loss, stats)."""
        raise NotImplementedError

    def d_step(self, batch: Batch) -> tuple[dict, Fakes | None]:
        """One update of D: its phase, the optimizer, weight clipping (wgan). Returns (stats, fakes)."""
        loss, stats, fakes = self.d_objective(batch)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.d_updates += 1
        clip = self.cfg.objective.clip
        if self.loss.critic and clip is not None:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-clip, clip)
        stats["d_loss"] = loss.detach()
        return stats, fakes

    def g_step(self, batch: Batch, fakes: Fakes | None = None) -> dict:
        """One update of G (and whatever trains with it): its phase, the optimizers, the moving average."""
        loss, stats = self.g_objective(batch, fakes)
        for opt in self.g_optims:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.g_optims:
            opt.step()
        if self.G_ema is not None:
            tc = self.cfg.tricks
            tricks.ema_update(self.G_ema, unwrap(self.G), tricks.ema_decay(tc.ema, tc.ema_rampup, self.g_steps))
            self._ema_stale = True
        stats["g_loss"] = loss.detach()
        return stats

    def reuses_fake(self) -> bool:
        """One G step right after each D step on the same batch: the G step reuses the D step's fake batch (as
        the classic DCGAN loop does), which saves a generator forward pass per iteration."""
        tc = self.cfg.train
        return tc.n_critic == 1 and tc.n_gen == 1 and not self.cfg.tricks.dynamic

    def train_step(self, batch: Batch) -> dict:
        tc, tk = self.cfg.train, self.cfg.tricks
        self.schedule.set_learning_rates(self.optimizers().values(), self.g_steps)
        if not tk.dynamic:
            stats, fakes = self.d_step(batch)
            self.d_iterations += 1
            if self.d_iterations % tc.n_critic == 0:
                for _ in range(tc.n_gen):
                    stats.update(self.g_step(batch, fakes))
                    fakes = None  # G's graph is spent by the first G update
                    self.g_steps += 1
            return stats
        # dynamic update counts: repeat each network's update on this batch while its loss (measured in the
        # update) is above its threshold, up to a cap. Deciding needs the loss on the host: one sync per update.
        d_repeats = g_repeats = 0
        for _ in range(tk.max_d_repeats):
            stats, _ = self.d_step(batch)
            d_repeats += 1
            if process_mean(stats["d_loss"]).item() < tk.d_threshold:
                break
        self.d_iterations += 1
        if self.d_iterations % tc.n_critic == 0:
            for _ in range(tc.n_gen):
                for _ in range(tk.max_g_repeats):
                    gs = self.g_step(batch)
                    g_repeats += 1
                    if process_mean(gs["g_loss"]).item() < tk.g_threshold:
                        break
                stats.update(gs)
                self.g_steps += 1
        # on the method's device like every other statistic (a fill, not a copy from the host)
        stats["d_updates"] = torch.full((), float(d_repeats), device=self.device)
        stats["g_updates"] = torch.full((), float(g_repeats), device=self.device)
        return stats

    def extra_state(self) -> dict:
        return {**super().extra_state(), "d_steps": self.d_iterations, "d_update_count": self.d_updates,
                "lecam_ema": self.lecam_ema, **({"ada": self.ada.state()} if self.ada is not None else {})}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.d_iterations = int(state.get("d_steps", 0))
        self.d_updates = int(state.get("d_update_count", self.d_iterations))  # older checkpoints: one per step
        ema = state.get("lecam_ema")
        self.lecam_ema = None if ema is None else ema.to(self.device, torch.float32)
        if self.ada is not None and state.get("ada") is not None:
            self.ada.load(state["ada"])
