"""Training tricks shared by every adversarial method: instance noise, soft/noisy label targets,
differentiable augmentation (DiffAugment), PacGAN packing and an exponential moving average of G.

Everything here works on tensors and never syncs with the host. The methods call these from the
one shared D/G step path (``ganlab.methods.adversarial`` and ``ganlab.methods.gan``); ``validate`` refuses
trick settings that cannot work.
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ganlab.errors import ConfigError

DIFFAUG_POLICIES = ("color", "translation", "cutout")


# --------------------------------------------------------------------------- instance noise

def instance_noise_std(std: float, anneal: bool, step: int, total: int | None) -> float:
    """The noise level at generator step ``step``: ``std``, or (``anneal``) falling linearly to 0 at ``total``.

    Without a known total (``None``) there is nothing to anneal towards, so the level stays at ``std``."""
    if std <= 0:
        return 0.0
    if not anneal or not total:
        return float(std)
    return float(std) * max(0.0, 1.0 - step / float(total))


def add_noise(x, std: float):
    """``x + N(0, std^2)`` for a tensor or each tensor of a list (multi-scale inputs)."""
    if std <= 0:
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(add_noise(t, std) for t in x)
    return x + std * torch.randn_like(x)


# --------------------------------------------------------------------------- label targets

def label_targets(tc, n: int, device, dtype=torch.float32):
    """(real_target, fake_target) for a batch of ``n`` (each a [n] tensor, or None for the plain 1/0).

    - ``real_label``/``fake_label`` [lo, hi]: targets drawn uniformly from the range (label smoothing);
    - ``label_noise_beta`` [a, b]: Beta(a, b) noise subtracted from the real target, added to the fake one;
    - ``one_sided``: only the real targets change."""
    real = fake = None
    if tc.real_label is not None:
        lo, hi = (float(v) for v in tc.real_label)
        real = lo + (hi - lo) * torch.rand(n, device=device, dtype=dtype)
    if tc.fake_label is not None and not tc.one_sided:
        lo, hi = (float(v) for v in tc.fake_label)
        fake = lo + (hi - lo) * torch.rand(n, device=device, dtype=dtype)
    if tc.label_noise_beta is not None:
        a, b = (float(v) for v in tc.label_noise_beta)
        beta = _beta(a, b, torch.device(device))
        base = torch.ones(n, device=device, dtype=dtype) if real is None else real
        real = (base - beta.sample((n,)).to(dtype)).clamp(0.0, 1.0)
        if not tc.one_sided:
            base = torch.zeros(n, device=device, dtype=dtype) if fake is None else fake
            fake = (base + beta.sample((n,)).to(dtype)).clamp(0.0, 1.0)
    return real, fake


@functools.lru_cache(maxsize=16)
def _beta(a: float, b: float, device: torch.device) -> torch.distributions.Beta:
    """Beta(a, b) with its parameters on ``device``, made once per (a, b, device): built at every step it would copy
    both numbers to the device and read its argument check back (two host syncs a step on a GPU). Without the check
    (``validate_args=False``): ``validate`` has refused non-positive parameters. Sampling draws the same numbers."""
    return torch.distributions.Beta(torch.tensor(a, device=device), torch.tensor(b, device=device),
                                    validate_args=False)


def uses_label_targets(tc) -> bool:
    return tc.real_label is not None or tc.fake_label is not None or tc.label_noise_beta is not None


def augments_d_inputs(tc) -> bool:
    """Whether D's inputs are augmented (DiffAugment or adaptive augmentation): what ``d_view`` applies."""
    return bool(tc.diffaug) or bool(tc.ada)


# --------------------------------------------------------------------------- DiffAugment

def _as_list(x):
    return (list(x), True) if isinstance(x, (list, tuple)) else ([x], False)


