"""Typed configuration: defaults live here, recipes and command-line overrides can only change them.

A config is a tree of dataclasses. ``build_config`` starts from the defaults, applies a recipe
(YAML), the flags' values and then ``--set section.key=value`` overrides, checking every key and value on
the way: an unknown key or a value outside the allowed set stops the run with a message that names the
key and what is allowed. ``validate`` then refuses combinations that do not fit together. Commands build
their configs with ``ganlab.experiment.load_experiment``, which adds the method's and the metrics' checks.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from ganlab.errors import ConfigError


def opt(default, choices=None, min=None, help: str = ""):  # noqa: A002 - mirrors the meaning
    meta = {"choices": choices, "min": min, "help": help}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return field(default=default, metadata=meta)


SUPPORTED_IMAGE_SIZES = (16, 32, 64, 128)
POINT_SETS = ("ring8", "grid25")  # the built-in 2-D mixtures (ganlab.data.toy makes them)
# every value data.format takes; ganlab.data reads each of them (auto detects one of the others)
DATA_FORMATS = ("auto", "digits", "folder", "csv", "celeba", "mnist", "stacked-mnist") + POINT_SETS


@dataclass
class DataConfig:
    source: str = opt("digits", help="a path, or a built-in data set: digits, ring8, grid25")
    format: str = opt("auto", choices=DATA_FORMATS, help="how to read source; auto detects it")
    labels: Optional[str] = opt(None, help="CSV of per-image tags (file column + one column per attribute)")
    image_size: int = opt(32, choices=SUPPORTED_IMAGE_SIZES, help="images are resized and centre-cropped to this")
    channels: Optional[int] = opt(None, choices=(None, 1, 3), help="1 = grey, 3 = RGB; default depends on the data")
    limit: Optional[int] = opt(None, min=1, help="use only the first N images (quick experiments, tests)")
    cache_dir: Optional[str] = opt(None, help="where decoded data sets are cached (default ~/.cache/ganlab)")
    loading: str = opt("auto", choices=("auto", "memory", "stream"),
                       help="memory: the decoded data set is held in memory (on the device); stream: batches are "
                            "read from the memory-mapped cache as training goes; auto: memory when it fits in "
                            "data.max_memory")
    max_memory: Optional[float] = opt(None, min=0.0, help="GiB a decoded data set may take in memory before "
                                      "data.loading=auto streams it (default: half the available RAM, or of the "
                                      "device's memory on a GPU)")

    def is_points(self) -> bool:
        """2-D points (a built-in mixture) rather than images."""
        return self.format in POINT_SETS or (self.format == "auto" and self.source in POINT_SETS)


@dataclass
class ModelConfig:
    arch: str = opt("dcgan", choices=("dcgan", "resnet", "mlp"),
                    help="network family: dcgan; resnet (SNGAN/BigGAN-style residual G and D, images of 16 to "
                         "128 pixels; needs model.upsample=nearest or bilinear); mlp (dense, also for 2-D points)")
    latent_dim: int = opt(100, min=1)
    latent_dist: str = opt("normal", choices=("normal", "uniform", "mixture"),
                           help="z's distribution: N(0, I), uniform on [-1, 1], or a mixture of "
                                "model.latent_components unit Gaussians around fixed centres (for data in "
                                "separate clusters: G need not stretch one connected blob across the gaps)")
    latent_components: int = opt(32, min=2, help="latent_dist=mixture: number of components")
    latent_spread: float = opt(3.0, min=0.0, help="latent_dist=mixture: the centres are drawn once (the same "
                                                   "for every run) from N(0, spread^2 I)")
    upsample: str = opt("deconv", choices=("deconv", "nearest", "bilinear"), help="how G doubles resolution")
    g_width: int = opt(64, min=1, help="ngf: channels of G's last hidden layer")
    d_width: int = opt(64, min=1, help="ndf: channels of D's first layer")
    g_norm: str = opt("batch", choices=("batch", "none"))
    d_norm: str = opt("batch", choices=("batch", "none"))
    g_act: str = opt("relu", choices=("relu", "leaky_relu", "selu"))
    d_act: str = opt("leaky_relu", choices=("relu", "leaky_relu", "selu"))
    leaky_slope: float = opt(0.2, min=0.0)
    output: str = opt("tanh", choices=("tanh", "sigmoid", "none"),
                      help="G's output activation; tanh expects data in [-1, 1], sigmoid/none data in [0, 1]")
    spectral_norm: bool = opt(False, help="spectral normalisation on D's layers")
    mlp_hidden: int = opt(256, min=1, help="hidden width of the MLP family")
    mlp_layers: int = opt(3, min=1, help="hidden layers of the MLP family")


@dataclass
class ObjectiveConfig:
    loss: str = opt("bce", help="the adversarial loss, an entry of the loss table ganlab.methods.losses: bce, wgan, "
                                 "wgan-gp, hinge, lsgan or ragan")
    clip: Optional[float] = opt(None, min=0.0, help="WGAN weight clipping bound (default 0.01 with loss=wgan)")
    gp_lambda: Optional[float] = opt(None, min=0.0, help="gradient-penalty weight (default 10 with loss=wgan-gp)")
    r1_gamma: float = opt(0.0, min=0.0, help="R1 penalty (Mescheder et al. 2018): gamma/2 x E||grad_x D(x)||^2 on "
                          "the real inputs D sees, added to D's loss; 0 = off")
    r1_every: int = opt(16, min=1, help="lazy R1 (StyleGAN2): the penalty is taken on every k-th D update only, "
                        "multiplied by k so that its average strength stays the same; 1 = every update")
    lecam_weight: float = opt(0.0, min=0.0, help="LeCam regularisation (Tseng et al. 2021): weight x "
                              "(mean((D(real) - ema_fake)^2) + mean((D(fake) - ema_real)^2)) added to D's loss, "
                              "with moving averages of D's mean output on real and on generated inputs; 0 = off")
    lecam_decay: float = opt(0.99, min=0.0, help="decay of LeCam's moving averages of D's outputs (in [0, 1))")


@dataclass
class OptimConfig:
    g_lr: float = opt(2e-4, min=0.0)
    d_lr: float = opt(2e-4, min=0.0)
    g_betas: list = opt([0.5, 0.999])
    d_betas: list = opt([0.5, 0.999])
    lr_decay: str = opt("none", choices=("none", "linear", "cosine"),
                        help="every optimizer's rate over the planned generator steps: none keeps it; linear or "
                             "cosine take it from the configured rate down to lr_floor x that rate at the end")
    lr_floor: float = opt(0.0, min=0.0, help="with optim.lr_decay: the share of each rate left at the end (0 to 1)")


@dataclass
class TrainConfig:
    epochs: int = opt(25, min=1, help="total epochs (a resumed run continues up to this total)")
    steps: Optional[int] = opt(None, min=1, help="cap on the total number of generator steps")
    minutes: Optional[float] = opt(None, min=0.01, help="a time budget: train for this many minutes of the run's own "
                                   "time (start-up, checkpoints and evaluations counted, time stopped not), planning "
                                   "the learning-rate decay, annealing and grids over it; with epochs/steps, whichever "
                                   "comes first (a resumed run continues the rest; a new value is the new total)")
    batch_size: int = opt(128, min=1)
    n_critic: int = opt(1, min=1, help="discriminator steps per generator step")
    n_gen: int = opt(1, min=1, help="generator steps per discriminator step")
    seed: int = opt(0)
    device: str = opt("auto", help="auto, cpu, cuda, cuda:N")
    precision: str = opt("auto", choices=("auto", "fp32", "bf16"),
                         help="bf16: the networks compute in bfloat16 (autocast; weights, losses, batch-norm "
                              "statistics and optimizer state stay float32); auto: bf16 where the hardware has it "
                              "natively (CUDA with bf16, CPUs with AVX512-BF16 or AMX), else fp32. The run "
                              "records the one it chose")
    amp: Optional[bool] = opt(None, help="old name: true is train.precision=bf16, false train.precision=fp32")
    compile: bool = opt(False, help="torch.compile the networks (a one-off compile wait at start)")
    channels_last: bool = opt(True, help="keep conv weights and image batches channels-last (NHWC): faster "
                                         "convolutions with oneDNN on CPU and with tensor cores on CUDA")
    log_every: int = opt(20, min=1, help="flush per-step metrics to disk every N steps")
    checkpoint_every: int = opt(5, min=1, help="keep a numbered checkpoint every N epochs (latest is always kept)")
    dist_timeout: float = opt(1800.0, min=1.0, help="under torchrun: seconds without a finished training step "
                              "(a process or node that died) before every process stops with a message; raise it "
                              "above the longest evaluation during training")
    checkpoint_minutes: Optional[float] = opt(5.0, min=0.0, help="save latest.pt once this many minutes of wall "
                                              "time have passed since it was last saved (looked at after every "
                                              "step), so a kill loses at most that much; it is always saved at the "
                                              "end of the run, on Ctrl-C/SIGTERM, with each numbered checkpoint and "
                                              "before an evaluation. null or 0: at every epoch end, never within one")
    sample_every: Optional[int] = opt(None, min=1, help="write the sample grid every N epochs (counted in epochs, "
                                      "not steps) and after the last one; null: every epoch in runs of up to 25 "
                                      "epochs, else every ceil(epochs/25)-th (about 25 grids)")
    plot_minutes: Optional[float] = opt(1.0, min=0.0, help="redraw losses.png at an epoch end once this many "
                                        "minutes have passed since it was last drawn; it is always drawn at the end "
                                        "of the run and when it is stopped. null or 0: at every epoch end")
    n_samples: int = opt(64, min=1, help="size of the fixed-noise sample grid")
    tensorboard: bool = opt(True)
    trackers: list = opt([], help="experiment trackers beside TensorBoard: mlflow (a file store beside the run "
                         "folder, or $MLFLOW_TRACKING_URI), wandb (offline); each an optional extra")
    progress: bool = opt(True, help="show a progress bar")
    health: bool = opt(True, help="watch the run's health (ganlab.train.health): report a discriminator that has "
                        "won or stopped learning, divergence, mode or posterior collapse, no progress, one line each "
                        "and in RUN/health.jsonl")
    on_failure: str = opt("stop", choices=("warn", "stop", "rollback"),
                          help="after a hard health finding: stop (save a checkpoint, exit non-zero; resumable), warn "
                               "(only say so), or rollback (reload the last numbered checkpoint from before the "
                               "failure began and halve the learning rates, at most 3 times, then stop)")

    def grid_every(self) -> int:
        """The epochs between sample grids: ``sample_every``, or for null one that gives about 25 grids."""
        return self.sample_every or max(1, math.ceil(self.epochs / 25))

    def reached(self, epoch: int, g_steps: int) -> bool:
        """Whether a run at ``epoch`` (completed epochs) after ``g_steps`` generator steps has done its plan."""
        return epoch >= self.epochs or (self.steps is not None and g_steps >= self.steps)


@dataclass
class EvalConfig:
    """Evaluation during training: every N epochs, and which checkpoint to keep as best.pt."""
    every: Optional[int] = opt(None, min=1, help="evaluate every N epochs (default: never during training)")
    patience: Optional[int] = opt(None, min=1, help="stop the run (train.on_failure permitting) when eval.best has "
                                  "not improved for this many evaluations; null: only warn (after 5)")
    metrics: list = opt(["fid"], help="metrics to compute (see 'ganlab eval --help')")
    n: int = opt(1000, min=2, help="generated samples per evaluation")
    features: str = opt("inception", help="inception, torchvision-inception or classifier:PATH")
    best: Optional[str] = opt(None, help="metric, or one of its rows (recall, cond_acc/hair, ...), that selects "
                                         "checkpoints/best.pt (default: the first metric)")


@dataclass
class CondConfig:
    """Conditioning on attributes (tag-conditional GAN, class-conditional WGAN, ACGAN)."""
    attributes: Optional[list] = opt(None, help="attributes to condition on (default: all the data has)")
    embed_dim: int = opt(5, min=1, help="size of each attribute's embedding")
    d_mode: str = opt("labelmap", choices=("labelmap", "projection", "concat"),
                      help="how D sees the condition: label maps after its first conv, a projection head, "
                           "or (MLP) concatenated to its input")
    map_mode: str = opt("project", choices=("project", "broadcast"),
                        help="label maps: each embedding projected to a 1-channel map, or broadcast over the map")
    mismatch: bool = opt(False, help="also show D real images with wrong tags, as fakes")
    mismatch_weight: float = opt(1.0, min=0.0)
    aux_weight: float = opt(1.0, min=0.0, help="ACGAN: weight of the auxiliary classification loss")
    g_mode: str = opt("concat", choices=("concat", "cbn"),
                      help="how G takes the condition: its embeddings concatenated with z, or also conditional "
                           "batch norm (every batch norm of G gets its gain and bias from them)")
    classifier_weight: float = opt(0.0, min=0.0,
                                   help="cgan: weight of an ACGAN-style classifier head on D's features, trained "
                                        "on the real images' tags; G is trained to have its fakes read as asked "
                                        "(0: off)")


@dataclass
class InfoConfig:
    """InfoGAN latent codes."""
    categorical: list = opt([10], help="number of categories of each categorical code")
    continuous: int = opt(2, min=0, help="number of continuous codes, uniform in [-1, 1]")
    weight: float = opt(1.0, min=0.0, help="weight of the mutual-information loss")
    continuous_weight: float = opt(0.1, min=0.0, help="extra factor on the continuous codes' term")


@dataclass
class VAEConfig:
    kl_weight: float = opt(1.0, min=0.0, help="lambda_KL")
    reduction: str = opt("mean", choices=("mean", "sum"), help="how the MSE and KL terms are reduced")
    test_fraction: float = opt(0.1, min=0.0, help="held-out share of the data for the test-set MSE")


@dataclass
class TricksConfig:
    dynamic: bool = opt(False, help="repeat D (G) updates on a batch until its loss falls below a threshold")
    d_threshold: float = opt(0.69)
    g_threshold: float = opt(0.69)
    max_d_repeats: int = opt(5, min=1)
    max_g_repeats: int = opt(5, min=1)
    instance_noise: float = opt(0.0, min=0.0, help="std of Gaussian noise added to D's inputs")
    instance_noise_anneal: bool = opt(False, help="anneal the instance noise linearly to 0 over training")
    real_label: Optional[list] = opt(None, help="[lo, hi]: real targets drawn uniformly from this range")
    fake_label: Optional[list] = opt(None, help="[lo, hi]: fake targets drawn uniformly from this range")
    label_noise_beta: Optional[list] = opt(None, help="[a, b]: Beta(a, b) noise subtracted from 1 / added to 0")
    one_sided: bool = opt(False, help="smooth/noise only the real targets")
    ema: Optional[float] = opt(None, help="decay of an exponential moving average of G used for sampling")
    ema_rampup: Optional[float] = opt(None, min=0.0, help="with tricks.ema: the average's horizon (1 / (1 - decay) "
                                      "generator steps) is at most this share of the steps taken so far, so a short "
                                      "run averages recent weights and a long one a longer stretch, up to tricks.ema's "
                                      "horizon (StyleGAN's ramp-up; e.g. 0.1)")
    ema_stats: str = opt("copy", choices=("copy", "recompute"),
                         help="the EMA generator's batch-norm statistics: copied from the live G, or measured on "
                              "its own outputs before samples and checkpoints (BigGAN's standing statistics)")
    diffaug: list = opt([], help="differentiable augmentations of D's inputs: color, translation, cutout")
    pack: int = opt(1, min=1, help="PacGAN packing: D scores m samples at once (all real or all generated), "
                    "concatenated along channels; 1 = off")
    ada: bool = opt(False, help="adaptive discriminator augmentation (Karras et al. 2020): flips, translation, "
                    "colour and cutout of every D input, each with a probability p that follows D's overfitting")
    ada_heuristic: str = opt("rt", choices=("rt", "rv"),
                             help="ADA: what p follows: rt = E[sign D(real)] on the training images (the paper's "
                                  "default; also high when D is merely ahead of G), rv = half the gap between that "
                                  "and E[sign D(real)] on images held out of training (the few per cent that "
                                  "ganlab.methods.tricks.ada_held_out_count sets aside): high only when D has "
                                  "memorised its images")
    ada_target: Optional[float] = opt(None, min=0.0, help="ADA: the value of the heuristic that p is steered to "
                                      "(0 to 1; null: 0.6 for rt, the paper's, and 0.2 for rv)")
    ada_interval: int = opt(4, min=1, help="ADA: D updates between adjustments of p")
    ada_images: int = opt(100_000, min=1, help="ADA: images over which p can move from 0 to 1 (its speed)")


@dataclass
class Config:
    method: str = opt("gan", help="training method (see ganlab.methods)")
    recipe: Optional[str] = opt(None, help="the recipe this config started from")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    cond: CondConfig = field(default_factory=CondConfig)
    info: InfoConfig = field(default_factory=InfoConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# the command line's training flags (ganlab train, ganlab sweep): flag name -> the config key it sets
TRAIN_FLAGS = {
    "data": "data.source", "format": "data.format", "labels": "data.labels", "image_size": "data.image_size",
    "channels": "data.channels", "limit": "data.limit", "batch_size": "train.batch_size",
    "epochs": "train.epochs", "steps": "train.steps", "minutes": "train.minutes", "latent_dim": "model.latent_dim",
    "seed": "train.seed",
    "device": "train.device",
}
# the epochs of a run sized by train.minutes alone (--minutes without --epochs): no limit a budget could reach
BUDGET_EPOCHS = 100_000


def budget_epochs(values: dict, sets: list[str]) -> dict:
    """The training flags' ``values`` with ``train.epochs`` set to BUDGET_EPOCHS where ``train.minutes`` is given
    and the epochs are not (the budget then decides, not the recipe's epochs)."""
    if "train.minutes" in values and "train.epochs" not in values and not any(
            s.replace(" ", "").startswith("train.epochs=") for s in sets):
        return {**values, "train.epochs": BUDGET_EPOCHS}
    return values


DEFAULT_RECIPE = "dcgan"
# the recipe ``ganlab train --data FOLDER`` uses without --recipe, by image size and time budget (train.minutes):
# each size's ladder of (the budget in minutes a rung starts at, recipe), the best images per CPU-minute measured
# with bench/quality.py and bench/recipe_screen.py (docs/benchmarks.md, Quality); a run without a budget takes
# the first rung. At 64x64 from 30 minutes: fast64-long (rates decayed over the budget, DiffAugment). Planned for
# 30 minutes, it ended ahead of fast64 on the anime faces and CelebA with each seed raced, while fast64 was stopped
# or worsening by then as D memorised the set (d_won at 28 to 43 minutes); in a run's first quarter hour it is the
# slower one (docs/benchmarks.md, the recipe ladder). The other sizes have one rung: nothing longer is measured there
RECIPE_LADDER = {16: ((0.0, "fast32"),), 32: ((0.0, "fast32"),), 64: ((0.0, "fast64"), (30.0, "fast64-long")),
                 128: ((0.0, "fast64"),)}
RECOMMENDED_RECIPES = {size: rungs[0][1] for size, rungs in RECIPE_LADDER.items()}  # without a budget
# the seconds one training step of each ladder's first recipe takes (ganlab.methods.speed.step_seconds, one thread)
# on the core the ladder's races ran on: a budget of M minutes is read as M x LADDER_STEP_S / (the step here)
# minutes of that core (ganlab.experiment.default_recipe). The races ran fast64-long at 0.193 to 0.217 s per
# iteration (about 0.20); on a later machine whose core ran it at 0.426 s, the probe took 0.411 s (one thread,
# median of three): 0.411 x 0.20 / 0.426 = 0.19 (docs/benchmarks.md, the recipe ladder). Given for the sizes
# with two rungs
LADDER_STEP_S = {64: 0.19}


def ladder_rung(size: int, minutes: Optional[float]) -> tuple[str, float, Optional[float]]:
    """(recipe, the budget its rung starts at, where the next rung starts or None) for ``size`` x ``size`` images
    and a budget of ``minutes`` (None: no budget); KeyError for a size without a ladder."""
    rungs = RECIPE_LADDER[size]
    k = 0 if minutes is None else max(i for i, (start, _) in enumerate(rungs) if start <= minutes)
    return rungs[k][1], rungs[k][0], rungs[k + 1][0] if k + 1 < len(rungs) else None


def flatten(d: dict, prefix: str = "", sep: str = ".") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}: nested keys joined with ``sep``."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}{sep}", sep))
        else:
            out[f"{prefix}{k}"] = v
    return out


