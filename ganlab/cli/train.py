"""``ganlab train`` and ``ganlab recipes``, and the training flags ``ganlab sweep`` shares."""
from __future__ import annotations

import argparse
import os

from ganlab.config import DEFAULT_RECIPE, RECOMMENDED_RECIPES, TRAIN_FLAGS, budget_epochs
from ganlab.errors import ConfigError


def add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", "-r", help=f"a recipe name (see 'ganlab recipes') or YAML path (default: "
                                          f"{DEFAULT_RECIPE} on the built-in data; on your own images the "
                                          f"recommended recipe for the image size: {', '.join(sorted(set(RECOMMENDED_RECIPES.values())))})")
    p.add_argument("--data", help="images: a folder, class folders, a CelebA or MNIST folder, or digits/ring8/grid25")
    p.add_argument("--format", help="auto, digits, folder, csv, celeba, mnist, ring8, grid25 (default: auto)")
    p.add_argument("--labels", help="CSV of per-image tags: a 'file' column and one column per attribute")
    p.add_argument("--image-size", type=int, help="16, 32, 64 or 128")
    p.add_argument("--channels", type=int, help="1 (grey) or 3 (RGB)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epochs", type=int, help="total number of epochs (with --resume: the new total)")
    p.add_argument("--steps", type=int, help="stop after this many generator steps in total")
    p.add_argument("--minutes", type=float, help="train for this many minutes (a time budget: the learning-rate decay "
                                                 "and the grids are planned over it; without --epochs the epochs do "
                                                 "not limit the run; with --resume: the new total)")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set model.upsample=bilinear (repeatable)")


def flag_values(args) -> dict:
    """The training flags given on the command line, by the config key each sets."""
    return {key: getattr(args, flag) for flag, key in TRAIN_FLAGS.items() if getattr(args, flag, None) is not None}


def cmd_train(args) -> int:
    from ganlab.experiment import default_recipe, load_experiment
    from ganlab.runs.folder import RunDir
    from ganlab.runs.prepare import resume_config
    from ganlab.train import train

    values = flag_values(args)
    if args.resume:
        if args.recipe or args.out:
            raise ConfigError("--resume continues a run with its own recipe and folder; drop --recipe/--out")
        allowed = {"train.epochs", "train.steps", "train.minutes", "train.device"}
        bad = sorted(set(values) - allowed)
        if bad:
            raise ConfigError(f"--resume takes only --epochs, --steps, --minutes and --device; the run's config "
                              f"fixes {bad}")
        try:
            cfg = resume_config(RunDir(args.resume), values, args.set)
        except ConfigError as e:  # a config.yaml of another tool, an override that does not fit: name the run
            raise ConfigError(f"--resume {args.resume}: {e}") from None
        train(cfg, resume=args.resume)
        return 0
    recipe = args.recipe
    values = budget_epochs(values, args.set)  # --minutes alone: the budget decides, not the recipe's epochs
    from ganlab.data.peek import choose_image_size
    values = choose_image_size(values, args.set, log=lambda m: print(m, flush=True))  # your folder: from its images
    cfg = None
    if recipe is None:
        recipe, why = default_recipe(values, args.set, probe=ladder_probe())
        print(f"recipe: {recipe} ({why})", flush=True)
        from ganlab.data.peek import small_set_augmentation
        extra, said = small_set_augmentation(values, args.set)
        if extra:
            try:
                cfg = load_experiment(recipe, args.set + extra, values)
                print(said, flush=True)
            except ConfigError:  # a method that refuses ADA (no D, say): train it as asked
                cfg = None
    cfg = cfg or load_experiment(recipe, args.set, values)
    train(cfg, out=args.out)
    return 0


def ladder_probe():
    """The step timer ``default_recipe`` reads a budget with (this machine's speed against the ladder's core), or
    None under torchrun, where each process would time its own steps and might choose another rung."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return None
    from ganlab.methods.speed import step_seconds
    return lambda cfg: step_seconds(cfg, cfg.train.device)


def cmd_recipes(args) -> int:
    from ganlab.config import list_recipes
    recipes = list_recipes()
    width = max(map(len, recipes), default=0)
    for name, comment in recipes.items():
        print(f"{name:<{width}}  {comment}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train a model (default: DCGAN on the built-in digits)")
    add_train_flags(p)
    p.add_argument("--out", help="the run folder to create (default runs/<recipe>-<timestamp>)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its latest checkpoint; --epochs is the total")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("recipes", help="list the built-in recipes")
    p.set_defaults(func=cmd_recipes)