def _translate(x: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
    """Shift each image by (fx, fy) * size pixels (rounded), filling with zeros. Differentiable in x."""
    b, c, h, w = x.shape
    tx = torch.round(fx * w).long().view(b, 1, 1)
    ty = torch.round(fy * h).long().view(b, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - ty  # source row of every output pixel
    cols = torch.arange(w, device=x.device).view(1, 1, w) - tx
    valid = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).to(x.dtype)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(b, 1, h * w).expand(b, c, h * w)
    out = x.reshape(b, c, h * w).gather(2, index).view(b, c, h, w)
    return out * valid.unsqueeze(1)


def _cutout(x: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, frac: float) -> torch.Tensor:
    """Zero a square of side ``frac`` * size centred at (cx, cy) (fractions of the size) in each image."""
    b, _, h, w = x.shape
    sh, sw = max(1, round(h * frac)), max(1, round(w * frac))
    y0 = torch.round(cy * h).long().view(b, 1, 1) - sh // 2
    x0 = torch.round(cx * w).long().view(b, 1, 1) - sw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= y0) & (rows < y0 + sh) & (cols >= x0) & (cols < x0 + sw)
    return x * (~inside).to(x.dtype).unsqueeze(1)


def diff_augment(x, policy: Sequence[str], translation: float = 0.125, cutout: float = 0.5):
    """Differentiable augmentation (Zhao et al. 2020) of a batch of images, or of a list of the same batch
    at several scales (MSG-GAN): the random parameters are drawn once per sample, in fractions of the image
    size, so every scale of one sample gets the same change.

    ``color``: random brightness, saturation and contrast; ``translation``: shift by up to 1/8 of the size
    (zero fill); ``cutout``: zero a random square of half the size. Gradients flow to every kept pixel."""
    xs, was_list = _as_list(x)
    if not policy or not xs:
        return x
    b, dev, dt = xs[0].shape[0], xs[0].device, xs[0].dtype
    for p in policy:
        if p == "color":
            bright = torch.rand(b, 1, 1, 1, device=dev, dtype=dt) - 0.5
            sat = torch.rand(b, 1, 1, 1, device=dev, dtype=dt) * 2
            con = torch.rand(b, 1, 1, 1, device=dev, dtype=dt) + 0.5
            # brightness b, then saturation s about the pixel's channel mean, then contrast k about the image's
            # mean: k s x + k (1 - s) mean_c(x) + (1 - k) mean(x) + b, the three steps folded into one pass
            # (the channel means of x - mean_c(x) are 0, so the image's mean after saturation is mean(x) + b)
            xs = [torch.addcmul(torch.addcmul(((1 - con) * t.mean(dim=(1, 2, 3), keepdim=True) + bright),
                                              con * (1 - sat), t.mean(dim=1, keepdim=True)), con * sat, t)
                  for t in xs]
        elif p == "translation":
            fx = (torch.rand(b, device=dev) * 2 - 1) * translation
            fy = (torch.rand(b, device=dev) * 2 - 1) * translation
            xs = [_translate(t, fx, fy) for t in xs]
        elif p == "cutout":
            cx, cy = torch.rand(b, device=dev), torch.rand(b, device=dev)
            xs = [_cutout(t, cx, cy, cutout) for t in xs]
        else:
            raise ValueError(f"unknown DiffAugment policy {p!r}; choose from: {', '.join(DIFFAUG_POLICIES)}")
    return type(x)(xs) if was_list else xs[0]


# --------------------------------------------------------------------------- adaptive augmentation (ADA)

ADA_OPS = ("flip", "translation", "color", "cutout")