# --------------------------------------------------------------------------- setting values

def _field_map(obj) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj)}


def _coerce(value: Any, tp, where: str):
    """Check ``value`` against annotation ``tp`` (bool/int/float/str/list, optionally Optional)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as text
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # .nan / .inf: no setting means anything there
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    if tp is list or origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    return value


def _unknown(key: str, where: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    prefix = f"{where}." if where else ""
    return ConfigError(f"unknown config key '{prefix}{key}'{hint}; known keys here: {', '.join(known)}")


def set_value(cfg, dotted: str, value: Any) -> None:
    """Set ``cfg.a.b = value`` after checking that the key exists and the value is allowed."""
    parts = dotted.split(".")
    obj = cfg
    for i, part in enumerate(parts):
        fields = _field_map(obj)
        where = ".".join(parts[:i])
        if part not in fields:
            raise _unknown(part, where, list(fields))
        f = fields[part]
        hints = typing.get_type_hints(type(obj))
        tp = hints[part]
        if dataclasses.is_dataclass(tp):
            if i == len(parts) - 1:
                if not isinstance(value, dict):
                    raise ConfigError(f"'{dotted}' is a section; give it a mapping of keys, got {value!r}")
                for k, v in value.items():
                    set_value(getattr(obj, part), str(k), v)
                return
            obj = getattr(obj, part)
            continue
        if i != len(parts) - 1:
            raise ConfigError(f"'{'.'.join(parts[:i + 1])}' is a value, not a section, so '{dotted}' does not exist")
        setattr(obj, part, check_value(f, tp, value, dotted))
        return


def check_value(f: dataclasses.Field, tp, value: Any, dotted: str):
    """``value`` for field ``f`` (annotation ``tp``) after the type, choice and minimum checks."""
    v = _coerce(value, tp, dotted)
    choices = f.metadata.get("choices")
    if choices is not None and v not in choices:
        allowed = ", ".join("null" if c is None else str(c) for c in choices)
        raise ConfigError(f"{dotted}: {value!r} is not allowed; choose one of: {allowed}")
    lo = f.metadata.get("min")
    if lo is not None and v is not None and v < lo:
        raise ConfigError(f"{dotted}: {value!r} is too small; it must be at least {lo}")
    return v


def check_section(obj, where: str) -> None:
    """Apply the checks of ``set_value`` to every value of a section built directly (``DataConfig(...)``)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if not dataclasses.is_dataclass(hints[f.name]):
            check_value(f, hints[f.name], getattr(obj, f.name), f"{where}.{f.name}")


