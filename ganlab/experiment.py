"""An experiment's config, checked as a whole: the one place where a config meets the method and metric
registries.

``ganlab.config`` checks keys, values and the core sections on its own; the chosen method's class checks its
settings (``Method.validate``) and the metric registry checks the evaluation settings. The command line,
``ganlab sweep``, ``--resume`` and loading a run folder all build their config through this module.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ganlab.config import (
    DEFAULT_RECIPE,
    LADDER_STEP_S,
    POINT_SETS,
    RECIPE_LADDER,
    ladder_rung,
    Config,
    DataConfig,
    build_config,
    config_from_dict,
    flatten,
    parse_override,
    read_yaml,
    recipe_path,
    set_value,
    validate,
)
from ganlab.errors import ConfigError, RunError
from ganlab.eval.metrics import registry
from ganlab.methods import METHODS
from ganlab.methods.losses import get_loss

# config keys that may differ between the run being resumed and the config given now
RESUMABLE_CHANGES = {"train.epochs", "train.steps", "train.minutes", "train.progress", "train.log_every", "train.tensorboard",
                     "train.checkpoint_every", "train.checkpoint_minutes", "train.sample_every", "train.plot_minutes",
                     "train.device", "train.channels_last",
                     "train.compile", "train.health", "train.on_failure", "eval.patience",
                     "data.loading", "data.max_memory", "data.cache_dir"}


def validate_experiment(cfg: Config) -> Config:
    """The method's and the metrics' checks on a config the core checks have passed."""
    if cfg.method not in METHODS:
        raise ConfigError(f"method: {cfg.method!r} is not a known method; choose one of: {', '.join(sorted(METHODS))}")
    get_loss(cfg.objective.loss)  # a name of the loss table, whichever method (the adversarial ones check more)
    if cfg.eval.every is not None:
        known = registry.metrics()
        bad = [m for m in cfg.eval.metrics if m not in known]
        if bad or not cfg.eval.metrics:
            raise ConfigError(f"eval.metrics: {bad or 'empty'}; choose from: {', '.join(known)}")
        best = cfg.eval.best
        owner = registry.metric_of_row(best) if best is not None else None
        if best is not None and (owner is None or owner.name not in cfg.eval.metrics):
            allowed = [r for m in cfg.eval.metrics for r in (m, *known[m].rows)]
            raise ConfigError(f"eval.best={best} is not computed by eval.metrics {cfg.eval.metrics}; "
                              f"choose from: {', '.join(dict.fromkeys(allowed))}")
    METHODS[cfg.method].validate(cfg)
    return cfg


def load_experiment(recipe: Optional[str] = None, sets: Optional[list[str]] = None,
                    flags: Optional[dict[str, Any]] = None) -> Config:
    """Defaults <- recipe <- ``flags`` (dotted config keys, from the training flags) <- ``--set`` overrides,
    checked by the config, the method and the metric registry."""
    return validate_experiment(build_config(recipe, sets, flags))


def default_recipe(flags: Optional[dict[str, Any]] = None, sets: Optional[list[str]] = None,
                   probe: Optional[Callable[[Config], float]] = None) -> tuple[str, str]:
    """The recipe a training run without one uses, and why: the built-in data (no source, digits, the 2-D
    sets) train the classic ``DEFAULT_RECIPE``; a user's own images the recommended recipe for their size and
    time budget (``RECIPE_LADDER``), from the flags (``data.source``, ``data.image_size``, ``train.minutes``) or
    ``--set`` overrides, unless ``--set method=...`` asks for another method than the GAN those recipes are made
    for.

    The ladder's rungs are minutes of the core its races ran on. With ``probe`` (``ganlab.methods.speed.
    step_seconds``: the seconds of one training step of a config here), a budget at a size with more than one
    rung is first converted to those minutes: M minutes here, where the first rung's step takes t seconds against
    ``LADDER_STEP_S`` there, train as much as M x LADDER_STEP_S / t minutes there."""
    given = dict(flags or {})
    for s in sets or []:
        key, value = parse_override(s)
        if key in ("data.source", "data.image_size", "train.minutes", "method"):
            given[key] = value
    source = given.get("data.source")
    if source is None or str(source) in ("digits", *POINT_SETS):
        return DEFAULT_RECIPE, f"the default run on {source or DataConfig.source}"
    size = given.get("data.image_size", DataConfig.image_size)
    minutes = given.get("train.minutes")
    try:
        size = int(size)
        minutes = None if minutes is None else float(minutes)
        recipe, start, upto = ladder_rung(size, minutes)
    except (KeyError, TypeError, ValueError):  # a size the config refuses: let it say so, with the default recipe
        return DEFAULT_RECIPE, "the default"
    tuned_for = read_yaml(recipe_path(recipe)).get("method", Config().method)
    if given.get("method", tuned_for) != tuned_for:  # the recommended recipes are tuned for (and set tricks of) it
        return DEFAULT_RECIPE, f"method={given['method']}: the recommended recipes are for method {tuned_for}"
    here = speed = ""
    if minutes is not None and probe is not None and len(RECIPE_LADDER[size]) > 1 and size in LADDER_STEP_S:
        first = RECIPE_LADDER[size][0][1]
        # the first rung as the ladder raced it, on the run's device, precision and layout: the machine is
        # measured, not the user's other settings (a larger batch would read as a slower machine)
        machine = ("train.device", "train.precision", "train.channels_last")
        try:
            step_s = probe(load_experiment(first, [x for x in sets or [] if parse_override(x)[0] in machine],
                                           {"data.source": source, "data.image_size": size,
                                            **{k: v for k, v in (flags or {}).items() if k in machine}}))
        except (ConfigError, RuntimeError):  # settings the first rung refuses (the recipe chosen will say so), or
            step_s = None                     # a step that failed (out of memory on a busy GPU): minutes as given
        if step_s and step_s > 0:
            there = minutes * LADDER_STEP_S[size] / step_s
            recipe, start, upto = ladder_rung(size, there)
            here = f", which trains about as much as {there:.0f} minutes of the core the ladder was measured on"
            speed = f"{first}'s step took {step_s:.3g} s here, {LADDER_STEP_S[size]:.3g} s there; "
    if minutes is None:
        budget = ""
    elif upto is None and start > 0:
        budget = f" and a budget of {minutes:g} minutes{here} ({speed}the ladder's rung from {start:g} minutes on)"
    elif upto is None:
        budget = f" (one recipe at every budget at this size: {minutes:g} minutes)"
    else:
        budget = f" and a budget of {minutes:g} minutes{here} ({speed}the ladder's rung under {upto:g} minutes)"
    return recipe, (f"recommended for your own images at {size}x{size}{budget}, docs/benchmarks.md#quality; "
                    f"--recipe {DEFAULT_RECIPE} for the classic DCGAN")


def experiment_from_dict(d: dict) -> Config:
    """The config of a run (its config.yaml or checkpoint), checked like ``load_experiment``."""
    return validate_experiment(config_from_dict(d))


def check_resume_config(old: dict, new: dict) -> None:
    """Refuse to continue a run (config ``old``) with a config that changes what it trains."""
    try:  # read like the run itself is: defaults of keys added since, old names (train.amp) translated
        old = config_from_dict(old).to_dict()
    except ConfigError:
        pass
    a, b = flatten(old), flatten(new)
    if b.get("train.precision") == "auto":  # auto was resolved when the run began; it asks for that choice
        b["train.precision"] = a.get("train.precision")
    diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in RESUMABLE_CHANGES
            and k != "recipe"]
    if diff:
        shown = "; ".join(f"{k}: run has {a.get(k)!r}, asked {b.get(k)!r}" for k in diff[:5])
        raise RunError(f"cannot resume with a different config ({shown}). Only these may change on resume: "
                       f"{', '.join(sorted(RESUMABLE_CHANGES))}")


def resume_experiment(run_config: dict, flags: Optional[dict] = None, sets: Optional[list[str]] = None) -> Config:
    """The config of an existing run (``run_config``, its config.yaml), with the changes allowed on resume."""
    cfg = config_from_dict(run_config)
    for k, v in (flags or {}).items():
        set_value(cfg, k, v)
    for text in sets or []:
        k, v = parse_override(text)
        set_value(cfg, k, v)
    return validate_experiment(validate(cfg))