def ada_augment(x, p: torch.Tensor, subset: bool | None = None):
    """Each of ``ADA_OPS`` applied to each sample (of a batch, or of a list of the same batch at several scales)
    with probability ``p`` (a 0-d tensor on the batch's device: no host sync), independently. Differentiable, as
    DiffAugment: G's gradient flows through the augmented fakes. ``subset``: change only the chosen samples
    (which needs their indices on the host) rather than the whole batch under a mask; by default where p is on
    the CPU."""
    xs, was_list = _as_list(x)
    if not xs:
        return x
    b, dev = xs[0].shape[0], xs[0].device
    on_cpu = p.device.type == "cpu"
    subset = on_cpu if subset is None else subset
    if on_cpu and float(p) == 0:  # nothing to apply, and reading p costs no wait on the CPU: skip the pipeline
        return x                  # (on a GPU it runs through, to keep p unread)
    for op in ADA_OPS:
        on = torch.rand(b, device=dev) < p
        if subset:  # only the chosen samples go through the operation: at p = 0.2 a fifth of the work of
            idx = on.nonzero().flatten()  # changing the whole batch and keeping a fifth of it
            if len(idx):
                sub = [t.index_select(0, idx) for t in xs]
                changed = [t.flip(3) for t in sub] if op == "flip" else _as_list(diff_augment(sub, [op]))[0]
                xs = [t.index_copy(0, idx, c) for t, c in zip(xs, changed)]
        else:  # the whole batch, chosen by a mask: no host sync
            changed = [t.flip(3) for t in xs] if op == "flip" else _as_list(diff_augment(list(xs), [op]))[0]
            xs = [torch.where(on.view(b, 1, 1, 1), a, t) for a, t in zip(changed, xs)]
    return type(x)(xs) if was_list else xs[0]


ADA_TARGETS = {"rt": 0.6, "rv": 0.2}  # tricks.ada_target when null, per heuristic


def ada_target(tc) -> float:
    """The value of ``tricks.ada_heuristic`` that p is steered to: ``tricks.ada_target``, or the heuristic's own."""
    return ADA_TARGETS[tc.ada_heuristic] if tc.ada_target is None else tc.ada_target