def apply_dict(cfg: Config, d: dict, source: str = "recipe") -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(d).__name__}")
    for k, v in d.items():
        try:
            set_value(cfg, str(k), v)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. model.upsample=bilinear")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


# --------------------------------------------------------------------------- recipes

RECIPE_DIR = Path(__file__).parent / "recipes"


def list_recipes() -> dict[str, str]:
    """Recipe name -> its one-line comment (the first comment line of the file)."""
    out = {}
    for p in sorted(RECIPE_DIR.glob("*.yaml")):
        if not p.is_file():  # a folder that happens to be named *.yaml is not a recipe
            continue
        comment = ""
        for line in _read_text(p, "recipe").splitlines():
            if line.startswith("#"):
                comment = line.lstrip("#").strip()
                break
        out[p.stem] = comment
    return out


def recipe_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    cand = RECIPE_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    known = ", ".join(list_recipes())
    raise ConfigError(f"recipe '{name_or_path}' not found: not a YAML file and not a built-in recipe ({known})")


def _read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be read: {e.strerror or e}") from None


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (PyYAML's own text spans several lines)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    what = " ".join(str(getattr(e, "problem", None) or e).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + what


def read_yaml(path: Path) -> dict:
    """A recipe file: a mapping of sections (empty file: no changes)."""
    try:
        d = yaml.safe_load(_read_text(path, "recipe"))
    except yaml.YAMLError as e:
        raise ConfigError(f"recipe {path}: not valid YAML: {yaml_problem(e)}") from None
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(f"recipe {path}: expected a mapping of sections (method:, data:, model:, ...) at the top "
                          f"level, got a {type(d).__name__}")
    return d


DATA_ROOT_VAR = "GANLAB_DATA"


def data_root() -> Path:
    """Where recipes find their data sets: ``$GANLAB_DATA``, else ``shared/data`` beside the checkout that
    holds this package (a development checkout). Recipes name their data as ``$GANLAB_DATA/celeba-10k``, so
    they resolve the same from any working directory."""
    env = os.environ.get(DATA_ROOT_VAR)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def resolve_data_paths(d: dict) -> dict:
    """A recipe's ``data.source`` / ``data.labels`` with ``$GANLAB_DATA`` replaced by ``data_root()``."""
    data = d.get("data")
    if not isinstance(data, dict):
        return d
    data = dict(data)
    for key in ("source", "labels"):
        v = data.get(key)
        if isinstance(v, str) and v.startswith(("$" + DATA_ROOT_VAR, "${" + DATA_ROOT_VAR + "}")):
            rest = v.split("}", 1)[1] if v.startswith("${") else v[len(DATA_ROOT_VAR) + 1:]
            data[key] = str(data_root()) + rest
    return {**d, "data": data}


def build_config(recipe: Optional[str] = None, overrides: Optional[list[str]] = None,
                 values: Optional[dict[str, Any]] = None) -> Config:
    """Defaults <- recipe <- ``values`` (dotted keys from flags) <- ``--set`` overrides, with the checks of
    this module (keys, values, combinations of the core sections). ``ganlab.experiment.load_experiment``
    adds the checks of the chosen method and metrics: use that one to get a config to train."""
    cfg = Config()
    if recipe is not None:
        path = recipe_path(recipe)
        apply_dict(cfg, resolve_data_paths(read_yaml(path)), source=str(path))
        cfg.recipe = path.stem
    for key, value in (values or {}).items():
        set_value(cfg, key, value)
    for text in overrides or []:
        key, value = parse_override(text)
        try:
            set_value(cfg, key, value)
        except ConfigError as e:
            raise ConfigError(f"--set {text}: {e}") from None
    return validate(cfg)


def config_from_dict(d: dict) -> Config:
    """A config from its dictionary (a run's config.yaml), checked like ``build_config``."""
    cfg = Config()
    apply_dict(cfg, d, source="config")
    return validate(cfg)


# --------------------------------------------------------------------------- consistency

DEVICE_PATTERN = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def check_device(name, what: str = "train.device") -> str:
    """``name`` if it names a device ganlab can use (auto, cpu, cuda, cuda:N, mps); ConfigError otherwise. Whether
    that device is present is checked where it is used."""
    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name.strip()):
        raise ConfigError(f"{what}={name!r} is not a device; use auto, cpu, cuda or cuda:N")
    return name.strip()


def check_regularisers(cfg: Config) -> None:
    """Refuse R1 and LeCam settings that cannot work or would do nothing."""
    obj = cfg.objective
    if obj.r1_gamma == 0 and obj.r1_every != ObjectiveConfig.r1_every:
        raise ConfigError(f"objective.r1_every={obj.r1_every} has no effect without objective.r1_gamma > 0 "
                          "(the R1 weight); set r1_gamma or drop r1_every")
    if obj.r1_gamma > 0 and cfg.model.arch != "mlp" and cfg.model.d_norm == "batch":
        raise ConfigError(
            f"objective.r1_gamma={obj.r1_gamma} with model.d_norm=batch: R1 penalises each real sample's own "
            "gradient, and batch norm mixes the samples of a batch (and its statistics would move in the "
            "penalty's extra pass); set model.d_norm=none.")
    if not 0 <= obj.lecam_decay < 1:
        raise ConfigError(f"objective.lecam_decay: {obj.lecam_decay} is not a decay; give a number in [0, 1), "
                          "e.g. 0.99")
    if obj.lecam_weight == 0 and obj.lecam_decay != ObjectiveConfig.lecam_decay:
        raise ConfigError(f"objective.lecam_decay={obj.lecam_decay} has no effect without objective.lecam_weight "
                          "> 0; set lecam_weight or drop lecam_decay")