def ada_held_out_count(n: int) -> int:
    """How many of an n-image training set the ``rv`` heuristic holds out of training to compare D's outputs on:
    one in twenty, at least 16 (but no more than a quarter of the set) and at most 256."""
    return min(256, max(16, n // 20), n // 4)


class AdaptiveAugment:
    """ADA's controller (Karras et al. 2020): every ``interval`` D updates, an overfitting heuristic r over them
    moves p by ``batch * interval / images`` towards more augmentation when r is over ``target`` and less when
    under (clamped to [0, 1]). The heuristic (``tricks.ada_heuristic``):

    - ``rt``: E[sign D(x)] over the training images D saw (the paper's r_t);
    - ``rv``: half the gap between that and E[sign D(x)] on a batch of images held out of training, scored once
      per interval (``wants_held_out``): 0 while D judges images it never trained on like those it did, 1 when
      it calls every training image real and every held-out one fake, i.e. has memorised its set.

    p, r and the running sums stay on the device; averaged over the processes of a distributed run; saved in
    checkpoints."""

    def __init__(self, target: float, interval: int, images: int, batch: int, device, mean=lambda t: t,
                 heuristic: str = "rt"):
        self.target, self.interval, self.images, self.batch = target, interval, images, batch
        self.heuristic = heuristic
        self.p = torch.zeros((), device=device)
        self.r = torch.zeros((), device=device)  # the heuristic over the last interval (logged as ada_r)
        self.total = torch.zeros((), device=device)
        self.count = 0
        self.mean = mean  # the mean over processes (identity in one process)

    def wants_held_out(self) -> bool:
        """Whether the next ``observe`` ends an interval of the ``rv`` heuristic, so needs D's held-out outputs."""
        return self.heuristic == "rv" and self.count + 1 >= self.interval

    def observe(self, real_logits: torch.Tensor, held_out_logits: torch.Tensor | None = None) -> None:
        self.total = self.total + torch.sign(real_logits.detach().float()).mean()
        self.count += 1
        if self.count >= self.interval:
            r = self.total / self.count
            if self.heuristic == "rv":
                if held_out_logits is None:
                    raise RuntimeError("the rv heuristic needs D's outputs on held-out images at the interval's end")
                r = (r - torch.sign(held_out_logits.detach().float()).mean()) / 2
            r = self.r = self.mean(r)
            self.p = (self.p + torch.sign(r - self.target) * (self.batch * self.count / self.images)).clamp(0, 1)
            self.total = torch.zeros_like(self.total)
            self.count = 0

    def state(self) -> dict:
        return {"p": self.p, "total": self.total, "count": self.count, "r": self.r}

    def load(self, state: dict) -> None:
        dev = self.p.device
        self.p = state["p"].to(dev, torch.float32)
        self.total = state["total"].to(dev, torch.float32)
        self.count = int(state["count"])
        if "r" in state:  # checkpoints before r was logged: the next interval sets it
            self.r = state["r"].to(dev, torch.float32)


# --------------------------------------------------------------------------- packing

def packed_shape(shape: tuple, m: int) -> tuple:
    """The shape D sees under packing by ``m``: ``m`` samples side by side along the first (channel or
    coordinate) axis."""
    return (shape[0] * m, *shape[1:])


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN (Lin et al., 2018): ``m`` consecutive samples of a batch ``[B, C, ...]`` become one input
    ``[B // m, m * C, ...]`` that D scores as one, so a generator that repeats itself is easier to tell from
    the data. A remainder of ``B % m`` samples is left out."""
    if m <= 1:
        return x
    b = (x.shape[0] // m) * m
    return x[:b].reshape(b // m, m * x.shape[1], *x.shape[2:])


# --------------------------------------------------------------------------- EMA of G

def make_ema(module: nn.Module) -> nn.Module:
    """A frozen copy of ``module`` to hold its moving average (no gradients, always in eval mode)."""
    ema = copy.deepcopy(module)
    for p in ema.parameters():
        p.requires_grad_(False)
    ema.eval()
    return ema


def ema_decay(decay: float, rampup: float | None, g_steps: int) -> float:
    """The moving average's decay after ``g_steps`` generator steps: ``decay``, or with a ramp-up a shorter horizon
    (``1 / (1 - decay)`` steps) of at most ``rampup`` x the steps taken, so early weights do not linger in the
    average of a long run and a short run still averages only its recent steps."""
    if rampup is None:
        return decay
    horizon = max(1.0, rampup * g_steps)
    return min(decay, 1.0 - 1.0 / horizon)


@torch.no_grad()
def ema_update(ema: nn.Module, module: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * module for parameters; buffers (batch-norm statistics) are copied."""
    ep = list(ema.parameters())
    mp = list(module.parameters())
    if ep:
        torch._foreach_lerp_(ep, [p.detach() for p in mp], 1.0 - decay)
    for eb, mb in zip(ema.buffers(), module.buffers()):
        eb.copy_(mb)


def batch_norms(module: nn.Module) -> list[nn.Module]:
    """The batch-norm layers of ``module`` that keep running statistics."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def spectral_norms(module: nn.Module) -> list[nn.Module]:
    """The spectral-norm parametrizations in ``module``: in training mode each forward advances their power
    iteration (the vectors u and v, buffers)."""
    kind = getattr(nn.utils.parametrizations, "_SpectralNorm", None)
    return [m for m in module.modules() if kind is not None and isinstance(m, kind)]


@contextmanager
def leaving_no_trace(nets: Sequence[nn.Module]) -> Iterator[None]:
    """Forward passes of ``nets`` in training mode that change none of their buffers: batch norm normalises by
    the batch's own statistics but leaves its running statistics as they are, and spectral norm divides by the
    largest singular value as its vectors estimate it now, without a step of its power iteration. (Not by
    restoring the buffers afterwards: a training step may have saved them for its backward pass, and writing them
    in place would break it.)"""
    norms = [m for net in nets for m in batch_norms(net)]
    spectral = [m for net in nets for m in spectral_norms(net) if m.training]
    for m in norms:
        m.track_running_stats = False
    for m in spectral:
        m.training = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True
        for m in spectral:
            m.training = True


@torch.no_grad()
def recompute_bn_stats(G: nn.Module, draw_inputs, run, device, batches: int, seed: int) -> None:
    """Set the running statistics of every batch norm in ``G`` to their averages over ``batches`` forward
    passes in training mode on ``draw_inputs(generator)`` (inputs drawn from a generator seeded with ``seed``;
    ``run(G, inputs)`` does the pass). The weights are not touched; ``G`` is left in eval mode."""
    bns = batch_norms(G)
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the passes
    g = torch.Generator().manual_seed(seed)
    G.train()
    try:
        for _ in range(batches):
            inputs = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in draw_inputs(g).items()}
            run(G, inputs)
    finally:
        G.eval()
        for m, mom in zip(bns, momenta):
            m.momentum = mom


# --------------------------------------------------------------------------- settings

def validate(cfg) -> None:
    """Refuse trick settings that cannot work or would silently do nothing (those that depend on the loss are
    ``ganlab.methods.losses.check_loss``'s)."""
    tc = cfg.tricks
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
    if tc.one_sided and tc.fake_label is not None:
        raise ConfigError("tricks.one_sided=true with tricks.fake_label: one-sided smoothing leaves the fake "
                          "targets at 0; drop fake_label or one_sided.")
    if tc.one_sided and not uses_label_targets(tc):
        raise ConfigError("tricks.one_sided=true has no effect without tricks.real_label or tricks.label_noise_beta")
    if tc.instance_noise_anneal and tc.instance_noise <= 0:
        raise ConfigError("tricks.instance_noise_anneal=true needs tricks.instance_noise > 0 (the level to anneal)")
    bad = [p for p in tc.diffaug if p not in DIFFAUG_POLICIES]
    if bad:
        raise ConfigError(f"tricks.diffaug: {bad[0]!r} is not an augmentation; choose from: "
                          f"{', '.join(DIFFAUG_POLICIES)}")
    if tc.diffaug and cfg.data.is_points():
        raise ConfigError(f"tricks.diffaug={tc.diffaug} with data.source={cfg.data.source}: DiffAugment changes "
                          "images (colour, shifts, cut-outs); 2-D points have none. Drop tricks.diffaug.")
    if tc.ada_target is not None and not 0 <= tc.ada_target <= 1:
        raise ConfigError(f"tricks.ada_target: {tc.ada_target} is not a value of the heuristic "
                          f"(tricks.ada_heuristic={tc.ada_heuristic}); give one between 0 and 1, or null for "
                          f"{ADA_TARGETS[tc.ada_heuristic]}")
    if not tc.ada and tc.ada_heuristic != "rt":  # (not ada_target: the runs of older versions recorded 0.6)
        raise ConfigError(f"tricks.ada_heuristic={tc.ada_heuristic} has no effect without tricks.ada=true (the "
                          "adaptive augmentation it steers); set tricks.ada=true or drop it")
    if tc.ada and tc.diffaug:
        raise ConfigError(f"tricks.ada with tricks.diffaug={tc.diffaug}: both augment D's inputs, and ADA adapts how "
                          "often its own pipeline (flip, translation, colour, cutout) is applied; drop one.")
    if tc.ada and cfg.data.is_points():
        raise ConfigError(f"tricks.ada with data.source={cfg.data.source}: ADA changes images (flips, shifts, "
                          "colour, cut-outs); 2-D points have none. Drop tricks.ada.")
    if tc.ema is not None and not 0 < tc.ema < 1:
        raise ConfigError(f"tricks.ema: {tc.ema} is not a decay; give a number between 0 and 1, e.g. 0.999")
    if tc.ema_rampup is not None and tc.ema is None:
        raise ConfigError(f"tricks.ema_rampup={tc.ema_rampup} has no effect without tricks.ema (the moving average "
                          "whose horizon it ramps up); set tricks.ema or drop ema_rampup")
    if tc.ema_rampup is not None and not 0 < tc.ema_rampup <= 1:
        raise ConfigError(f"tricks.ema_rampup: {tc.ema_rampup} is not a share of the steps taken; give one in (0, 1], "
                          "e.g. 0.1")
    m = tc.pack
    if m > 1 and cfg.train.batch_size % m:
        raise ConfigError(f"tricks.pack={m} with train.batch_size={cfg.train.batch_size}: D scores groups of "
                          f"{m} samples, so the batch size must be a multiple of {m}")