TRACKERS = ("tensorboard", "mlflow", "wandb")


def check_trackers(cfg: Config) -> None:
    bad = [n for n in cfg.train.trackers if n not in TRACKERS]
    if bad:
        raise ConfigError(f"train.trackers: unknown {bad[0]!r}; choose from {', '.join(TRACKERS)}")


def check_switched_knobs(cfg: Config) -> None:
    """Refuse the mixture latent's and the EMA statistics' knobs set without the option they belong to."""
    mc = cfg.model
    for key in ("latent_components", "latent_spread"):
        if mc.latent_dist != "mixture" and getattr(mc, key) != getattr(ModelConfig, key):
            raise ConfigError(f"model.{key}={getattr(mc, key)} has no effect without model.latent_dist=mixture "
                              f"(it is {mc.latent_dist}); set latent_dist=mixture or drop {key}")
    if cfg.tricks.ema is None and cfg.tricks.ema_stats != TricksConfig.ema_stats:
        raise ConfigError(f"tricks.ema_stats={cfg.tricks.ema_stats} has no effect without tricks.ema (the moving "
                          "average of G whose statistics it sets); set tricks.ema or drop ema_stats")


def check_lr_decay(cfg: Config) -> None:
    oc = cfg.optim
    if oc.lr_floor > 1:
        raise ConfigError(f"optim.lr_floor: {oc.lr_floor} is a share of the configured rate; give a number in "
                          "[0, 1], e.g. 0.1")
    if oc.lr_decay == "none" and oc.lr_floor != OptimConfig.lr_floor:
        raise ConfigError(f"optim.lr_floor={oc.lr_floor} has no effect with optim.lr_decay=none; set "
                          "optim.lr_decay=linear or cosine, or drop lr_floor")


def validate(cfg: Config) -> Config:
    """Refuse options of the core sections that do not fit together and fill in defaults that depend on other
    options. The method's and the metrics' own checks run in ``ganlab.experiment``, where their registries
    are."""
    check_regularisers(cfg)
    check_lr_decay(cfg)
    check_switched_knobs(cfg)
    check_trackers(cfg)
    if cfg.model.arch == "resnet" and cfg.model.upsample == "deconv":
        raise ConfigError(
            "model.arch=resnet with model.upsample=deconv: the residual blocks upsample and then convolve "
            "(SNGAN/BigGAN), with the same upsampling on the shortcut; set model.upsample=nearest or bilinear.")
    if cfg.train.n_critic > 1 and cfg.train.n_gen > 1:
        raise ConfigError(
            f"train.n_critic={cfg.train.n_critic} and train.n_gen={cfg.train.n_gen}: give extra steps to one "
            "network only (the other takes one step per cycle).")
    for name in ("g_betas", "d_betas"):
        b = getattr(cfg.optim, name)
        if len(b) != 2 or not all(isinstance(x, (int, float)) and 0 <= x < 1 for x in b):
            raise ConfigError(f"optim.{name}: expected two numbers in [0, 1), got {b!r}")
        setattr(cfg.optim, name, [float(x) for x in b])
    cfg.train.device = check_device(cfg.train.device)
    tc = cfg.train
    if tc.amp is not None:  # the old flag, kept as an alias (config.yaml of earlier runs has amp: false)
        meant = "bf16" if tc.amp else "fp32"
        if tc.precision not in ("auto", meant):
            raise ConfigError(f"train.amp={str(tc.amp).lower()} with train.precision={tc.precision}: train.amp is "
                              f"the old name of train.precision (true = bf16, false = fp32); drop train.amp")
        tc.precision, tc.amp = meant, None
    batch = min(cfg.train.batch_size, cfg.data.limit or cfg.train.batch_size)
    if cfg.model.arch == "mlp" and cfg.model.g_norm == "batch" and batch < 2:
        which = "train.batch_size" if cfg.train.batch_size < 2 else f"data.limit={cfg.data.limit}"
        raise ConfigError(f"{which} makes batches of 1 item, and the MLP generator's batch norm "
                          "(model.g_norm=batch) needs at least 2 per batch; use more items or model.g_norm=none")
    if cfg.data.is_points() and cfg.model.arch != "mlp":
        raise ConfigError(f"data.source={cfg.data.source} is 2-D points, not images; set model.arch=mlp")
    return cfg
